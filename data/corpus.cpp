#include "data/corpus.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hc {

namespace fs = std::filesystem;

std::string data_root() {
  if (const char* env = std::getenv("HEADCOUNT_DATA")) return env;
  return HEADCOUNT_SOURCE_DIR "/data";
}

namespace {
std::string read_split(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::invalid_argument("corpus: cannot read " + file.string());
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().empty()) throw std::invalid_argument("corpus: " + file.string() + " is empty");
  return s.str();
}
}  // namespace

Corpus read_corpus(const std::string& name_or_dir) {
  const bool named = name_or_dir == "moby" || name_or_dir == "sotu";
  const fs::path dir = named ? fs::path(data_root()) / "corpora" / name_or_dir : fs::path(name_or_dir);
  if (!fs::is_directory(dir))
    throw std::invalid_argument("corpus: " + dir.string() + " is not a directory" +
                                (named ? " (run `make data` to fetch it)" : ""));
  Corpus c;
  c.dir = dir.string();
  const bool wikitext = fs::exists(dir / "wiki.train.tokens");
  auto file = [&](const char* split) {
    return wikitext ? dir / ("wiki." + std::string(split) + ".tokens") : dir / (std::string(split) + ".txt");
  };
  c.train = read_split(file("train"));
  c.valid = read_split(file("valid"));
  c.test = read_split(file("test"));
  return c;
}

}  // namespace hc
