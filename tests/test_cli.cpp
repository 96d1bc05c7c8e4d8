// The headcount command line end to end, on a tiny corpus written by the
// test: exact resume, and every kind of bad input refused with exit status 2
// and a message that names the problem.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

using namespace hc;
using nlohmann::json;

namespace {

void expect_refusal(const std::string& args, const std::string& words) {
  std::string out;
  CAPTURE(args);
  CHECK(test::run_headcount(args, out) == 2);
  CAPTURE(out);
  CHECK(out.find(words) != std::string::npos);
}

}  // namespace

TEST_CASE("cli: interrupted and resumed training repeats the uninterrupted run bit for bit") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("whole")), out) == 0);
  CHECK(test::run_headcount("train " + test::tiny_training(corpus, dir.file("split")) + " --stop-at 6", out) == 130);
  CHECK(out.find("interrupted at step 6") != std::string::npos);
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("split")) + " --resume", out) == 0);
  const auto a = test::read_metrics(dir.file("whole/metrics.jsonl")), b = test::read_metrics(dir.file("split/metrics.jsonl"));
  REQUIRE(a.size() == 12);
  REQUIRE(b.size() == 12);
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i]["loss"] == b[i]["loss"]);  // exact: the same bits
    CHECK(a[i]["grad_norm"] == b[i]["grad_norm"]);
    CHECK(a[i].value("valid_loss", -1.0) == b[i].value("valid_loss", -1.0));
  }
  // Learning happened, and eval/generate read the checkpoints.
  CHECK(a.back()["loss"].get<double>() < a.front()["loss"].get<double>());
  REQUIRE(test::run_headcount("eval --from " + dir.file("whole/best.safetensors") + " --split test --json", out) == 0);
  CHECK(out.find("bits per byte") != std::string::npos);
  REQUIRE(test::run_headcount("generate --from " + dir.file("whole/last.safetensors") +
                                  " --prompt 'the whale' --tokens 20 --seed 3", out) == 0);
  CHECK(out.rfind("the whale", 0) == 0);
}

TEST_CASE("cli: bad input is refused with exit status 2 and a message naming it") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("run"), 4), out) == 0);
  const std::string ckpt = dir.file("run/last.safetensors");

  SUBCASE("config") {
    expect_refusal("train " + test::tiny_training(corpus, dir.file("x")) + " --set heads_count=3", "unknown config key 'heads_count'");
    expect_refusal("train " + test::tiny_training(corpus, dir.file("x")) + " --set layers=two", "config key 'layers': expected an integer");
    expect_refusal("train " + test::tiny_training(corpus, dir.file("x")) + " --set seg_len=60 --set mem_len=60",
                   "exceeds max_len");
    std::ofstream(dir.file("bad.json")) << "{\"layers\": 2,";
    expect_refusal("train --config " + dir.file("bad.json"), "not valid JSON");
    expect_refusal("train --config " + dir.file("none.json"), "cannot open");
    expect_refusal("train --bogus", "unknown argument '--bogus'");
    // Bytes that are not UTF-8 could not be saved in the JSON sidecar (found by fuzz_config).
    expect_refusal("train " + test::tiny_training(corpus, dir.file("x")) + " --set out_dir=$(printf '\\377')",
                   "config key 'out_dir': expected UTF-8 text");
    expect_refusal("fly", "unknown command 'fly'");
  }
  SUBCASE("corpus") {
    expect_refusal("train " + test::tiny_training(dir.file("nowhere"), dir.file("x")), "is not a directory");
    std::filesystem::create_directories(dir.file("empty"));
    for (const char* s : {"train", "valid", "test"}) std::ofstream(dir.file("empty/") + s + ".txt");
    expect_refusal("train " + test::tiny_training(dir.file("empty"), dir.file("x")), "train.txt is empty");
    std::filesystem::create_directories(dir.file("small"));
    for (const char* s : {"train", "valid", "test"}) std::ofstream(dir.file("small/") + s + ".txt") << "a few words\n";
    expect_refusal("train " + test::tiny_training(dir.file("small"), dir.file("x")), "fewer than one batch");
  }
  SUBCASE("checkpoint") {
    expect_refusal("eval --from " + dir.file("nothing.safetensors"), "cannot open the sidecar");
    expect_refusal("eval --from " + ckpt + " --set d_model=48", "a checkpoint of a different config or vocabulary");
    // Another vocabulary beside the checkpoint: the embedding no longer fits.
    std::ofstream(dir.file("run/vocab.txt"), std::ios::trunc) << "headcount-vocab char\n<unk>\n97\n98\n";
    expect_refusal("eval --from " + ckpt, "embed.weight");
    // A truncated tensor file.
    const auto size = std::filesystem::file_size(ckpt);
    std::filesystem::resize_file(ckpt, size - 100);
    expect_refusal("eval --from " + ckpt, "truncated");
  }
  SUBCASE("generate") {
    expect_refusal("generate --from " + ckpt + " --prompt 'the whale Z'", "is not in the model's vocabulary");
    expect_refusal("generate --from " + ckpt + " --temperature 0", "--temperature: '0' is out of range; allowed: a number in (0, 100]");
    expect_refusal("generate --from " + ckpt + " --tokens many", "--tokens: 'many' is not an integer");
  }
}

