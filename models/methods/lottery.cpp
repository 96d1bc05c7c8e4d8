// `lottery`: iterative head pruning with weight rewinding (Behnke and
// Heafield, "Losing Heads in the Lottery: Pruning Transformer Attention in
// Neural Machine Translation", EMNLP 2020; Prasanna, Rogers and Rumshisky,
// "When BERT Plays the Lottery, All Tickets Are Winning", EMNLP 2020, arXiv
// 2005.00561; after Frankle and Carbin's lottery tickets with rewinding).
//
// The papers: train, remove a fraction of the heads by importance, rewind
// the surviving weights to their values at an early iteration of the dense
// run, retrain, and repeat until the wanted number of heads is left; the
// subnetwork with the early weights is the "ticket".
//
// Here, over the selection's `steps`, in lottery_rounds rounds of equal
// length (round r ends after step e_r = round(r steps / R), e_R = steps):
//   train     the round's steps, every head still open with its gate at
//             exactly 1 (logits +20, closed heads -20, as the scored methods
//             fix them), the weights learning;
//   score     I_h = sum over the round's steps of |dL/dxi_h|, xi_h the
//             multiplier of head h's output: the first-order Taylor
//             importance of Michel et al. 2019 (as `taylor`), read from the
//             training gradients at no extra cost, because
//               dL/dxi_h = sum over h's output-projection columns of (dL/dW) W
//             (the head's output enters the loss only through W_out's
//             columns, linearly); divided by the layer's L2 norm of I;
//   prune     keep the K_r open heads of largest I_h, K_r = H (K/H)^(r/R)
//             rounded (a constant fraction of the heads per round, K_R = K);
//   rewind    every weight (not the gates) back to the checkpoint named by
//             rewind_from: an early checkpoint of the dense run.
// After the last round the model holds exactly K heads and the early
// weights, and the shared fine-tuning phase (finetune_steps) is the final
// retraining. What differs from the papers, and why: the rounds share the
// selection budget that every other method gets rather than training each
// to convergence (the bake-off's rule of equal schedules); the optimizer's
// moments and the learning-rate schedule are not rewound (the training loop
// owns them; the weights are what the ticket is); the importance is
// accumulated over the round's training steps rather than measured on a
// separate pass. The accumulators are method state, so a run resumed
// mid-round continues bit for bit.
#include <cmath>
#include <limits>

#include "models/gates.h"
#include "models/pruning_method.h"

namespace hc {

namespace {

class Lottery final : public PruningMethod {
 public:
  explicit Lottery(const PruneSetup& s) : s_(s), importance_(s.heads, 0.0) {
    check(!s.rewind.empty(), "config: prune_method lottery needs rewind_from: an early checkpoint of the dense run "
                             "(e.g. its step-N.safetensors) to rewind the weights to");
    check(s.config.lottery_rounds >= 1 && s.config.lottery_rounds <= s.steps,
          "config: lottery_rounds must be between 1 and steps (" + std::to_string(s.steps) + "), got " +
              std::to_string(s.config.lottery_rounds));
  }

  // A fresh run starts with every head open, exactly.
  void choose(AllAttLM& model, const ScoreInputs&) override {
    check_rewind_shapes(model);
    set_gate_logits(model, top_heads(gate_logit_values(model), s_.heads), 20.0);
  }
  void before_step(AllAttLM& model, int64_t) override {
    size_t at = 0;
    for (const AllAttLayer& layer : model.layers())
      for (double d : output_sensitivity(layer)) importance_[at++] += std::fabs(d);
  }
  void after_step(AllAttLM& model, int64_t done) override {
    for (int64_t r = 1; r <= rounds(); ++r)
      if (done == round_end(r)) end_round(model, r);
  }

