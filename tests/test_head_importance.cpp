// The pruning methods of `headcount prune --method` (models/pruning_methods.cpp):
// every registered method ends with exactly the budgeted heads, random is
// seeded, taylor's scores are the finite-difference sensitivities of the
// loss to each head's gate, magnitude ranks a zeroed head last, and the
// straight-through top-K gate keeps K heads and passes gradients through
// sigmoid(s).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/gates.h"
#include "models/pruning_method.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;

namespace {
AllAttConfig importance_config() {
  return test::tiny_model({.vocab = 9, .d_model = 8, .heads = 3, .d_head = 4, .persist = 5, .seg_len = 4, .mem_len = 3,
                           .max_len = 16});
}

// A registered scored method's scores of `model`.
HeadScores score(const std::string& method, const AllAttLM& model, uint64_t seed = 0,
                 const std::function<Variable(const std::vector<Variable>&)>& probe_loss = {}) {
  return find_method(method).score(ScoreInputs{model, seed, 1, probe_loss});
}

void randomize(const AllAttLM& model, uint64_t seed) {
  for (const Variable& p : model.parameters())
    p.value().copy_from(test::random_tensor(p.shape(), p.value().dtype(), seed++, 0.05, 0.6));
}
}  // namespace

TEST_CASE("head importance: taylor scores are |dL/dz| at z = 1 (finite differences), normalised per layer") {
  const AllAttConfig c = importance_config();
  AllAttLM model(c, 3, DType::F64);
  randomize(model, 40);
  const Tensor x = Tensor::from_ids({2, 4}, {1, 5, 2, 6, 0, 3, 8, 7});
  const Tensor y = Tensor::from_ids({2, 4}, {5, 2, 6, 0, 3, 8, 7, 4});
  RngStream rng{1, 0};
  auto loss_of = [&](const std::vector<Variable>& gates) {
    Memory mem = model.initial_memory(2);
    return model.loss(x, y, mem, false, rng, gates);
  };
  const HeadScores scores = score("taylor", model, 0, loss_of);

  // Central differences of the loss in each head's gate around 1.
  const double eps = 1e-5;
  for (int64_t l = 0; l < c.layers; ++l) {
    std::vector<double> fd(c.heads);
    for (int64_t h = 0; h < c.heads; ++h) {
      auto loss_at = [&](double zh) {
        NoGrad no_grad;
        std::vector<Variable> gates;
        for (int64_t k = 0; k < c.layers; ++k) {
          std::vector<double> z(c.heads, 1.0);
          if (k == l) z[h] = zh;
          gates.emplace_back(Tensor::from_vector({c.heads}, z, DType::F64));
        }
        return loss_of(gates).value().item();
      };
      fd[h] = std::fabs((loss_at(1 + eps) - loss_at(1 - eps)) / (2 * eps));
    }
    double norm = 0;
    for (double v : fd) norm += v * v;
    for (int64_t h = 0; h < c.heads; ++h) {
      CAPTURE(l);
      CAPTURE(h);
      CHECK(scores[l][h] == doctest::Approx(fd[h] / std::sqrt(norm)).epsilon(1e-6));
    }
  }
}

TEST_CASE("head importance: magnitude ranks a zeroed head last; random is seeded; top_heads keeps exactly K") {
  AllAttLM model(importance_config(), 3);
  randomize(model, 70);
  const AllAttLayer& layer = model.layers()[1];
  // Zero everything head 2 of layer 1 owns.
  const int64_t H = 3, D = 4, C = 8, N = 5;
  auto zero_rows = [&](const Variable& v, int64_t per_head) {
    std::vector<double> x = v.value().to_vector();
    for (int64_t i = 2 * per_head; i < 3 * per_head; ++i) x[i] = 0;
    v.value().copy_from(Tensor::from_vector(v.shape(), x));
  };
  for (const Variable* v : {&layer.q_w, &layer.k_w, &layer.v_w, &layer.r_w}) zero_rows(*v, D * C);
  zero_rows(layer.u_bias, D);
  zero_rows(layer.v_bias, D);
  zero_rows(layer.persist_k, N * D);
  zero_rows(layer.persist_v, N * D);
  std::vector<double> out = layer.out_w.value().to_vector();
  for (int64_t r = 0; r < C; ++r)
    for (int64_t d = 0; d < D; ++d) out[r * H * D + 2 * D + d] = 0;
  layer.out_w.value().copy_from(Tensor::from_vector(layer.out_w.shape(), out));

  const HeadScores m = score("magnitude", model);
  CHECK(m[1][2] == 0.0);
  const HeadMask keep5 = top_heads(m, 5);
  CHECK_FALSE(keep5.keep[1][2]);
  CHECK(keep5.count() == 5);
  CHECK(keep5.per_layer() == std::vector<int64_t>{3, 2});
  CHECK(keep5.describe() == "111,110");

  CHECK(score("random", model, 5) == score("random", model, 5));
  CHECK(score("random", model, 5) != score("random", model, 6));
  for (int64_t K = 0; K <= 6; ++K) CHECK(top_heads(score("random", model, 9), K).count() == K);
  CHECK_THROWS_AS(top_heads(m, 7), std::invalid_argument);
}

