// Tokenizers: text -> token ids, and back.
//
// char: byte level. The vocabulary is "<unk>" (id 0) followed by every byte
//   value that occurs in the training text, in increasing order; a byte never
//   seen in training (rare: an odd symbol in the test set) becomes <unk>.
//   Bytes, not Unicode code points: any file is valid input, and an em dash
//   is three tokens. Evaluation therefore reports bits per byte, which for
//   the mostly-ASCII corpora here is what "bits per character" means.
// word: whitespace-separated words, "<eos>" after every line (as in
//   WikiText and Transformer-XL), words seen fewer than min_count times in
//   training become "<unk>". The vocabulary is sorted by frequency, most
//   frequent first (ties in byte order), so the ids suit an adaptive softmax.
//
// A vocabulary file is one header line "headcount-vocab char" or
// "headcount-vocab word", then one token per line in id order (for char, the
// byte value in decimal).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace hc {

class Tokenizer {
 public:
  enum class Kind { Char, Word };

  // Build the vocabulary from training text.
  static Tokenizer build(Kind kind, const std::string& train_text, int64_t min_count = 1);
  static Tokenizer load(const std::string& path);  // throws naming the file and line
  // 16.7 million tokens: far beyond any corpus here (WikiText-103 has
  // 267,735), and a (V,C) embedding of that size is already gigabytes. A
  // larger vocabulary is refused before it is allocated.
  static constexpr int64_t kMaxVocab = int64_t{1} << 24;
  // The same for a vocabulary file's text; `path` only names it in errors.
  // (max_tokens is lowered only by the test of the limit.)
  static Tokenizer parse(const std::string& text, const std::string& path, int64_t max_tokens = kMaxVocab);
  std::string text() const;  // what save() writes
  void save(const std::string& path) const;        // atomic write

  std::vector<int64_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int64_t>& ids) const;

  Kind kind() const { return kind_; }
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t unk_id() const { return 0; }
  const std::string& token(int64_t id) const { return tokens_.at(id); }

 private:
  void index();  // rebuild lookup from tokens_
  Kind kind_ = Kind::Char;
  std::vector<std::string> tokens_;  // id -> token (char: the byte as a 1-char string)
  std::unordered_map<std::string, int64_t> ids_;
};

Tokenizer::Kind tokenizer_kind(const std::string& name);  // "char" | "word"

}  // namespace hc