TEST_CASE("cli: decay_steps ends the cosine decay early and holds min_lr after it") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  const std::string schedule = " --set warmup=2 --set lr=1e-3 --set min_lr=1e-4";
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("run"), 12) + schedule +
                                          " --set decay_steps=6", out) == 0, out);
  // Logged step s ran at step index s-1: warm-up at 0..1, the decay over 2..5,
  // min_lr from index 6 (logged step 7) on.
  for (const auto& m : test::read_metrics(dir.file("run/metrics.jsonl"))) {
    const int64_t step = m["step"].get<int64_t>();
    const double lr = m["lr"].get<double>();
    CAPTURE(step);
    if (step > 2 && step <= 6) CHECK(lr > 1e-4);
    if (step > 6) CHECK(lr == doctest::Approx(1e-4).epsilon(1e-12));
  }
  CHECK(test::run_headcount("train " + test::tiny_training(corpus, dir.file("bad"), 12) + schedule +
                                " --set decay_steps=2", out) == 2);
  CHECK(out.find("decay_steps must be 0") != std::string::npos);
}

// A run whose cosine decay ended at its last step S can be continued at
// min_lr: `--resume --set steps=2S --set decay_steps=S` repeats, bit for bit,
// a fresh run of 2S steps whose decay ends at S. (bench/results.sh's stage
// pair lengthens its dense runs this way instead of training them again.)
TEST_CASE("cli: a finished run lengthened with --resume and decay_steps repeats the longer run bit for bit") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  const std::string schedule = " --set warmup=2 --set lr=1e-3 --set min_lr=1e-4";
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("long"), 12) + schedule +
                                          " --set decay_steps=8", out) == 0, out);
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("grown"), 8) + schedule, out) == 0, out);
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("grown"), 12) + schedule +
                                          " --set decay_steps=8 --resume", out) == 0, out);
  CHECK(out.find("resuming") != std::string::npos);
  const auto a = test::read_metrics(dir.file("long/metrics.jsonl")), b = test::read_metrics(dir.file("grown/metrics.jsonl"));
  REQUIRE(a.size() == 12);
  REQUIRE(b.size() == 12);
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i]["lr"] == b[i]["lr"]);
    CHECK(a[i]["loss"] == b[i]["loss"]);  // exact: the same bits
    CHECK(a[i]["grad_norm"] == b[i]["grad_norm"]);
    CHECK(a[i].value("valid_loss", -1.0) == b[i].value("valid_loss", -1.0));
  }
  CHECK(a.back()["lr"].get<double>() == doctest::Approx(1e-4).epsilon(1e-12));
}

TEST_CASE("cli: a NaN loss stops training and leaves the last good checkpoint") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  // A learning rate of 1e30 sends the weights to infinity within a few steps.
  const int rc = test::run_headcount("train " + test::tiny_training(corpus, dir.file("run"), 40) + " --set lr=1e30 --set min_lr=1e30", out);
  CAPTURE(out);
  CHECK(rc == 1);
  CHECK(out.find("NaN/Inf") != std::string::npos);
  CHECK(out.find("last good checkpoint") != std::string::npos);
  if (std::filesystem::exists(dir.file("run/last.safetensors"))) {
    REQUIRE(test::run_headcount("eval --from " + dir.file("run/last.safetensors"), out) == 0);
  }
}

