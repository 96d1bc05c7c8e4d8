#include "data/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "engine/safetensors.h"

namespace hc {

namespace {
const char* kHeader[] = {"headcount-vocab char", "headcount-vocab word"};

// Calls f(word) for each whitespace-separated word and f("<eos>") at each line end.
template <typename F>
void for_each_word(const std::string& text, F&& f) {
  std::istringstream lines(text);
  std::string line, word;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    while (words >> word) f(word);
    f(std::string("<eos>"));
  }
}
}  // namespace

Tokenizer::Kind tokenizer_kind(const std::string& name) {
  if (name == "char") return Tokenizer::Kind::Char;
  if (name == "word") return Tokenizer::Kind::Word;
  throw std::invalid_argument("tokenizer must be char or word, got '" + name + "'");
}

void Tokenizer::index() {
  ids_.clear();
  for (size_t i = 0; i < tokens_.size(); ++i) ids_[tokens_[i]] = static_cast<int64_t>(i);
}

Tokenizer Tokenizer::build(Kind kind, const std::string& train, int64_t min_count) {
  Tokenizer t;
  t.kind_ = kind;
  t.tokens_.push_back("<unk>");
  if (kind == Kind::Char) {
    bool seen[256] = {};
    for (unsigned char c : train) seen[c] = true;
    for (int b = 0; b < 256; ++b)
      if (seen[b]) t.tokens_.push_back(std::string(1, static_cast<char>(b)));
  } else {
    std::map<std::string, int64_t> counts;
    for_each_word(train, [&](const std::string& w) { ++counts[w]; });
    std::vector<std::pair<std::string, int64_t>> kept;
    for (const auto& [w, n] : counts)
      // <eos> always stays: mapped to <unk>, line ends would not survive decoding.
      if ((n >= min_count || w == "<eos>") && w != "<unk>") kept.push_back({w, n});
    // Most frequent first; the map already ordered ties by bytes, and the sort is stable.
    std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (static_cast<int64_t>(kept.size()) >= kMaxVocab)
      throw std::invalid_argument("word vocabulary: " + std::to_string(kept.size() + 1) + " words exceed the limit of " +
                                  std::to_string(kMaxVocab) + "; raise min_count");
    for (const auto& [w, n] : kept) t.tokens_.push_back(w);
  }
  t.index();
  return t;
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  auto id_of = [&](const std::string& tok) {
    auto it = ids_.find(tok);
    return it == ids_.end() ? unk_id() : it->second;
  };
  if (kind_ == Kind::Char) {
    ids.reserve(text.size());
    for (char c : text) ids.push_back(id_of(std::string(1, c)));
  } else {
    for_each_word(text, [&](const std::string& w) { ids.push_back(id_of(w)); });
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    const std::string& tok = tokens_.at(static_cast<size_t>(id));
    if (kind_ == Kind::Char) {
      out += id == unk_id() ? std::string("?") : tok;
    } else if (tok == "<eos>") {
      out += '\n';
    } else {
      if (!out.empty() && out.back() != '\n') out += ' ';
      out += tok;
    }
  }
  return out;
}

void Tokenizer::save(const std::string& path) const { safetensors::write_file_atomically(path, text()); }

std::string Tokenizer::text() const {
  std::ostringstream out;
  out << kHeader[kind_ == Kind::Char ? 0 : 1] << '\n';
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (kind_ == Kind::Char && i > 0) out << static_cast<int>(static_cast<unsigned char>(tokens_[i][0])) << '\n';
    else out << tokens_[i] << '\n';
  }
  return out.str();
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("vocabulary " + path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Tokenizer Tokenizer::parse(const std::string& text, const std::string& path, int64_t max_tokens) {
  std::istringstream in(text);
  std::string header;
  std::getline(in, header);
  Tokenizer t;
  if (header == kHeader[0]) t.kind_ = Kind::Char;
  else if (header == kHeader[1]) t.kind_ = Kind::Word;
  else throw std::invalid_argument("vocabulary " + path + ": first line must be '" + kHeader[0] + "' or '" + kHeader[1] + "'");
  std::string line;
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = "vocabulary " + path + " line " + std::to_string(line_no) + ": ";
    if (t.size() >= max_tokens)
      throw std::invalid_argument(where + "more than " + std::to_string(max_tokens) + " tokens, the limit");
    if (t.tokens_.empty()) {
      if (line != "<unk>") throw std::invalid_argument(where + "the first token must be <unk>");
      t.tokens_.push_back(line);
      continue;
    }
    if (t.kind_ == Kind::Char) {
      size_t used = 0;
      int b = -1;
      try {
        b = std::stoi(line, &used);
      } catch (const std::exception&) {
      }
      if (used != line.size() || b < 0 || b > 255) throw std::invalid_argument(where + "expected a byte value 0-255, got '" + line + "'");
      t.tokens_.push_back(std::string(1, static_cast<char>(b)));
    } else {
      if (line.empty() || line.find_first_of(" \t\r") != std::string::npos)
        throw std::invalid_argument(where + "a word may not be empty or contain whitespace");
      t.tokens_.push_back(line);
    }
    if (t.ids_.count(t.tokens_.back())) throw std::invalid_argument(where + "duplicate token");
    t.ids_[t.tokens_.back()] = static_cast<int64_t>(t.tokens_.size()) - 1;
  }
  if (t.tokens_.empty()) throw std::invalid_argument("vocabulary " + path + ": no tokens");
  t.index();
  return t;
}

}  // namespace hc
