// `spatten`, SpAtten's cascade head pruning at inference
// (models/methods/spatten.h):
//   - the schedule: all heads in the first layer, K in all, never rising;
//     budgets below one layer's heads, above the model's, or none refused
//   - keeping every head is the dense model, bit for bit (with memory)
//   - the cascade: each stream's set only shrinks from layer to layer, and
//     keeps the heads of largest accumulated |output|; skipping equals
//     computing every head and zeroing the skipped ones (a masking reference)
//   - skipped heads' work is not done: the profiler's FLOPs are those of the
//     model compacted to the heads run, and NaN weights of skipped heads never
//     reach the output
//   - `headcount prune` and `compare` refuse it (exit 2), `prune --help` lists it;
//     bench_spatten refuses a missing budget, one above the model's heads and
//     one below a layer's, and measures one that fits
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/profiler.h"
#include "models/compaction.h"
#include "models/gates.h"
#include "models/methods/spatten.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

void randomize(const AllAttLM& model, uint64_t seed) {
  for (const Variable& p : model.parameters())
    p.value().copy_from(test::random_tensor(p.shape(), p.value().dtype(), seed++, 0.05, 0.6));
}

// Segments of B streams for a model of vocabulary 7.
std::vector<Tensor> segments(int64_t B, int64_t T, int count) {
  std::vector<Tensor> out;
  for (int k = 0; k < count; ++k) {
    std::vector<int64_t> ids(static_cast<size_t>(B * T));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 5 + static_cast<size_t>(k) * 3 + i / 4) % 7);
    out.push_back(Tensor::from_ids({B, T}, ids));
  }
  return out;
}

// The masking reference for one stream (B = 1): every head computed, the
// cascade's choice made from the same accumulated |output|, the skipped
// heads' outputs multiplied by 0 before the projection. Records its sets.
Variable masked_reference(const AllAttLM& model, const Tensor& tokens, Memory& mem, const std::vector<int64_t>& schedule,
                          HeadMask& kept) {
  const int64_t L = model.config().layers, H = model.config().heads, D = model.config().d_head;
  std::vector<double> importance(static_cast<size_t>(H), 0.0);
  kept.keep.assign(static_cast<size_t>(L), std::vector<bool>(static_cast<size_t>(H), true));
  RngStream unused{0, 0};
  const AllAttDropout none{};
  return model.logits(tokens, mem, [&](int64_t l, const Variable& h, const Tensor& m, const Variable& r) {
    const AllAttLayer& layer = model.layers()[static_cast<size_t>(l)];
    if (l > 0) kept.keep[l] = cascade_keep(importance, kept.keep[l - 1], schedule[l]);
    const Variable heads = layer.attend(h, m, r, none, false, unused);
    const std::vector<double> e = heads.value().to_vector();
    std::vector<double> gate(static_cast<size_t>(H));
    for (int64_t j = 0; j < H; ++j) gate[j] = kept.keep[l][j] ? 1.0 : 0.0;
    for (size_t i = 0; i < e.size(); ++i)
      if (kept.keep[l][(i / D) % H]) importance[(i / D) % H] += std::abs(e[i]);
    const int64_t T = h.size(1);
    const Variable z = Variable(Tensor::from_vector({H, 1}, gate, heads.value().dtype()));
    return layer.project(h, reshape(mul(reshape(heads, {1, T, H, D}), z), {1, T, H * D}), none, false, unused);
  });
}

double pass_flops(const std::function<void()>& pass) {
  profiler::clear();
  profiler::enable(true);
  pass();
  profiler::enable(false);
  double total = 0;
  for (const profiler::Event& e : profiler::events()) total += e.cost.flops;
  profiler::clear();
  return total;
}

}  // namespace

