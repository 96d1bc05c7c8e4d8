// `headcount bench`: dense against pruned forward passes, on real checkpoints.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "app/config.h"
#include "engine/profiler.h"
#include "models/allatt_lm.h"
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
      // The paired speedup: the median of 3 pairs with the interval around it
      // (under 6 pairs, the whole range: coverage 1 - 2/2^3). Dense's own
      // row is 1 exactly, over all its passes.
      const double lo = r["speedup_lo"], mid = r["speedup"], hi = r["speedup_hi"];
      CHECK(lo <= mid);
      CHECK(mid <= hi);
      CHECK(r["pairs"] == 3);
      CHECK(r["above_ideal"] == (lo > r["ideal"].get<double>()));
      if (is_dense) {
        CHECK((lo == 1.0 && mid == 1.0 && hi == 1.0));
        CHECK(!r.contains("explain"));
        continue;
      }
      CHECK(lo > 0);
      CHECK(r["interval_coverage"].get<double>() == doctest::Approx(0.75));
      // The profiler's account covers the whole pass: its parts' FLOPs add
      // up to each model's count, and the attention parts lose FLOPs while
      // the output layer keeps all of its own.
      const nlohmann::json& e = r["explain"];
      double dense_flops = 0, pruned_flops = 0;
      std::map<std::string, nlohmann::json> parts;
      for (const nlohmann::json& p : e["parts"]) {
        dense_flops += p["dense_flops"].get<double>();
        pruned_flops += p["pruned_flops"].get<double>();
        CHECK(p["dense_ms"].get<double>() >= 0);
        parts[p["part"]] = p;
      }
      CHECK(dense_flops == doctest::Approx(rows[i - 1]["flops"].get<double>()));
      CHECK(pruned_flops == doctest::Approx(r["flops"].get<double>()));
      CHECK(e["flops_removed"].get<double>() == doctest::Approx(1 - pruned_flops / dense_flops));
      // The fused attention (the default path) is one op, so one part,
      // "attention": measured as a whole, not shared out by estimate.
      REQUIRE(parts.count("attention"));
      REQUIRE(parts.count("output_layer"));
      CHECK(!parts.count("content"));
      CHECK(parts["attention"]["shrinks"] == true);
      CHECK(parts["output_layer"]["shrinks"] == false);
      CHECK(parts["output_layer"]["pruned_flops"] == parts["output_layer"]["dense_flops"]);
    }
  }
  // The table form names its columns.
  REQUIRE(test::run_headcount("bench --from " + pruned + "/last.safetensors --batches 2 --reps 2", out) == 0);
  CHECK(out.find("ms/seg") != std::string::npos);
  CHECK(out.find("achieved") != std::string::npos);
  CHECK(out.find("95% interval") != std::string::npos);

  // --unfused: the op-by-op path against the fused op, the same model.
  REQUIRE_MESSAGE(test::run_headcount("bench --config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json --set corpus=" +
                                          corpus + " --unfused --batches 2 --reps 3 --json --threads 1",
                                      out) == 0,
                  out);
  const nlohmann::json paths = nlohmann::json::parse(out.substr(out.find('[')));
  REQUIRE(paths.size() == 2);
  CHECK(paths[0]["model"] == "unfused");
  CHECK(paths[1]["model"] == "fused");
  CHECK(paths[1]["heads"] == paths[0]["heads"]);
  // The fused op computes only each row's visible columns, the op-by-op
  // path all S+N and masks the rest: fewer FLOPs, an ideal above 1.
  CHECK(paths[1]["flops"].get<double>() < paths[0]["flops"].get<double>());
  CHECK(paths[1]["ideal"].get<double>() == doctest::Approx(paths[0]["flops"].get<double>() / paths[1]["flops"].get<double>()));
  CHECK(paths[1]["speedup"].get<double>() > 0);
  std::map<std::string, nlohmann::json> path_parts;
  for (const nlohmann::json& p : paths[1]["explain"]["parts"]) path_parts[p["part"]] = p;
  CHECK(path_parts.count("attention"));  // the fused model's one op (its time in pruned_ms)
  CHECK(path_parts.count("content"));    // the unfused model's ops
  CHECK(test::run_headcount("bench --from " + pruned + "/last.safetensors --unfused", out) == 2);
  CHECK(out.find("--unfused goes with --config") != std::string::npos);

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

TEST_CASE("bench_train_step: --infer times the evaluation forward, the default the training step") {
  // The FLOPs each mode reports are those the profiler records for one
  // evaluation forward pass, and for one training forward + backward, of the
  // same model here (they depend on the shapes alone).
  const std::string config = HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json";
  AllAttConfig c = load_config(config, {}).model;
  c.vocab = 86;  // bench_train_step's default
  AllAttLM model(c, 1);
  const int64_t B = 4, T = c.seg_len;  // the config's batch
  std::vector<int64_t> ids(B * T, 1);
  const Tensor x = Tensor::from_ids({B, T}, ids);
  RngStream rng{1, 0};
  auto recorded_flops = [&](bool training) {
    Memory mem = model.initial_memory(B);
    profiler::clear();
    profiler::enable(true);
    if (training) {
      model.loss(x, x, mem, true, rng).backward();
    } else {
      NoGrad no_grad;
      model.logits(x, mem, false, rng);
    }
    profiler::enable(false);
    double flops = 0;
    for (const profiler::Event& e : profiler::events()) flops += e.cost.flops;
    profiler::clear();
    return flops;
  };
  for (bool infer : {true, false}) {
    CAPTURE(infer);
    std::string out;
    REQUIRE_MESSAGE(test::run_command(std::string(BENCH_TRAIN_STEP_BINARY) + " " + config + " --steps 2 --json" +
                                          (infer ? " --infer" : "") + " 2>&1",
                                      out) == 0,
                    out);
    const nlohmann::json r = nlohmann::json::parse(out.substr(out.find('{')));
    CHECK(r["mode"] == (infer ? "infer" : "train"));
    CHECK(r["batch"] == B);
    CHECK(r["ms_per_step"].get<double>() > 0);
    CHECK(r["flops_per_step"].get<double>() == doctest::Approx(recorded_flops(!infer)).epsilon(1e-12));
  }
  CHECK(recorded_flops(true) > 2.5 * recorded_flops(false));  // backward: about twice the forward
}
