// `headcount bench`: dense against pruned forward passes, on real checkpoints.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace hc;

TEST_CASE("bench: a gated checkpoint against its compaction, and against a compacted file; bad input") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir), dense = dir.file("dense"), pruned = dir.file("pruned");
  std::string out;
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dense, 8), out) == 0, out);
  REQUIRE_MESSAGE(test::run_headcount("prune --from " + dense + "/last.safetensors " + test::tiny_training(corpus, pruned, 8) +
                                          " --set target_heads=2",
                                      out) == 0,
                  out);
  REQUIRE_MESSAGE(test::run_headcount("compact --from " + pruned + "/last.safetensors --out " + pruned + "/small.safetensors", out) == 0, out);

  // Both ways of naming the pruned model time the same two models.
  for (const std::string& models : {pruned + "/last.safetensors", dense + "/last.safetensors --pruned " + pruned + "/small.safetensors"}) {
    CAPTURE(models);
    REQUIRE_MESSAGE(test::run_headcount("bench --from " + models + " --batches 1,3 --reps 3 --json --threads 1", out) == 0, out);
    const nlohmann::json rows = nlohmann::json::parse(out.substr(out.find('[')));
    REQUIRE(rows.size() == 4);  // (dense, pruned) x batches 1 and 3
    for (size_t i = 0; i < rows.size(); ++i) {
      const nlohmann::json& r = rows[i];
      const bool is_dense = i % 2 == 0;
      CHECK(r["model"] == (is_dense ? "dense" : "pruned"));
      CHECK(r["batch"] == (i < 2 ? 1 : 3));
      CHECK(r["heads"] == (is_dense ? 4 : 2));
      CHECK(r["ms"].get<double>() > 0);
      CHECK(r["tok_s"].get<double>() == doctest::Approx(r["batch"].get<double>() * 16 / (r["ms"].get<double>() * 1e-3)));
      // Half the heads: the ideal speedup is above 1 and below 2 (the
      // embedding and output layer do not shrink); dense against itself is 1.
      if (is_dense) CHECK(r["ideal"].get<double>() == 1.0);
      else CHECK((r["ideal"].get<double>() > 1.2 && r["ideal"].get<double>() < 2.0));
      if (!is_dense) CHECK(r["flops"].get<double>() < rows[i - 1]["flops"].get<double>());
    }
  }
  // The table form names its columns.
  REQUIRE(test::run_headcount("bench --from " + pruned + "/last.safetensors --batches 2 --reps 2", out) == 0);
  CHECK(out.find("ms/seg") != std::string::npos);
  CHECK(out.find("achieved") != std::string::npos);

  // Bad input, each with a message.
  CHECK(test::run_headcount("bench --from " + dir.file("missing.safetensors"), out) != 0);
  CHECK(out.find("missing") != std::string::npos);
  CHECK(test::run_headcount("bench --from " + pruned + "/last.safetensors --batches 0", out) == 2);
  CHECK(out.find("--batches") != std::string::npos);
  CHECK(test::run_headcount("bench --from " + pruned + "/last.safetensors --config x.json", out) == 2);
  CHECK(out.find("one of them") != std::string::npos);
  const std::string wide = dir.file("wide");
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, wide, 2) + " --set d_model=24", out) == 0);
  CHECK(test::run_headcount("bench --from " + dense + "/last.safetensors --pruned " + wide + "/last.safetensors", out) == 2);
  CHECK(out.find("is not a pruned version") != std::string::npos);
}
