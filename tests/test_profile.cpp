// `headcount profile`: the analytic cost model against hand-computed numbers
// and against the FLOPs the op profiler records region by region, the fit
// and the sweep on a planted cost, regions carried into backward, and the
// report on a tiny model (every table and chart, parsed), bad input refused.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "app/profile.h"
#include "app/profile_validate.h"
#include "engine/profiler.h"
#include "models/head_cost.h"
#include "tests/test_util.h"

using namespace hc;

namespace {
AllAttConfig cost_config() {
  return test::tiny_model({.d_model = 4, .max_len = 8, .dropout = true});
}

double forward_of(const std::vector<PartCost>& parts, const std::string& name) {
  for (const PartCost& p : parts)
    if (p.part == name) return p.forward_flops;
  FAIL("no part " << name);
  return 0;
}
}  // namespace

TEST_CASE("profile: analytic FLOPs of every part, by hand, for B=2 T=3 M=2 C=4 H=2 D=3 N=4 V=7") {
  const AllAttConfig c = cost_config();
  const std::vector<PartCost> layer = layer_cost(c, 0, 2);
  // S = 5, B T = 6, H D = 6.
  CHECK(forward_of(layer, "layernorm") == 8 * 2 * 5 * 4);                     // 8 B S C
  CHECK(forward_of(layer, "qkv") == 2 * 6 * 4 * 6 + 2 * 2 * 10 * 4 * 6);      // q, then k and v over S
  CHECK(forward_of(layer, "position") == 2 * 5 * 4 * 6 + 2 * 2 * 6 * 3 * 5);  // r projection, scores
  CHECK(forward_of(layer, "content") == 2 * 4 * 3 * 3 * 5);                   // (H B) T D S
  CHECK(forward_of(layer, "persistent") == 2 * 2 * 6 * 3 * 4);
  CHECK(forward_of(layer, "softmax") == 5 * 2 * 2 * 3 * 9);                   // 5 H B T (S + N)
  CHECK(forward_of(layer, "weighted_sum") == 2 * 4 * 3 * 5 * 3 + 2 * 2 * 6 * 4 * 3);
  CHECK(forward_of(layer, "output") == 2 * 6 * 6 * 4);
  CHECK(forward_of(outside_cost(c, 2), "output_layer") == 2 * 6 * 4 * 7 + 4 * 6 * 7);
  // Per-head parts halve with half the heads; layernorm does not.
  AllAttConfig one = c;
  one.heads_per_layer = {1, 2};
  const std::vector<PartCost> half = layer_cost(one, 0, 2);
  CHECK(forward_of(half, "content") * 2 == forward_of(layer, "content"));
  CHECK(forward_of(half, "layernorm") == forward_of(layer, "layernorm"));
}

TEST_CASE("profile: a FLOP budget becomes the most heads that fit in it") {
  const AllAttConfig c = cost_config();
  double fixed = 0, heads_part = 0;
  for (int64_t l = 0; l < c.layers; ++l)
    for (const PartCost& p : layer_cost(c, l, 1)) (p.per_head ? heads_part : fixed) += p.forward_flops;
  for (const PartCost& p : outside_cost(c, 1)) fixed += p.forward_flops;
  const double full = fixed + heads_part, per_head = heads_part / 4;
  for (int64_t k = 0; k <= 4; ++k) {
    CAPTURE(k);
    const double exact = (fixed + double(k) * per_head) / full;  // the fraction k heads cost
    CHECK(heads_within_flops(c, exact) == k);
    if (k < 4) CHECK(heads_within_flops(c, exact + 0.5 * per_head / full) == k);
  }
  CHECK(heads_within_flops(c, 1.0) == 4);
  CHECK(heads_within_flops(c, 0.0) == 0);
}

