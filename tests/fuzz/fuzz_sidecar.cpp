// libFuzzer harness for a checkpoint's JSON sidecar (NAME.json), which a
// shared checkpoint hands us: any text is either refused with
// std::invalid_argument or read into a config that validates.
#include <stdexcept>

#include "app/checkpoint.h"

using namespace hc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const Checkpoint c = parse_sidecar(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    c.config.validate();  // parse_sidecar promised a valid config
    if (c.step < 0 || c.data_step < 0) __builtin_trap();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
