// Corpora: the raw text of a train/valid/test split.
//
// A corpus is named ("moby", "sotu": fetched by `make data` into
// data/corpora/NAME/) or given as a directory that holds either
// train.txt/valid.txt/test.txt (your own text) or WikiText's
// wiki.train.tokens/wiki.valid.tokens/wiki.test.tokens (already tokenised;
// read them with the word tokenizer, their <unk> is kept as a word).
#pragma once

#include <string>

namespace hc {

struct Corpus {
  std::string dir;
  std::string train, valid, test;
};

// Throws std::invalid_argument naming the missing or empty file (and, for a
// named corpus that is not there yet, saying to run `make data`).
Corpus read_corpus(const std::string& name_or_dir);

// Where the named corpora live: $HEADCOUNT_DATA if set, else the source
// tree's data/ folder.
std::string data_root();

}  // namespace hc