TEST_CASE("profile: the analytic parts equal the FLOPs and bytes the profiler records in each region") {
  for (bool txl : {false, true}) {
    CAPTURE(txl);
    AllAttConfig c = cost_config();
    // layer_cost describes the op-by-op path, region by region; the fused
    // op's shares of it are checked in tests/test_fused_attention.cpp.
    c.fused_attention = false;
    if (txl) {
      c.persist = 0;
      c.d_ffn = 5;
    }
    AllAttLM model(c, 3);
    const int64_t B = 2;
    const Tensor x = Tensor::from_ids({B, 3}, {1, 2, 3, 4, 5, 6}), y = Tensor::from_ids({B, 3}, {2, 3, 4, 5, 6, 0});
    Memory mem = model.initial_memory(B);
    RngStream rng{1, 0};
    profiler::enable(true);
    profiler::clear();
    model.loss(x, y, mem, true, rng).backward();
    profiler::enable(false);
    const std::set<std::string> counted{"linear", "bmm", "matmul", "head_scores", "append_scores", "weighted_sum",
                                        "masked_softmax", "layernorm", "cross_entropy"};
    std::map<std::string, std::pair<double, double>> recorded;  // region -> forward, backward FLOPs
    std::map<std::string, double> bytes;                          // region -> forward bytes
    for (const profiler::Event& e : profiler::events()) {
      const bool backward = e.name.find(".backward") != std::string::npos;
      const std::string op = backward ? e.name.substr(0, e.name.find(".backward")) : e.name;
      if (!counted.count(op)) continue;
      (backward ? recorded[e.region].second : recorded[e.region].first) += e.cost.flops;
      if (!backward) bytes[e.region] += e.cost.bytes;
    }
    profiler::clear();
    for (int64_t l = 0; l < c.layers; ++l)
      for (const PartCost& p : layer_cost(c, l, B)) {
        const std::string region = "layer" + std::to_string(l) + "/" + p.part;
        CAPTURE(region);
        CHECK(recorded[region].first == p.forward_flops);
        CHECK(recorded[region].second == p.backward_flops);
        CHECK(bytes[region] == p.forward_bytes);
      }
    for (const PartCost& p : outside_cost(c, B)) {
      CHECK(recorded[p.part].first == p.forward_flops);
      CHECK(recorded[p.part].second == p.backward_flops);
      CHECK(bytes[p.part] == p.forward_bytes);
    }
  }
}

TEST_CASE("profile: the fit and the sweep recover a planted linear cost from a synthetic timer") {
  const LinearFit exact = fit_line({0, 1, 2, 3}, {2, 5, 8, 11});
  CHECK(exact.a == doctest::Approx(2));
  CHECK(exact.b == doctest::Approx(3));
  CHECK(exact.max_rel_residual < 1e-12);
  const LinearFit bent = fit_line({0, 1, 2}, {1, 1, 3});
  CHECK(bent.max_rel_residual > 0.1);  // not a line: the residual says so
  CHECK_THROWS_AS(fit_line({1}, {1}), std::invalid_argument);

  AllAttConfig c = cost_config();
  c.layers = 3;
  c.heads = 4;
  // Planted: 5 ms fixed, layer l's heads 1, 2, 3 ms each, and a +-1% wobble.
  int calls = 0;
  const auto sweeps = sweep_heads(c, [&](const AllAttConfig& v) {
    double t = 5e-3;
    for (int64_t l = 0; l < v.layers; ++l) t += 1e-3 * double(l + 1) * double(v.heads_in(l));
    return t * (1 + 0.01 * ((calls++ % 2) ? 1 : -1));
  });
  REQUIRE(sweeps.size() == 3);
  for (int64_t l = 0; l < 3; ++l) {
    CAPTURE(l);
    CHECK(sweeps[l].heads.size() == 5);  // 0..4 heads
    CHECK(sweeps[l].fit.b == doctest::Approx(1e-3 * double(l + 1)).epsilon(0.15));
    CHECK(sweeps[l].fit.max_rel_residual < 0.03);
  }
  CHECK(calls == 15);
}