TEST_CASE("head importance: straight-through top-K keeps exactly K heads; gradient through sigmoid(s)") {
  std::vector<Variable> logits{Variable(Tensor::from_vector({3}, {0.5, -1.0, 2.0}), true, "s0"),
                               Variable(Tensor::from_vector({2}, {0.5, 1.5}), true, "s1")};
  const std::vector<Variable> z = topk_gates(logits, 3);
  CHECK(z[0].value().to_vector() == std::vector<double>{1, 0, 1});  // 2.0, 1.5, then the first 0.5
  CHECK(z[1].value().to_vector() == std::vector<double>{0, 1});
  // L = sum_h w_h z_h: dL/ds_h = w_h sigmoid(s_h) (1 - sigmoid(s_h)).
  const Variable loss = add(sum(mul(z[0], Variable(Tensor::from_vector({3}, {1, 2, 3})))),
                            sum(mul(z[1], Variable(Tensor::from_vector({2}, {4, 5})))));
  loss.backward();
  const std::vector<std::vector<double>> s{{0.5, -1.0, 2.0}, {0.5, 1.5}}, w{{1, 2, 3}, {4, 5}};
  for (size_t l = 0; l < 2; ++l)
    for (size_t h = 0; h < s[l].size(); ++h) {
      const double sig = 1 / (1 + std::exp(-s[l][h]));
      CHECK(logits[l].grad().to_vector()[h] == doctest::Approx(w[l][h] * sig * (1 - sig)));
    }
  CHECK_THROWS_AS(topk_gates(logits, 6), std::invalid_argument);
}

TEST_CASE("head importance: every prune --method ends with exactly the budgeted heads, compactable") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string log;
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 8), log) == 0);
  for (const MethodInfo& info : pruning_methods()) {
    if (info.kind == MethodKind::Inference) continue;  // nothing to prune (tests/test_spatten.cpp)
    const std::string method = info.name;
    CAPTURE(method);
    const std::string out = dir.file(method);
    // moby-char-tiny: 2 layers x 2 heads; keep 3.
    REQUIRE(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " --method " + method + " " +
                                    test::tiny_training(corpus, out, 8) + " --set target_heads=3 --set l0_warmup=4" +
                                    " --set l0_coefficient=1 --set importance_batches=2" +
                                    " --set rewind_from={dense}/step-4.safetensors",  // lottery's; the others ignore it
                                log) == 0);
    CAPTURE(log);
    std::ifstream metrics(out + "/metrics.jsonl");
    std::string line, final_line;
    while (std::getline(metrics, line)) final_line = line;
    CHECK(nlohmann::json::parse(final_line)["kept_heads"] == 3);
    REQUIRE(test::run_headcount("compact --from " + out + "/last.safetensors --out " + out + "/small.safetensors", log) == 0);
    const nlohmann::json side = nlohmann::json::parse(std::ifstream(out + "/small.json"));
    const std::vector<int64_t> heads = side["heads_per_layer"];
    CHECK(heads[0] + heads[1] == 3);
  }
  // A scored method without a budget is refused.
  CHECK(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " --method magnitude " +
                                test::tiny_training(corpus, dir.file("x"), 8),
                            log) == 2);
  CHECK(log.find("needs a budget") != std::string::npos);
}

