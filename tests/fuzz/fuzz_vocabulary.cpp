// libFuzzer harness for vocabulary files (vocab.txt beside a checkpoint):
// any text is refused with std::invalid_argument or read; what is read
// writes back to text that reads to the same tokens, and decodes/encodes
// its own ids consistently.
#include <stdexcept>

#include "data/tokenizer.h"

using namespace hc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Tokenizer t;
  try {
    t = Tokenizer::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz-vocab.txt");
  } catch (const std::invalid_argument&) {
    return 0;
  }
  const Tokenizer back = Tokenizer::parse(t.text(), "round-trip");
  if (back.size() != t.size() || back.kind() != t.kind()) __builtin_trap();
  std::vector<int64_t> ids;
  for (int64_t id = 0; id < t.size(); ++id) {
    if (back.token(id) != t.token(id)) __builtin_trap();
    ids.push_back(id);
  }
  t.encode(t.decode(ids));  // any ids of the vocabulary decode, and the text encodes
  return 0;
}