TEST_CASE("profile: the report on a tiny model has every table and chart; bad input is refused") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string log;
  const std::string config = "--config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json --set corpus=" + corpus;
  REQUIRE(test::run_headcount("profile " + config + " --out " + dir.file("p") + " --reps 2 --heads-per-layer 1,2", log) == 0);
  CAPTURE(log);
  std::ifstream md_in(dir.file("p/report.md"));
  const std::string md((std::istreambuf_iterator<char>(md_in)), {});
  for (const char* heading : {"## Each part", "## Marginal cost of a head", "## Prediction for heads per layer 1 2"})
    CHECK(md.find(heading) != std::string::npos);
  // costs.csv: every part of both layers and the output layer, with times.
  std::ifstream csv(dir.file("p/costs.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line == "layer,part,per_head,forward_gflop,backward_gflop,forward_mb,measured_forward_ms,measured_backward_ms");
  int rows = 0, timed = 0;
  while (std::getline(csv, line)) {
    ++rows;
    timed += std::stod(line.substr(line.rfind(',') + 1)) > 0;
  }
  CHECK(rows == 2 * 8 + 1);
  CHECK(timed == rows);  // every part took measurable time
  const nlohmann::json costs = nlohmann::json::parse(std::ifstream(dir.file("p/costs.json")));
  CHECK(costs["sweep"].size() == 2);
  CHECK(costs["sweep"][0]["heads"].size() == 3);
  CHECK(costs["prediction"]["heads_per_layer"] == std::vector<int64_t>{1, 2});
  // The joint sweep: both layers at 0, 1, 2 heads together.
  CHECK(costs["joint_sweep"]["total_heads"] == std::vector<double>{0, 2, 4});
  CHECK(costs["prediction"]["train_predicted_joint_s"].get<double>() > 0);
  CHECK(costs["prediction"]["train_measured_s"].get<double>() > 0);
  // The trace: one training step, its events named by region.
  std::ifstream trace_in(dir.file("p/trace.json"));
  const std::string trace((std::istreambuf_iterator<char>(trace_in)), {});
  // The trace holds the ops as they ran: the fused attention (the default) as one op.
  CHECK(trace.find("layer1/attention attention") != std::string::npos);
  CHECK(trace.find("layer1/attention attention.backward") != std::string::npos);
  CHECK(trace.find("head_scores") == std::string::npos);
  CHECK(trace.find("layer0/qkv linear.backward") != std::string::npos);
  // Charts: a line per layer in the sweep, a bar segment per layer and part.
  std::ifstream sweep_in(dir.file("p/sweep.svg")), parts_in(dir.file("p/parts.svg"));
  const std::string sweep((std::istreambuf_iterator<char>(sweep_in)), {}), parts((std::istreambuf_iterator<char>(parts_in)), {});
  auto count = [](const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count(sweep, "<polyline") == 2);
  CHECK(count(sweep, "<circle") == 6);
  CHECK(count(parts, "data-part=\"content\"") == 2);
  std::ifstream grid_in(dir.file("p/cost_heatmap.svg"));
  const std::string grid((std::istreambuf_iterator<char>(grid_in)), {});
  CHECK(count(grid, "data-head=") == 4);  // 2 layers x 2 heads
  CHECK(count(grid, "data-scale=\"colour\"") == 1);
  CHECK(grid.find("data-layer=\"1\" data-head=\"1\"") != std::string::npos);
  CHECK(grid.find(">x</text>") == std::string::npos);  // a dense model: no head removed
  // `headcount report` reads what profile wrote: a head grid per mode, the parts, nothing it could not draw.
  REQUIRE(test::run_headcount("report " + dir.file("p"), log) == 0);
  const std::string page = test::read_text(dir.file("p/report.html"));
  CHECK(page.find("could not draw") == std::string::npos);
  CHECK(count(page, "data-scale=\"colour\"") == 2);
  CHECK(page.find("data-part=\"content\"") != std::string::npos);

  // A gated checkpoint (3 of 4 heads kept): its mask is predicted, its closed
  // head crossed out, and its gates drawn.
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 4), log) == 0);
  REQUIRE(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " --method magnitude " +
                                  test::tiny_training(corpus, dir.file("gated"), 4) + " --set target_heads=3",
                              log) == 0);
  REQUIRE(test::run_headcount("profile --from " + dir.file("gated/last.safetensors") + " --out " + dir.file("g") + " --reps 2",
                              log) == 0);
  std::ifstream gates_in(dir.file("g/gates_heatmap.svg")), cost_in(dir.file("g/cost_heatmap.svg"));
  const std::string gates((std::istreambuf_iterator<char>(gates_in)), {}), cost((std::istreambuf_iterator<char>(cost_in)), {});
  CHECK(count(gates, "data-head=") == 4);
  CHECK(count(cost, ">x</text>") == 1);
  const nlohmann::json gated = nlohmann::json::parse(std::ifstream(dir.file("g/costs.json")));
  const std::vector<int64_t> counts = gated["prediction"]["heads_per_layer"];
  CHECK(counts[0] + counts[1] == 3);

  CHECK(test::run_headcount("profile " + config + " --out " + dir.file("q") + " --heads-per-layer 1,2,3", log) == 2);
  CHECK(log.find("--heads-per-layer has 3 entries for a model of 2 layers") != std::string::npos);
  CHECK(test::run_headcount("profile --from " + dir.file("none.safetensors") + " --out " + dir.file("q"), log) == 2);
  CHECK(log.find("cannot open") != std::string::npos);
  CHECK(test::run_headcount("profile " + config, log) == 2);
  CHECK(log.find("--out DIR is required") != std::string::npos);
}