  std::map<std::string, Tensor> state() const override {
    return {{"importance", Tensor::from_vector({s_.heads}, importance_, DType::F64)}};
  }
  void load_state(const std::map<std::string, Tensor>& state) override {
    check(state.count("importance") && state.at("importance").numel() == s_.heads,
          "checkpoint: no lottery importance (method.importance) for " + std::to_string(s_.heads) + " heads");
    importance_ = state.at("importance").to_vector();
  }

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t, RngStream& rng) override {
    return layer_gates(model, rng, /*training=*/true, s_.config.output_scaling);
  }
  void report_own(int64_t done, nlohmann::json& m) const override {
    int64_t r = 1;
    while (r < rounds() && done > round_end(r)) ++r;
    m["round"] = r;
  }

 private:
  int64_t rounds() const { return s_.config.lottery_rounds; }
  int64_t round_end(int64_t r) const { return std::llround(double(r) * double(s_.steps) / double(rounds())); }
  // K_r: a constant fraction of the heads removed per round, exactly K after the last.
  int64_t heads_after(int64_t r) const {
    if (r == rounds()) return s_.budget;
    const double kept = double(s_.heads) * std::pow(double(s_.budget) / double(s_.heads), double(r) / double(rounds()));
    return std::max<int64_t>(s_.budget, std::llround(kept));
  }

  // dL/dxi_h for each head of the layer: (dL/dW_out) W_out summed over h's
  // columns. W_out is (C, H*D); head h owns columns h*D .. h*D + D-1.
  static std::vector<double> output_sensitivity(const AllAttLayer& layer) {
    const int64_t H = layer.shape().H, D = layer.shape().D;
    std::vector<double> d(H, 0.0);
    if (H == 0 || !layer.out_w.grad().defined()) return d;
    const std::vector<double> w = layer.out_w.value().to_vector(), g = layer.out_w.grad().to_vector();
    for (size_t i = 0; i < w.size(); ++i) d[(i % size_t(H * D)) / size_t(D)] += w[i] * g[i];
    return d;
  }

  void end_round(AllAttLM& model, int64_t r) {
    const HeadMask open = kept_heads(model);
    HeadScores scores;
    size_t at = 0;
    for (size_t l = 0; l < open.keep.size(); ++l) {
      std::vector<double> s(importance_.begin() + at, importance_.begin() + at + open.keep[l].size());
      at += open.keep[l].size();
      double norm = 0;
      for (double v : s) norm += v * v;
      for (size_t h = 0; h < s.size(); ++h)  // closed heads stay closed
        s[h] = !open.keep[l][h] ? -std::numeric_limits<double>::infinity() : norm > 0 ? s[h] / std::sqrt(norm) : 0.0;
      scores.push_back(s);
    }
    set_gate_logits(model, top_heads(scores, heads_after(r)), 20.0);
    rewind(model);
    std::fill(importance_.begin(), importance_.end(), 0.0);
  }

  // Every weight (not the gates) to its value in the early checkpoint.
  void rewind(AllAttLM& model) const {
    check_rewind_shapes(model);
    for (const Variable& p : model.parameters())
      if (p.name().find(".gate.") == std::string::npos) p.value().copy_from(s_.rewind.at(p.name()));
  }
  void check_rewind_shapes(const AllAttLM& model) const {
    for (const Variable& p : model.parameters()) {
      if (p.name().find(".gate.") != std::string::npos) continue;
      const auto it = s_.rewind.find(p.name());
      check(it != s_.rewind.end() && it->second.shape() == p.shape() && it->second.dtype() == p.value().dtype(),
            "rewind_from: the checkpoint has no " + p.name() + " of shape " + shape_str(p.shape()) +
                ": it must be a checkpoint of the same dense model");
    }
  }

  PruneSetup s_;
  std::vector<double> importance_;  // I_h over all heads, layer 0's first
};

}  // namespace

std::unique_ptr<PruningMethod> make_lottery(const PruneSetup& s) { return std::make_unique<Lottery>(s); }

}  // namespace hc
