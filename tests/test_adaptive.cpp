// Adaptive input and adaptive softmax (models/adaptive.h): parameter counts
// against the formula and the paper's numbers, float64 finite differences of
// the loss alone and of a whole model (word dropout included), the efficient
// loss against the assembled full distribution, learning, compaction, the
// analytic output-layer cost, and config errors that name the key.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "autograd/gradcheck.h"
#include "autograd/optim.h"
#include "models/allatt_lm.h"
#include "models/head_cost.h"
#include "models/compaction.h"
#include "models/gates.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

// V = 13 words in three clusters: [0,4) width 6, [4,9) width 3, [9,13) width 1.
AllAttConfig adaptive_config() {
  AllAttConfig c = test::tiny_model({.vocab = 13, .seg_len = 4});
  c.adaptive_cutoffs = {4, 9};
  c.adaptive_div = 2.0;  // widths 6, 3, 1
  return c;
}

// Every parameter random (biases too), so that no term is trivially zero.
void randomize(const std::vector<Variable>& params, uint64_t seed) {
  for (const Variable& p : params)
    p.value().copy_from(test::random_tensor(p.shape(), p.value().dtype(), seed++, 0.05, 0.6));
}

// Targets that visit every cluster, some words twice.
const std::vector<int64_t> kWords{0, 5, 12, 3, 9, 4, 8, 1, 10, 5, 2, 11};

