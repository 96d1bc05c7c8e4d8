// The data pipeline (data/): tokenizers, vocabulary files, corpora, batcher.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "data/batcher.h"
#include "data/corpus.h"
#include "data/tokenizer.h"
#include "tests/test_util.h"

using namespace hc;

TEST_CASE("char tokenizer: bytes seen in training, <unk> for the rest, round trip") {
  const std::string train = "hello world\nabc\n";
  Tokenizer t = Tokenizer::build(Tokenizer::Kind::Char, train);
  CHECK(t.size() == 1 + 12);  // <unk> + {\n, space, a, b, c, d, e, h, l, o, r, w}
  const std::vector<int64_t> ids = t.encode(train);
  CHECK(ids.size() == train.size());
  CHECK(t.decode(ids) == train);
  CHECK(t.encode("z")[0] == t.unk_id());
  CHECK(t.token(1) == "\n");  // ids follow byte order
}

TEST_CASE("word tokenizer: <eos> per line, min_count, frequency order") {
  const std::string train = "the cat sat\nthe dog sat\nthe end\n";
  Tokenizer t = Tokenizer::build(Tokenizer::Kind::Word, train, 2);
  // counts: the 3, <eos> 3, sat 2; cat, dog, end once -> <unk>
  REQUIRE(t.size() == 4);
  CHECK(t.token(0) == "<unk>");
  CHECK(t.token(1) == "<eos>");  // ties (3 and 3) in byte order: "<eos>" < "the"
  CHECK(t.token(2) == "the");
  CHECK(t.token(3) == "sat");
  const std::vector<int64_t> ids = t.encode("the cat sat\n");
  CHECK(ids == std::vector<int64_t>{2, 0, 3, 1});
  CHECK(t.decode(ids) == "the <unk> sat\n");
  // One line: <eos> is seen once, below min_count, and still kept, or line
  // ends would decode as <unk> (found by fuzz_corpus).
  const Tokenizer one = Tokenizer::build(Tokenizer::Kind::Word, "th", 2);
  REQUIRE(one.size() == 2);
  CHECK(one.token(1) == "<eos>");
  CHECK(one.encode(one.decode(one.encode("th"))) == one.encode("th"));
}

TEST_CASE("vocabulary files: round trip, and malformed files rejected with the line") {
  test::TempDir dir;
  for (auto kind : {Tokenizer::Kind::Char, Tokenizer::Kind::Word}) {
    Tokenizer t = Tokenizer::build(kind, "a b a\nc\n\xe2\x80\x94 x\n");
    t.save(dir.file("vocab.txt"));
    Tokenizer back = Tokenizer::load(dir.file("vocab.txt"));
    REQUIRE(back.size() == t.size());
    for (int64_t i = 0; i < t.size(); ++i) CHECK(back.token(i) == t.token(i));
  }
  auto broken = [&](const std::string& text, const std::string& words) {
    std::ofstream(dir.file("bad.txt")) << text;
    CHECK_THROWS_WITH_AS(Tokenizer::load(dir.file("bad.txt")), doctest::Contains(words.c_str()), std::invalid_argument);
  };
  broken("something else\n", "first line must be");
  broken("headcount-vocab char\n<unk>\n300\n", "line 3: expected a byte value");
  broken("headcount-vocab word\nthe\n", "first token must be <unk>");
  broken("headcount-vocab word\n<unk>\na b\n", "whitespace");
  broken("headcount-vocab word\n<unk>\nx\nx\n", "line 4: duplicate token");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.file("missing.txt")), doctest::Contains("cannot open"),
                       std::invalid_argument);
}

TEST_CASE("corpora: plain and WikiText directories, and clear errors") {
  test::TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir.file("plain"));
  for (const char* s : {"train", "valid", "test"}) std::ofstream(dir.file("plain/") + s + ".txt") << s << " text\n";
  Corpus c = read_corpus(dir.file("plain"));
  CHECK(c.train == "train text\n");
  CHECK(c.test == "test text\n");

  fs::create_directories(dir.file("wiki"));
  for (const char* s : {"train", "valid", "test"})
    std::ofstream(dir.file("wiki/wiki.") + s + ".tokens") << " = Title = \n <unk> words \n";
  CHECK(read_corpus(dir.file("wiki")).valid.find("<unk>") != std::string::npos);

  CHECK_THROWS_WITH_AS(read_corpus(dir.file("nowhere")), doctest::Contains("is not a directory"),
                       std::invalid_argument);
  std::ofstream(dir.file("plain/valid.txt"), std::ios::trunc);
  CHECK_THROWS_WITH_AS(read_corpus(dir.file("plain")), doctest::Contains("valid.txt is empty"),
                       std::invalid_argument);
  fs::remove(dir.file("plain/test.txt"));
  std::ofstream(dir.file("plain/valid.txt")) << "x";
  CHECK_THROWS_WITH_AS(read_corpus(dir.file("plain")), doctest::Contains("cannot read"), std::invalid_argument);
}

TEST_CASE("batcher: contiguous streams, targets one ahead, epochs, roll, resume") {
  std::vector<int64_t> tokens(103);
  for (int64_t i = 0; i < 103; ++i) tokens[i] = i;
  // B=4 streams of 25 tokens (3 dropped), T=6: (25-1)/6 = 4 steps per epoch.
  Batcher b(tokens, 4, 6);
  CHECK(b.steps_per_epoch() == 4);
  Batcher::Batch first = b.next(), second = b.next();
  const auto x1 = first.inputs.to_ids(), y1 = first.targets.to_ids(), x2 = second.inputs.to_ids();
  for (int s = 0; s < 4; ++s)
    for (int t = 0; t < 6; ++t) {
      CHECK(x1[s * 6 + t] == s * 25 + t);          // stream s starts at s*25
      CHECK(y1[s * 6 + t] == x1[s * 6 + t] + 1);   // targets: the next token
      CHECK(x2[s * 6 + t] == s * 25 + 6 + t);      // step 2 continues step 1
    }
  b.next();
  b.next();
  CHECK(b.position().epoch == 1);
  CHECK(b.position().step == 0);

  // Rolled: reproducible for the same seed, different across epochs, and
  // each stream is still contiguous (modulo its length).
  Batcher r1(tokens, 4, 6, true, 9), r2(tokens, 4, 6, true, 9);
  std::vector<std::vector<int64_t>> epoch0, epoch1;
  for (int i = 0; i < 4; ++i) epoch0.push_back(r1.next().inputs.to_ids());
  for (int i = 0; i < 4; ++i) epoch1.push_back(r1.next().inputs.to_ids());
  CHECK(r2.next().inputs.to_ids() == epoch0[0]);
  CHECK(epoch0[0] != epoch1[0]);
  for (int s = 0; s < 4; ++s) CHECK((epoch0[1][s * 6] - epoch0[0][s * 6 + 5] + 25) % 25 == 1);

  // Resume: seek to a saved position, the same batches follow.
  Batcher c(tokens, 4, 6, true, 9);
  c.seek({1, 0});
  CHECK(c.next().inputs.to_ids() == epoch1[0]);
  CHECK(c.next().inputs.to_ids() == epoch1[1]);
  CHECK_THROWS_WITH_AS(c.seek({0, 4}), doctest::Contains("outside this data"), std::invalid_argument);

  CHECK_THROWS_WITH_AS(Batcher(std::vector<int64_t>(20, 1), 4, 6), doctest::Contains("fewer than one batch"),
                       std::invalid_argument);
}
