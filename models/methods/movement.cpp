// `movement`: movement pruning with a whole head as the block (Sanh, Wolf
// and Rush 2020, "Movement Pruning"; Lagunas, Charlaix, Sanh and Rush,
// "Block Pruning For Faster Transformers", EMNLP 2021, arXiv 2109.04838).
//
// The papers: every block b of weights has a score S_b, the forward pass
// keeps the blocks of the top scores (the rest masked to zero, their share
// falling to the target on a cubic schedule), and the straight-through
// gradient of the scores is
//   dL/dS_b = sum over the weights i of b of (dL/dW_i) W_i,
// so a block whose weights move away from zero (gradient and weight of
// opposite signs) gains score, one whose weights shrink loses it: the score
// is the movement, not the size. Plain SGD on S makes it
//   S_b(t) = -lr_S sum over steps s <= t of sum_i (dL/dW_i)(s) W_i(s).
//
// Here a block is everything head h owns (its rows of q/k/v/r, its u/v
// biases, its persistent keys and values, its columns of the output
// projection: what compaction removes), S_h is the head's gate logit, and
// after each step's backward (before_step: the gradients averaged over
// ranks and clipped, before the optimizer uses them)
//   S_h <- S_h - sum_{i in h} (dL/dW_i) W_i,
// that is the SGD form with lr_S = 1. Only the order of the scores matters
// (the forward pass keeps the K_t largest), so after each update every S_h
// is shifted by one constant that puts the K_t best at >= 0 and the others
// below: the deterministic gates (logit >= 0) then name the heads in use,
// and validation, open_prob and compaction see the set the run trains.
// K_t falls from all heads to the
// budget on the papers' cubic schedule over l0_warmup steps,
//   K_t = K + (H - K) (1 - (t+1)/l0_warmup)^3,
// and after the last selection step the K best stay (read_out_top).
// Note that sum_{i in h} (dL/dW_i) W_i = d/da L(a W_h) at a = 1, the
// loss's sensitivity to scaling the whole head. What differs from the
// papers: S is accumulated by hand (no Adam on the scores, no separate
// score learning rate), and a masked head's weights get no gradient (its
// output is multiplied by 0), so its score stays where it was until an open
// head's falls below it; under the papers' straight-through mask of a whole
// head, its q/k/v weights are also masked and the same holds but for a
// residue of its output-projection term.
#include <algorithm>
#include <cmath>

#include "models/gates.h"
#include "models/methods/budget_ramp.h"
#include "models/methods/head_sets.h"

namespace hc {

namespace {

// sum over head h's block of (dL/dW) W, for each head of the layer.
std::vector<double> weight_times_gradient(const AllAttLayer& layer) {
  const int64_t H = layer.shape().H, D = layer.shape().D;
  std::vector<double> score(H, 0.0);
  if (H == 0) return score;
  auto add = [&](const Variable& v, auto head_of) {
    if (!v.defined() || v.numel() == 0 || !v.grad().defined()) return;
    const std::vector<double> w = v.value().to_vector(), g = v.grad().to_vector();
    for (size_t i = 0; i < w.size(); ++i) score[head_of(i)] += w[i] * g[i];
  };
  // (H*D, C), (H, D), (H, N, D): H contiguous blocks.
  for (const Variable* v : {&layer.q_w, &layer.k_w, &layer.v_w, &layer.r_w, &layer.u_bias, &layer.v_bias,
                            &layer.persist_k, &layer.persist_v}) {
    const size_t per = static_cast<size_t>(v->numel() / H);
    add(*v, [per](size_t i) { return i / per; });
  }
  // (C, H*D): head h owns columns h*D .. h*D + D-1.
  const size_t HD = static_cast<size_t>(H * D);
  add(layer.out_w, [HD, D](size_t i) { return (i % HD) / static_cast<size_t>(D); });
  return score;
}

class Movement final : public PruningMethod {
 public:
  explicit Movement(const PruneSetup& s) : s_(s) {}

  void before_step(AllAttLM& model, int64_t step) override {
    HeadScores scores = gate_logit_values(model);
    for (size_t l = 0; l < scores.size(); ++l) {
      const std::vector<double> moved = weight_times_gradient(model.layers()[l]);
      for (size_t h = 0; h < moved.size(); ++h) scores[l][h] -= moved[h];
    }
    set_logits_centred(model, scores, kept_at(step));
  }
  void after_step(AllAttLM& model, int64_t done) override {
    if (done == s_.steps) read_out_top(model, s_.budget);
  }
  int64_t heads_in_use(const AllAttLM& model, int64_t done) const override {
    return done < s_.steps ? kept_at(done - 1) : PruningMethod::heads_in_use(model, done);
  }

 protected:
  // The K_t heads of largest score, as fixed gates (the scores learn in before_step, not by gradient).
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t step, RngStream&) override {
    std::vector<bool> open;
    for (const std::vector<bool>& layer : top_heads(gate_logit_values(model), kept_at(step)).keep)
      open.insert(open.end(), layer.begin(), layer.end());
    return set_gates(model, open, s_.config.output_scaling);
  }
  void report_own(int64_t done, nlohmann::json& m) const override { m["target_heads"] = kept_at(done - 1); }

 private:
  // K_t, the cubic schedule.
  int64_t kept_at(int64_t step) const {
    const double left = 1.0 - warmup_ramp(s_, step);
    return s_.budget + std::llround(double(s_.heads - s_.budget) * left * left * left);
  }

  PruneSetup s_;
};

}  // namespace

std::unique_ptr<PruningMethod> make_movement(const PruneSetup& s) { return std::make_unique<Movement>(s); }

}  // namespace hc