std::string message_of(const AllAttConfig& c) {
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("adaptive: parameter count matches the formula, and the paper's adaptive input and softmax") {
  const AllAttConfig c = adaptive_config();
  AllAttLM model(c, 1, DType::F32);
  CHECK(!model.embed.defined());
  CHECK(model.parameter_count(true) == c.analytic_parameters(true));
  CHECK(model.parameter_count(false) == c.analytic_parameters(false));
  // Adaptive parts are embedding-side parameters: the non-embedding count is the tied model's.
  AllAttConfig tied = c;
  tied.adaptive_cutoffs.clear();
  CHECK(c.analytic_parameters(false) == tied.analytic_parameters(false));
  // Tables 4*6 + 5*3 + 4*1, projections 6*(6+3+1), biases 13, Q 36, cluster logits 2*6 + 2.
  CHECK(adaptive_parameter_count(13, 6, {4, 9}, 2.0) == 43 + 60 + 13 + 36 + 14);

  // WT103 (spec section 2): cutoffs 20000, 40000, 200000, div 4, C = 512:
  // "adaptive input 18.81M + untied output parts 0.53M".
  const int64_t n = adaptive_parameter_count(267735, 512, {20000, 40000, 200000}, 4.0);
  std::printf("wt103 adaptive input + softmax parameters: %lld (spec: 18.81M + 0.53M)\n", static_cast<long long>(n));
  CHECK(std::fabs(double(n) - 19.34e6) <= 0.01e6);
}

TEST_CASE("adaptive: float64 finite differences of the adaptive loss alone") {
  const Adaptive a(13, 6, {4, 9}, 2.0, DType::F64, Device::CPU);
  randomize(a.parameters(), 10);
  std::vector<Variable> inputs{Variable(test::random_tensor({12, 6}, DType::F64, 3), true, "h")};
  for (const Variable& p : a.parameters())
    if (p.name() != "adaptive.proj.0.weight") inputs.push_back(p);  // the shortlist's input projection: input side only
  const Tensor targets = Tensor::from_ids({12}, kWords);
  const GradCheckResult r =
      gradcheck([&](const std::vector<Variable>& v) { return a.loss(v[0], targets); }, inputs);
  std::printf("adaptive loss gradcheck: max relative error %.3g\n", r.max_error);
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
}

TEST_CASE("adaptive: float64 finite differences over every parameter of a tiny adaptive model") {
  AllAttConfig c = adaptive_config();
  SUBCASE("evaluation") {}
  SUBCASE("training, with word dropout on the cluster tables") { c.dropout_word = 0.3; }
  AllAttLM model(c, 7, DType::F64);
  randomize(model.parameters(), 100);
  const Tensor x = Tensor::from_ids({2, 4}, {1, 5, 12, 6, 0, 9, 3, 11}),
               y = Tensor::from_ids({2, 4}, {5, 12, 6, 0, 9, 3, 11, 4});
  const bool training = c.dropout_word > 0;
  Memory warm = model.initial_memory(2);
  {
    NoGrad no_grad;
    RngStream rng{1, 0};
    model.loss(x, y, warm, false, rng);
  }
  const GradCheckResult r = gradcheck(
      [&](const std::vector<Variable>&) {
        Memory mem = warm;
        RngStream rng{5, 0};  // the same word-dropout mask on every evaluation
        return model.loss(y, x, mem, training, rng);
      },
      model.parameters());
  std::printf("adaptive model gradcheck (%s): max relative error %.3g\n", training ? "training" : "eval", r.max_error);
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
}

TEST_CASE("adaptive: the loss is -mean log of the assembled distribution, which sums to 1") {
  const AllAttConfig c = adaptive_config();
  AllAttLM model(c, 3, DType::F64);
  randomize(model.parameters(), 200);
  const Tensor x = Tensor::from_ids({3, 4}, {1, 5, 12, 6, 0, 9, 3, 11, 7, 2, 10, 8}),
               y = Tensor::from_ids({3, 4}, kWords);
  NoGrad no_grad;
  RngStream rng{1, 0};
  Memory m1 = model.initial_memory(3), m2 = model.initial_memory(3);
  const std::vector<double> lp = model.logits(x, m1, false, rng).value().to_vector();
  const double loss = model.loss(x, y, m2, false, rng).value().item();
  const int64_t V = c.vocab;
  REQUIRE(lp.size() == kWords.size() * V);
  double nll = 0, worst_sum = 0;
  for (size_t r = 0; r < kWords.size(); ++r) {
    double total = 0;
    for (int64_t w = 0; w < V; ++w) total += std::exp(lp[r * V + w]);
    worst_sum = std::max(worst_sum, std::fabs(total - 1));
    nll -= lp[r * V + kWords[r]] / double(kWords.size());
  }
  CHECK(worst_sum <= 1e-12);
  CHECK(loss == doctest::Approx(nll).epsilon(1e-12));
  // Both paths left the same memory behind.
  CHECK(m1.layers[1].to_vector() == m2.layers[1].to_vector());
}

TEST_CASE("adaptive: a tiny model with adaptive input and softmax learns") {
  AllAttConfig c = adaptive_config();
  c.dropout_word = 0.1;
  AllAttLM model(c, 4, DType::F32);
  // A repeating sequence that visits every cluster: predictable after one period.
  std::vector<int64_t> stream;
  for (int i = 0; i < 40; ++i) stream.push_back(kWords[i % kWords.size()]);
  const Tensor x = Tensor::from_ids({2, 4}, std::vector<int64_t>(stream.begin(), stream.begin() + 8)),
               y = Tensor::from_ids({2, 4}, std::vector<int64_t>(stream.begin() + 1, stream.begin() + 9));
  Optimizer opt({ParamGroup{model.parameters(), 1.0, 0.0}}, OptimizerConfig{});
  RngStream rng{2, 0};
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    Memory mem = model.initial_memory(2);
    const Variable loss = model.loss(x, y, mem, true, rng);
    (step == 0 ? first : last) = loss.value().item();
    loss.backward();
    opt.step(1e-2);
    opt.zero_grad();
  }
  std::printf("adaptive tiny model: loss %.3f -> %.3f\n", first, last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("adaptive: a compacted adaptive model equals the gated one") {
  const AllAttConfig c = adaptive_config();
  AllAttLM gated(c, 8, DType::F64);
  randomize(gated.parameters(), 300);
  gated.add_gates(1.0);
  gated.gate_logits()[0].value().copy_from(Tensor::from_vector({2}, {1.0, -1.0}, DType::F64));  // head 1 of layer 0 closed
  const std::unique_ptr<AllAttLM> small = compact(gated, false);
  const Tensor x = Tensor::from_ids({1, 4}, {1, 5, 12, 6});
  NoGrad no_grad;
  RngStream rng{1, 0};
  Memory ma = gated.initial_memory(1), mb = small->initial_memory(1);
  const std::vector<double> a = gated.logits(x, ma, false, rng, layer_gates(gated, rng, false, false)).value().to_vector();
  const std::vector<double> b = small->logits(x, mb, false, rng).value().to_vector();
  CHECK(test::max_rel_diff(a, b) <= 1e-12);
}

TEST_CASE("adaptive: the analytic output-layer cost counts the head and each tail") {
  const AllAttConfig c = adaptive_config();  // V 13, C 6, clusters of 4, 5, 4 words, widths 6, 3, 1
  const std::vector<PartCost> parts = outside_cost(c, 2);
  REQUIRE(parts.size() == 1);
  const double R = 8;  // B T
  // Head: Q, then 4 words + 2 cluster logits, and its cross-entropy.
  double want = 2 * R * 6 * 6 + 2 * R * 6 * 6 + 4 * R * 6;
  // Tails on R V_i / V rows: h P_i, logits, cross-entropy.
  for (auto [words, d] : {std::pair{5.0, 3.0}, {4.0, 1.0}}) {
    const double rows = R * words / 13;
    want += 2 * rows * 6 * d + 2 * rows * d * words + 4 * rows * words;
  }
  CHECK(parts[0].forward_flops == doctest::Approx(want).epsilon(1e-12));
  CHECK(!parts[0].per_head);
}

TEST_CASE("adaptive: bad adaptive_cutoffs and adaptive_div are refused, naming the key") {
  AllAttConfig c = adaptive_config();
  CHECK(message_of(c).empty());
  c.adaptive_cutoffs = {9, 4};
  CHECK(message_of(c).find("adaptive_cutoffs must be positive and strictly increasing, got [9, 4]") != std::string::npos);
  c.adaptive_cutoffs = {0, 4};
  CHECK(message_of(c).find("adaptive_cutoffs must be positive") != std::string::npos);
  c.adaptive_cutoffs = {4, 13};
  CHECK(message_of(c).find("adaptive_cutoffs entry 13 is not below the vocabulary size 13") != std::string::npos);
  c.vocab = 0;  // a config before its tokenizer: the vocabulary check waits for the model
  CHECK(message_of(c).empty());
  c.vocab = 13;
  c.adaptive_cutoffs = {4, 9};
  c.adaptive_div = 0.5;
  CHECK(message_of(c).find("adaptive_div must be >= 1") != std::string::npos);
  c.adaptive_div = 7;  // 6 / 7 rounds to 0
  CHECK(message_of(c).find("adaptive_div = 7 leaves cluster 2 with width floor(6 / 7^2) = 0") != std::string::npos);
  // An absurd size is refused before anything is allocated: 2,000 clusters of
  // full width C = 100,000 would need 2,000 projections of C x C.
  c.vocab = 0;
  c.d_model = 100000;
  c.adaptive_div = 1;
  c.adaptive_cutoffs.clear();
  for (int64_t k = 1; k <= 2000; ++k) c.adaptive_cutoffs.push_back(k);
  CHECK(message_of(c).find("parameters exceed the limit of 2^34") != std::string::npos);
}

TEST_CASE("cli: adaptive softmax trains, evaluates and generates at word level; bad cutoffs are refused") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  const std::string word = " --set tokenizer=word --set 'adaptive_cutoffs=[4,12]'";
  std::string out;
  REQUIRE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("run"), 8) + word, out) == 0);
  const std::string ckpt = dir.file("run/last.safetensors");
  REQUIRE(test::run_headcount("eval --from " + ckpt + " --split test", out) == 0);
  CHECK(out.find("perplexity") != std::string::npos);
  REQUIRE(test::run_headcount("generate --from " + ckpt + " --prompt 'the whale' --tokens 5", out) == 0);
  CHECK(out.rfind("the whale", 0) == 0);
  const std::string more = " --set tokenizer=word --set 'adaptive_cutoffs=[4,1000]'";
  CHECK(test::run_headcount("train " + test::tiny_training(corpus, dir.file("x"), 8) + more, out) == 2);
  CAPTURE(out);
  CHECK(out.find("adaptive_cutoffs entry 1000 is not below the vocabulary size") != std::string::npos);
  CHECK(test::run_headcount("train " + test::tiny_training(corpus, dir.file("x"), 8) + " --set adaptive_div=0", out) == 2);
  CHECK(out.find("adaptive_div must be >= 1") != std::string::npos);
}