TEST_CASE("profile --validate: random configurations apart from the calibration, timed twice, judged by every form") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string log;
  // Two layers of three heads: 16 configurations; 8 structured calibration ones (the empty one
  // among them), 4 random mixed ones: 4 left to validate on.
  const std::string config = "--config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json --set corpus=" + corpus +
                             " --set heads=3 --batch 2 --reps 2";
  REQUIRE(test::run_headcount("profile " + config + " --out " + dir.file("v") + " --validate 4 --validate-seed 4", log) == 0);
  CAPTURE(log);
  const nlohmann::json costs = nlohmann::json::parse(std::ifstream(dir.file("v/costs.json")));
  const nlohmann::json& cm = costs["cost_model"];
  CHECK(cm["key"]["device"] == "cpu");
  CHECK(cm["key"]["batch"] == 2);
  CHECK(cm["key"]["shape"].get<std::string>().rfind("L2 H3,3 C32", 0) == 0);
  CHECK(cm["calibration"]["configurations"] == 12);
  CHECK(cm["calibration"]["seconds"].get<double>() > 0);
  const std::vector<HeadCounts> cal = calibration_with_mixed(test::tiny_model({.heads = 3}));
  const std::set<std::vector<int64_t>> calibration(cal.begin(), cal.end());
  REQUIRE(calibration.size() == 12);
  for (const HeadCounts& h : std::vector<HeadCounts>{{0, 3}, {1, 3}, {3, 0}, {3, 1}, {0, 0}, {1, 1}, {2, 2}, {3, 3}})
    CHECK(calibration.count(h) == 1);
  const nlohmann::json val = nlohmann::json::parse(std::ifstream(dir.file("v/validation.json")));
  for (const std::string mode : {"train", "infer"}) {
    CAPTURE(mode);
    const nlohmann::json& rows = val[mode]["configurations"];
    REQUIRE(rows.size() == 4);
    std::set<std::vector<int64_t>> seen;
    // The saved model of this mode is the chosen form, and it predicts what validation.json says it does.
    const std::string chosen = val[mode]["chosen"];
    CHECK(cm[mode]["form"] == chosen);
    const CostModel model = cost_model_for(costs, CostKey::from_json(cm["key"]).with_mode(mode));
    for (const nlohmann::json& r : rows) {
      const std::vector<int64_t> h = r["heads"];
      CHECK(seen.insert(h).second);
      CHECK(calibration.count(h) == 0);
      CHECK((h[0] <= 3 && h[1] <= 3 && h[0] >= 0 && h[1] >= 0));
      const double a = r["first_s"], b = r["second_s"];
      CHECK(a > 0);
      CHECK(b > 0);
      CHECK(r["measured_s"].get<double>() == std::min(a, b));
      CHECK(r["predicted_s"].size() == 4);
      CHECK(model.predict(h) == doctest::Approx(r["predicted_s"][chosen].get<double>()).epsilon(1e-12));
    }
    CHECK(cm["forms"][mode].size() == 4);
    CHECK(cm["validation"][mode]["configurations"] == 4);
  }
  const std::string md = test::read_text(dir.file("v/report.md"));
  CHECK(md.find("## The cost model, checked on 4 random pruned configurations") != std::string::npos);
  CHECK(md.find("| training step | per-layer") != std::string::npos);
  CHECK(md.find("| inference forward | heads-only") != std::string::npos);
  const std::string svg = test::read_text(dir.file("v/validate.svg"));
  int dots = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++dots;
  CHECK(dots == 8);                                                // 4 configurations x 2 modes
  CHECK(svg.find("data-slope=\"1.1\"") != std::string::npos);      // the +-10% lines
  // More configurations than the model has left over is refused.
  CHECK(test::run_headcount("profile " + config + " --out " + dir.file("w") + " --validate 5", log) == 2);
  CHECK(log.find("the model has only 16 head configurations, of which 12 are calibration or empty") != std::string::npos);
}

TEST_CASE("profile --validate: the draw is seeded, distinct, and leaves out what it is told to") {
  const AllAttConfig c = test::tiny_model({.layers = 3, .heads = 4});
  const std::set<HeadCounts> calibration = [&] {
    const std::vector<HeadCounts> cal = calibration_heads(c);
    return std::set<HeadCounts>(cal.begin(), cal.end());
  }();
  const std::vector<HeadCounts> a = random_heads(c, 40, 7, calibration), b = random_heads(c, 40, 7, calibration),
                                other = random_heads(c, 40, 8, calibration);
  CHECK(a == b);
  CHECK(a != other);
  const std::set<HeadCounts> distinct(a.begin(), a.end());
  CHECK(distinct.size() == 40);
  int emptied = 0;
  for (const HeadCounts& h : a) {
    CHECK(calibration.count(h) == 0);
    CHECK(h != HeadCounts{0, 0, 0});
    emptied += std::count(h.begin(), h.end(), 0) > 0;
  }
  CHECK(emptied > 0);  // emptied layers come up
  // 125 configurations, 6 + 5 calibration (the empty one among them): 114 to draw from.
  CHECK(calibration.size() == 11);
  CHECK(random_heads(c, 114, 1, calibration).size() == 114);
  CHECK_THROWS_AS(random_heads(c, 115, 1, calibration), std::invalid_argument);
}