TEST_CASE("spatten: the cascade's schedule keeps every head of the first layer and K in all, never rising") {
  CHECK(cascade_schedule(4, 4, 16) == std::vector<int64_t>{4, 4, 4, 4});
  CHECK(cascade_schedule(4, 4, 8) == std::vector<int64_t>{4, 2, 1, 1});
  CHECK(cascade_schedule(4, 4, 4) == std::vector<int64_t>{4, 0, 0, 0});
  CHECK(cascade_schedule(1, 3, 3) == std::vector<int64_t>{3});
  for (int64_t K = 5; K <= 30; ++K) {
    CAPTURE(K);
    const std::vector<int64_t> s = cascade_schedule(6, 5, K);
    int64_t sum = 0;
    for (size_t l = 0; l < s.size(); ++l) {
      sum += s[l];
      if (l > 0) CHECK(s[l] <= s[l - 1]);
    }
    CHECK(s[0] == 5);
    CHECK(sum == K);
  }
  CHECK_THROWS_WITH_AS(cascade_schedule(4, 4, 17), doctest::Contains("budget of 17 heads, the model has 16"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cascade_schedule(4, 4, 3), doctest::Contains("below one layer's 4"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cascade_schedule(4, 4, 0), doctest::Contains("needs a budget"), std::invalid_argument);
  // A compacted (ragged) model has no head h in every layer.
  AllAttConfig ragged = test::tiny_model({.layers = 2, .heads = 2});
  ragged.heads_per_layer = {2, 1};
  AllAttLM small(ragged, 1);
  CHECK_THROWS_WITH_AS(Spatten(small, 2), doctest::Contains("same number of heads"), std::invalid_argument);
}

TEST_CASE("spatten: the cascade's step keeps the kept heads of largest importance, ties to the lower index") {
  const std::vector<bool> all(5, true);
  CHECK(cascade_keep({0.1, 3.0, 2.0, 3.0, 0.5}, all, 2) == std::vector<bool>{false, true, false, true, false});
  // A head already skipped stays skipped, however large its importance.
  CHECK(cascade_keep({9.0, 1.0, 2.0, 0.0, 0.5}, {false, true, true, true, true}, 2) ==
        std::vector<bool>{false, true, true, false, false});
  CHECK(cascade_keep({1.0, 1.0, 1.0}, {true, true, true}, 0) == std::vector<bool>{false, false, false});
  CHECK_THROWS_AS(cascade_keep({1.0, 1.0}, {true, false}, 2), std::invalid_argument);
}

TEST_CASE("spatten: keeping every head is the dense model, bit for bit, with memory carried") {
  AllAttLM model(test::tiny_model({.layers = 3, .heads = 3, .seg_len = 4, .mem_len = 3}), 2);
  randomize(model, 11);
  Spatten spatten(model, 9);
  Memory dense_mem = model.initial_memory(2), spatten_mem = model.initial_memory(2);
  RngStream rng{0, 0};
  NoGrad no_grad;
  for (const Tensor& x : segments(2, 4, 3)) {
    const std::vector<double> dense = model.logits(x, dense_mem, false, rng).value().to_vector();
    CHECK(spatten.logits(x, spatten_mem).value().to_vector() == dense);
    for (size_t l = 0; l < dense_mem.layers.size(); ++l)
      CHECK(spatten_mem.layers[l].to_vector() == dense_mem.layers[l].to_vector());
  }
  // The loss too.
  const Tensor x = segments(2, 4, 1)[0], y = segments(2, 4, 2)[1];
  CHECK(spatten.loss(x, y, spatten_mem).value().item() == model.loss(x, y, dense_mem, false, rng).value().item());
}

TEST_CASE("spatten: per stream, the set only shrinks and follows the accumulated |output|; skipping equals masking") {
  AllAttLM model(test::tiny_model({.layers = 4, .heads = 4, .seg_len = 5, .mem_len = 3}), 3);
  randomize(model, 21);
  Spatten spatten(model, 9);  // 4, 2, 2, 1
  CHECK(spatten.schedule() == std::vector<int64_t>{4, 2, 2, 1});
  const int64_t B = 3;
  Memory mem = model.initial_memory(B);
  std::vector<Memory> ref_mem(B, model.initial_memory(1));
  int differing = 0;  // steps whose streams do not all keep the same heads
  for (const Tensor& x : segments(B, 5, 3)) {
    const std::vector<double> got = spatten.logits(x, mem).value().to_vector();
    const int64_t V = model.config().vocab, T = 5;
    for (int64_t b = 0; b < B; ++b) {
      CAPTURE(b);
      const HeadMask& kept = spatten.kept()[b];
      CHECK(kept.per_layer() == spatten.schedule());
      for (size_t l = 1; l < kept.keep.size(); ++l)
        for (size_t h = 0; h < kept.keep[l].size(); ++h) CHECK((!kept.keep[l][h] || kept.keep[l - 1][h]));
      HeadMask ref;
      NoGrad no_grad;
      const std::vector<double> want =
          masked_reference(model, x.slice_rows(b, b + 1), ref_mem[b], spatten.schedule(), ref).value().to_vector();
      CHECK(ref.keep == kept.keep);
      for (int64_t i = 0; i < T * V; ++i) CHECK(got[b * T * V + i] == doctest::Approx(want[i]).epsilon(1e-5));
    }
    differing += spatten.kept()[0].keep != spatten.kept()[1].keep || spatten.kept()[1].keep != spatten.kept()[2].keep;
  }
  CHECK(differing > 0);  // the streams did choose for themselves
}

TEST_CASE("spatten: skipped heads' work is not done (FLOPs of the heads run; NaN weights never read)") {
  AllAttLM model(test::tiny_model({.layers = 3, .heads = 3, .seg_len = 4, .mem_len = 3}), 4);
  randomize(model, 31);
  // Head 1 outputs nothing in layer 0 (its values are 0), so it ranks last
  // and the cascade skips it in layers 1 and 2; there its weights are NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto set_head = [](const Variable& v, int64_t H, int64_t h, double value) {
    std::vector<double> x = v.value().to_vector();
    const size_t per = x.size() / static_cast<size_t>(H);
    for (size_t i = per * static_cast<size_t>(h); i < per * static_cast<size_t>(h + 1); ++i) x[i] = value;
    v.value().copy_from(Tensor::from_vector(v.shape(), x, v.value().dtype()));
  };
  set_head(model.layers()[0].v_w, 3, 1, 0.0);
  set_head(model.layers()[0].persist_v, 3, 1, 0.0);
  for (size_t l = 1; l < 3; ++l) {
    const AllAttLayer& layer = model.layers()[l];
    for (const Variable* v : {&layer.q_w, &layer.k_w, &layer.v_w, &layer.r_w, &layer.u_bias, &layer.v_bias,
                              &layer.persist_k, &layer.persist_v})
      set_head(*v, 3, 1, nan);
    std::vector<double> out = layer.out_w.value().to_vector();  // (C, H*D): head 1 in columns D..2D-1
    for (size_t i = 0; i < out.size(); ++i)
      if ((i % 9) / 3 == 1) out[i] = nan;
    layer.out_w.value().copy_from(Tensor::from_vector(layer.out_w.shape(), out, DType::F32));
  }
  Spatten spatten(model, 7);  // 3, 2, 2
  const Tensor x = segments(1, 4, 1)[0];
  Memory mem = model.initial_memory(1);
  std::vector<double> logits;
  const double flops = pass_flops([&] { logits = spatten.logits(x, mem).value().to_vector(); });
  for (double v : logits) REQUIRE(std::isfinite(v));
  CHECK(spatten.kept()[0].describe() == "111,101,101");

  // The same pass through the model compacted to those heads: the same FLOPs, bit for bit the same logits.
  AllAttLM gated(model.config(), 4);
  for (size_t i = 0; i < model.parameters().size(); ++i) gated.parameters()[i].value().copy_from(model.parameters()[i].value());
  gated.add_gates(1.0);
  gated.gate_logits()[1].value().copy_from(Tensor::from_vector({3}, {1.0, -1.0, 1.0}, DType::F32));
  gated.gate_logits()[2].value().copy_from(Tensor::from_vector({3}, {1.0, -1.0, 1.0}, DType::F32));
  const std::unique_ptr<AllAttLM> small = compact(gated, false);
  Memory small_mem = small->initial_memory(1);
  RngStream rng{0, 0};
  std::vector<double> small_logits;
  NoGrad no_grad;
  const double small_flops = pass_flops([&] { small_logits = small->logits(x, small_mem, false, rng).value().to_vector(); });
  CHECK(flops == small_flops);
  CHECK(logits == small_logits);
  Memory dense_mem = model.initial_memory(1);
  CHECK(flops < pass_flops([&] { model.logits(x, dense_mem, false, rng); }));
}

TEST_CASE("spatten: prune --help lists it; prune and compare refuse it; bench_spatten refuses bad budgets (exit 2)") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string out;
  REQUIRE(test::run_headcount("prune --help", out) == 0);
  CHECK(out.find("\n  spatten    runtime") != std::string::npos);
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 4), out) == 0);
  CHECK(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " --method spatten " +
                                test::tiny_training(corpus, dir.file("x"), 4) + " --set target_heads=3",
                            out) == 2);
  CHECK(out.find("prune_method spatten chooses heads at inference") != std::string::npos);
  CHECK(test::run_headcount("compare --dense " + dir.file("dense/last.safetensors") +
                                " --config " + std::string(HEADCOUNT_SOURCE_DIR) + "/configs/moby-char-tiny-prune.json --out " + dir.file("cmp") +
                                " --methods spatten",
                            out) == 2);
  CHECK(out.find("spatten chooses heads at inference") != std::string::npos);
  // moby-char-tiny: 2 layers x 2 heads.
  const std::string bench = std::string(BENCH_SPATTEN_BINARY) + " --from " + dir.file("dense/last.safetensors");
  CHECK(test::run_command(bench + " 2>&1", out) == 2);
  CHECK(out.find("spatten needs a budget") != std::string::npos);
  CHECK(test::run_command(bench + " --budgets 1.5 2>&1", out) == 2);
  CHECK(out.find("target of 6 heads, the model has 4") != std::string::npos);
  CHECK(test::run_command(bench + " --budgets 0.25 2>&1", out) == 2);
  CHECK(out.find("below one layer's 2") != std::string::npos);
  REQUIRE(test::run_command(bench + " --budgets 0.75 --segments 2 --batch 2 --reps 2 --json", out) == 0);
  const nlohmann::json rows = nlohmann::json::parse(out);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["heads"] == 3);
  CHECK(rows[0]["spatten_heads_per_layer"] == std::vector<int64_t>{2, 1});
  CHECK(std::isfinite(rows[0]["loss"]["spatten"].get<double>()));
  CHECK(rows[0]["static_over_spatten"]["ideal"].get<double>() == doctest::Approx(1.0));
}
