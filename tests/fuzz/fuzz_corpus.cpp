// libFuzzer harness for a user's corpus directory and both tokenizers. The
// input's first byte picks the layout (train/valid/test.txt or WikiText's
// wiki.*.tokens), the tokenizer and min_count; the rest, split at 0xff
// bytes, is the three files. Reading must succeed or refuse with
// std::invalid_argument; the tokenizers must round-trip what they built:
//   char: decode(encode(train)) == train (every byte of train is in the vocabulary)
//   word: encode(decode(ids)) == ids for ids = encode(train)
// and the batcher must accept or refuse the tokens cleanly.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "data/batcher.h"
#include "data/corpus.h"
#include "data/tokenizer.h"

using namespace hc;
namespace fs = std::filesystem;

namespace {
const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string pattern = (fs::temp_directory_path() / "headcount-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) std::abort();
    return pattern;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string dir = scratch_dir();
  for (const auto& e : fs::directory_iterator(dir)) fs::remove(e.path());
  const bool wikitext = mode & 1;
  size_t at = 0;
  for (const char* split : {"train", "valid", "test"}) {
    const size_t end = std::min(rest.find('\xff', at), rest.size());
    const std::string name = wikitext ? "wiki." + std::string(split) + ".tokens" : std::string(split) + ".txt";
    std::ofstream(dir + "/" + name, std::ios::binary) << rest.substr(std::min(at, rest.size()), end - std::min(at, rest.size()));
    at = end + 1;
  }
  Corpus corpus;
  try {
    corpus = read_corpus(dir);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  const bool words = mode & 2;
  const int64_t min_count = 1 + ((mode >> 2) & 3);
  Tokenizer t;
  try {
    t = Tokenizer::build(words ? Tokenizer::Kind::Word : Tokenizer::Kind::Char, corpus.train, min_count);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  const std::vector<int64_t> ids = t.encode(corpus.train);
  if (!words && t.decode(ids) != corpus.train) __builtin_trap();
  if (words && t.encode(t.decode(ids)) != ids) __builtin_trap();
  for (int64_t id : t.encode(corpus.valid))
    if (id < 0 || id >= t.size()) __builtin_trap();
  try {
    Batcher b(ids, 2, 3, /*roll=*/mode & 16, 7);
    const Batcher::Batch batch = b.next();
    if (batch.inputs.shape() != Shape{2, 3}) __builtin_trap();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
