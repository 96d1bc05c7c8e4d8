// libFuzzer harness for the safetensors reader. Any bytes either throw
// std::runtime_error (the reader's only way to refuse) or load; what loads
// must survive our writer and the reader again unchanged: same names,
// dtypes, shapes, bytes and metadata. Anything else traps.
#include <cstring>
#include <stdexcept>

#include "engine/safetensors.h"

using namespace hc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  safetensors::File file;
  try {
    file = safetensors::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz-input");
  } catch (const std::runtime_error&) {
    return 0;
  }
  const safetensors::File back =
      safetensors::parse(safetensors::serialize(file.tensors, file.metadata, "fuzz-output"), "fuzz-output");
  if (back.metadata != file.metadata || back.tensors.size() != file.tensors.size()) __builtin_trap();
  for (const auto& [name, t] : file.tensors) {
    const auto it = back.tensors.find(name);
    if (it == back.tensors.end()) __builtin_trap();
    const Tensor& u = it->second;
    if (u.dtype() != t.dtype() || u.shape() != t.shape() || u.nbytes() != t.nbytes()) __builtin_trap();
    if (t.nbytes() > 0 && std::memcmp(u.raw(), t.raw(), t.nbytes()) != 0) __builtin_trap();
  }
  return 0;
}