TEST_CASE("head importance: compare runs the grid over seeds, pairs dense seeds, writes ranges, reuses finished cells") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string log;
  // Two seeds of the All-attention model, one Transformer-XL baseline.
  for (const char* seed : {"1", "2"})
    REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file(std::string("a") + seed), 8) +
                                    " --set seed=" + seed,
                                log) == 0);
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("t"), 8) + " --set persist=0 --set d_ffn=16",
                              log) == 0);
  const std::string dense = dir.file("a1/last.safetensors") + "," + dir.file("a2/last.safetensors") + "," +
                            dir.file("t/last.safetensors");
  const std::string cmd = "compare --dense " + dense + " --config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-small-prune.json" +
                          " --set steps=4 --set eval_every=4 --set eval_segments=2 --set l0_warmup=2 --threads 2" +
                          " --methods magnitude,random --budgets 0.5 --seeds 1,2 --out " + dir.file("grid");
  REQUIRE(test::run_headcount(cmd, log) == 0);
  CAPTURE(log);
  std::ifstream csv(dir.file("grid/results.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line ==
        "model,method,budget,seed,heads,parameters,valid_loss,valid_bits,valid_bits_min,valid_bits_max,tok_s,choose_s,select_s");
  std::map<std::string, std::vector<std::string>> rows;  // "model method seed"
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream in(line);
    std::string cell;
    while (std::getline(in, cell, ',')) f.push_back(cell);
    REQUIRE(f.size() == 13);
    rows[f[0] + " " + f[1] + " " + f[3]] = f;
  }
  // Per seed: 2 allatt dense + 1 txl dense + 2 models x 2 methods x 2 seeds; a summary row per cell: 6.
  REQUIRE(rows.size() == 3 + 8 + 6);
  CHECK(rows["allatt dense mean"][4] == "4.00");
  for (const char* key : {"allatt magnitude", "allatt random", "txl magnitude", "txl random"}) {
    CAPTURE(key);
    for (const char* seed : {" 1", " 2"}) CHECK(rows[key + std::string(seed)][4] == "2");  // half of 2 layers x 2 heads
    const std::vector<std::string>& mean = rows[key + std::string(" mean")];
    CHECK(std::stod(mean[8]) <= std::stod(mean[7]));
    CHECK(std::stod(mean[7]) <= std::stod(mean[9]));
    CHECK(std::stod(mean[10]) > 0);
    CHECK((std::stod(mean[11]) >= 0 && std::stod(mean[12]) > 0));  // choose_s (scoring), select_s (4 steps)
  }
  CHECK(std::stod(rows["allatt dense mean"][12]) == 0);
  // The two dense seeds differ, so the allatt dense summary has a range.
  CHECK(std::stod(rows["allatt dense mean"][8]) < std::stod(rows["allatt dense mean"][9]));
  // Pairing: pruning seed i starts from dense checkpoint i; one baseline checkpoint serves both seeds.
  for (const char* seed : {"1", "2"}) {
    const nlohmann::json a = nlohmann::json::parse(std::ifstream(dir.file(std::string("grid/allatt-magnitude-0.50-s") + seed + "/result.json")));
    CHECK(a["dense"] == dir.file(std::string("a") + seed + "/last.safetensors"));
    CHECK(!a.contains("tok_s"));  // speed is not kept with the run: every invocation times the whole grid again
    const nlohmann::json t = nlohmann::json::parse(std::ifstream(dir.file(std::string("grid/txl-random-0.50-s") + seed + "/result.json")));
    CHECK(t["dense"] == dir.file("t/last.safetensors"));
    CHECK(t["seed"] == std::stoi(seed));
  }
  // All-attention sheds half of what its heads own with half its heads (the
  // per-layer LayerNorm and output bias, 3C = 96 per layer, stay); the
  // baseline keeps its feed-forward blocks too.
  CHECK(std::stoll(rows["allatt magnitude 1"][5]) * 2 <= std::stoll(rows["allatt dense 1"][5]) + 2 * 96);
  CHECK(std::stoll(rows["txl magnitude 1"][5]) * 2 > std::stoll(rows["txl dense 1"][5]));
  // Each plot: one series per model and method, each with its dense point and the pruned one; error bars where seeds differ.
  for (const char* svg : {"grid/loss_vs_parameters.svg", "grid/loss_vs_time.svg"}) {
    std::ifstream in(dir.file(svg));
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    size_t circles = 0;
    for (size_t at = text.find("<circle"); at != std::string::npos; at = text.find("<circle", at + 1)) ++circles;
    CHECK(circles == 8);
    CHECK(text.find("data-series=\"txl random\"") != std::string::npos);
    CHECK(text.find("data-lo=") != std::string::npos);
  }
  // `headcount report` reads the grid back: dense against pruned, the ranges over seeds as error bars.
  REQUIRE(test::run_headcount("report " + dir.file("grid"), log) == 0);
  const std::string page = test::read_text(dir.file("grid/report.html"));
  CHECK(page.find("could not draw") == std::string::npos);
  CHECK(page.find("<td>txl</td><td>random</td><td>0.50</td><td>2</td>") != std::string::npos);
  CHECK(page.find("data-lo=") != std::string::npos);
  // Again: every cell is finished, so nothing is pruned anew.
  const auto before = std::filesystem::last_write_time(dir.file("grid/txl-random-0.50-s2/metrics.jsonl"));
  REQUIRE(test::run_headcount(cmd, log) == 0);
  CHECK(std::filesystem::last_write_time(dir.file("grid/txl-random-0.50-s2/metrics.jsonl")) == before);
  // The baseline's run lengthened (its checkpoint is now at step 12): its cells were pruned from step 8, and are refused.
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("t"), 12) +
                                  " --set persist=0 --set d_ffn=16 --resume", log) == 0);
  CHECK(test::run_headcount(cmd, log) == 2);
  CHECK(log.find("was pruned from " + dir.file("t/last.safetensors") + " at step 8, which is now at step 12") !=
        std::string::npos);
  // Bad input: a budget outside (0, 1], two dense seeds for three pruning seeds, an unknown method, a repeated seed.
  auto refused = [&](const std::string& flags, const std::string& words) {
    CAPTURE(flags);
    CHECK(test::run_headcount("compare --dense " + dense + " --config x.json --out " + dir.file("g2") + " " + flags, log) == 2);
    CHECK(log.find(words) != std::string::npos);
  };
  refused("--budgets 1.5", "--budgets");
  refused("--seeds 1,2,3", "has 2 dense checkpoints for 3 seeds");
  refused("--methods l0,nope", "'nope' is not a choice; allowed: a comma list of 1 to 1024 distinct values, each one of l0, topk");
  refused("--seeds 1,1", "--seeds: '1' is given twice");
}