TEST_CASE("cli: prune a dense checkpoint, compact it, and both evaluate to the same loss") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 8), out) == 0);
  // A strong penalty with fast gates closes heads within a few dozen steps.
  REQUIRE(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " " + test::tiny_training(corpus, dir.file("pruned"), 40) +
                                  " --set l0_coefficient=1 --set l0_warmup=5 --set lr=3e-3 --set min_lr=3e-3"
                                  " --set gate_lr_scale=30",
                              out) == 0);
  const auto m = test::read_metrics(dir.file("pruned/metrics.jsonl"));
  REQUIRE(m.size() == 40);
  CHECK(m.front()["kept_heads"] == 4);  // log_alpha starts at 2: every head open
  CHECK(m.back()["kept_heads"].get<int64_t>() < 4);
  CHECK(m.back()["open_prob"].size() == 2);
  CHECK(m.back()["lambda"].get<double>() == 1.0);
  REQUIRE(test::run_headcount("compact --from " + dir.file("pruned/last.safetensors") + " --out " +
                                  dir.file("small/model.safetensors"),
                              out) == 0);
  CHECK(out.find("parameters (no embedding)") != std::string::npos);
  std::string gated_eval, small_eval;
  REQUIRE(test::run_headcount("eval --json --from " + dir.file("pruned/last.safetensors"), gated_eval) == 0);
  REQUIRE(test::run_headcount("eval --json --from " + dir.file("small/model.safetensors"), small_eval) == 0);
  auto loss_of = [](const std::string& text) {
    return nlohmann::json::parse(text.substr(text.rfind('{')))["loss"].get<double>();
  };
  // Closed gate == removed head: float32 through a different number of heads.
  CHECK(loss_of(small_eval) == doctest::Approx(loss_of(gated_eval)).epsilon(1e-5));
  expect_refusal("compact --from " + dir.file("dense/last.safetensors") + " --out " + dir.file("x.safetensors"),
                 "has no gates");
  expect_refusal("prune " + test::tiny_training(corpus, dir.file("p2")), "--from DENSE_CHECKPOINT is required");
}

TEST_CASE("cli: target mode ends at exactly the requested number of heads") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 8), out) == 0);
  for (int target : {1, 3}) {
    CAPTURE(target);
    const std::string run = dir.file("t" + std::to_string(target));
    REQUIRE(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " " + test::tiny_training(corpus, run, 20) +
                                    " --set target_heads=" + std::to_string(target) +
                                    " --set l0_coefficient=2 --set l0_warmup=10 --set gate_lr_scale=30",
                                out) == 0);
    const auto m = test::read_metrics(run + "/metrics.jsonl");
    REQUIRE(m.size() == 20);
    CHECK(m.back()["kept_heads"] == target);
    REQUIRE(test::run_headcount("compact --from " + run + "/last.safetensors --out " + run + "/small.safetensors", out) == 0);
    CHECK(out.find("heads                                     4              " + std::to_string(target)) != std::string::npos);
  }
  expect_refusal("prune --from " + dir.file("dense/last.safetensors") + " " + test::tiny_training(corpus, dir.file("x")) +
                     " --set target_heads=9",
                 "target of 9 heads, the model has 4");
}

TEST_CASE("cli: heatmap draws one cell per head and logged step, shaded by P(open)") {
  test::TempDir dir;
  std::ofstream(dir.file("m.jsonl")) << R"({"step":1,"loss":2,"open_prob":[[1.0,0.5],[0.0]]})" << "\n"
                                     << R"({"step":2,"loss":2})" << "\n"
                                     << R"({"step":3,"loss":2,"open_prob":[[0.75,0.25],[1.0]]})" << "\n";
  std::string out;
  REQUIRE(test::run_headcount("heatmap --metrics " + dir.file("m.jsonl") + " --out " + dir.file("g.svg"), out) == 0);
  std::ifstream in(dir.file("g.svg"));
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t cells = 0;
  for (size_t at = svg.find("data-step="); at != std::string::npos; at = svg.find("data-step=", at + 1)) ++cells;
  CHECK(cells == 3 * 2);  // three heads, two logged steps with gates
  // The scale's ends, dark = open (app/svg_heatmap.cpp), and a quarter of the way.
  CHECK(svg.find(R"x(fill="rgb(8,48,107)" data-layer="0" data-head="0" data-step="1" data-value="1")x") != std::string::npos);
  CHECK(svg.find(R"x(fill="rgb(240,246,252)" data-layer="1" data-head="0" data-step="1" data-value="0")x") != std::string::npos);
  CHECK(svg.find(R"x(fill="rgb(182,197,216)" data-layer="0" data-head="1" data-step="3" data-value="0.25")x") !=
        std::string::npos);
  CHECK(svg.find(R"(data-scale="colour" data-lo="0" data-hi="1")") != std::string::npos);
  std::ofstream(dir.file("dense.jsonl")) << R"({"step":1,"loss":2})" << "\n";
  expect_refusal("heatmap --metrics " + dir.file("dense.jsonl") + " --out " + dir.file("x.svg"), "no line has open_prob");
  expect_refusal("heatmap --metrics " + dir.file("none.jsonl") + " --out " + dir.file("x.svg"), "cannot read");
  std::ofstream(dir.file("m.jsonl"), std::ios::app) << R"({"step":4,"loss":2,"open_prob":[[0.5],[1.0]]})" << "\n";
  expect_refusal("heatmap --metrics " + dir.file("m.jsonl") + " --out " + dir.file("x.svg"),
                 "m.jsonl line 4: the heads change between lines");
}
