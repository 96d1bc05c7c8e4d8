// `l0`: layer-wise L0 head pruning (Louizos et al. 2018, as Shim et al. 2021
// apply it to attention heads; docs/spec.md sections 5, 6 and 8).
//
// Every head h has a hard-concrete gate with a learned logit log_alpha_h.
// Each forward pass samples the gates (models/gates.h), and the loss gains a
// term in the expected number of open gates E = sum_h P(z_h != 0), a
// differentiable function of the logits. Which term depends on the budget:
//   no budget (coefficient mode)   lambda(t) E, lambda ramping linearly from
//                                  0 to l0_coefficient over l0_warmup steps;
//   a budget of K heads, with l0_budget_mode
//     quadratic (the default)      l0_coefficient (E - K_t)^2 / H, H all heads;
//     lagrangian (as CoFi and      lambda1 (E - K_t) + lambda2 (E - K_t)^2,
//     Sheared-LLaMA)               the multipliers learned by gradient ascent
//                                  on the same term: after each step
//                                  lambda1 += lagrangian_lr (E - K_t) and
//                                  lambda2 += lagrangian_lr (E - K_t)^2,
// K_t ramping from H down to K over l0_warmup steps. The quadratic pull on
// the gates is proportional to the distance from K_t and vanishes there,
// from either side. The Lagrangian's multiplier integrates the gap instead,
// so it can overshoot: its lag is what made the head count swing on
// moby-char-small when it was tried first; it is kept as a mode to compare.
// With a budget, the last step of the selection reads the gates out exactly:
// the K heads with the largest logits stay, so compaction lands on K; the
// open count just before (open_before_readout) says how close the penalty
// alone came. The gates learn gate_lr_scale times faster than the weights.
//
// With a time budget (target_ms or target_speedup, models/time_budget.h) the
// penalty is on the expected predicted time E_t (each head's P(open) times
// its marginal cost under the cost model, a layer's fixed cost times
// P(some head of it open)) instead of the expected head count: the gap is
// (E_t - T_t) / t_head, T_t ramping from the dense predicted time down to the
// budget over l0_warmup, t_head = (dense time - emptied time) / H the mean
// time of a head. Measured in heads this way, the gap is E - K_t exactly when
// every head costs the same and no layer empties, so the same l0_coefficient
// (quadratic) or lagrangian_lr pulls as hard as with a head budget. The
// readout keeps the heads of highest P(open) per second of marginal time
// that fit the budget (heads_within_time): P(open) grows with the logit and
// is positive, so a closed head's low logit ranks it low without a sign
// flipping the ratio. Logs expected_ms (E_t) and target_ms (T_t).
#include "autograd/ops.h"
#include "models/gates.h"
#include "models/methods/budget_ramp.h"
#include "models/time_budget.h"

namespace hc {

namespace {

class L0 final : public PruningMethod {
 public:
  explicit L0(const PruneSetup& s)
      : s_(s), budgeted_(s.budget > 0 || s.cost), lagrangian_(budgeted_ && s.config.l0_budget_mode == "lagrangian") {}
  double gate_lr_scale() const override { return s_.config.gate_lr_scale; }

  Variable penalty(const AllAttLM& model, int64_t step) override {
    if (step != step_) start_step(model, step);
    Variable expected_open;  // sum over layers of the expected open heads
    for (const Variable& log_alpha : model.gate_logits()) {
      const Variable open = l0_penalty(log_alpha);
      expected_open = expected_open.defined() ? add(expected_open, open) : open;
    }
    expected_open_ += expected_open.value().item() / static_cast<double>(s_.accum);
    if (!budgeted_) return scale(expected_open, lambda_);
    const Variable gap = s_.cost ? time_gap(model) : shift(expected_open, -target_);
    if (lagrangian_) return add(scale(gap, lambda1_), scale(mul(gap, gap), lambda2_));
    return scale(mul(gap, gap), lambda_ / double(s_.heads));
  }

  void after_step(AllAttLM& model, int64_t done) override {
    if (lagrangian_) {  // dual ascent on the step's mean gap
      const double gap = s_.cost ? (expected_s_ - target_) / head_s_ : expected_open_ - target_;
      lambda1_ += s_.config.lagrangian_lr * gap;
      lambda2_ += s_.config.lagrangian_lr * gap * gap;
    }
    if (!budgeted_ || done != s_.steps) return;
    open_before_readout_ = kept_heads(model).count();
    if (s_.cost) read_out(model, heads_within_time(open_probabilities(model), *s_.cost, s_.budget_s));
    else read_out_top(model, s_.budget);
  }

  // The multipliers are run state: a resumed run continues with them.
  std::map<std::string, Tensor> state() const override {
    if (!lagrangian_) return {};
    return {{"lambda1", Tensor::from_vector({1}, {lambda1_}, DType::F64)},
            {"lambda2", Tensor::from_vector({1}, {lambda2_}, DType::F64)}};
  }
  void load_state(const std::map<std::string, Tensor>& state) override {
    if (!lagrangian_) return;
    check(state.count("lambda1") && state.count("lambda2"),
          "checkpoint: no Lagrangian multipliers (method.lambda1, method.lambda2): was the run started with another "
          "l0_budget_mode?");
    lambda1_ = state.at("lambda1").item();
    lambda2_ = state.at("lambda2").item();
  }

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t, RngStream& rng) override {
    return layer_gates(model, rng, /*training=*/true, s_.config.output_scaling);
  }
  void report_own(int64_t done, nlohmann::json& m) const override {
    m["l0"] = expected_open_;  // mean expected open count over the step's micro-batches
    if (lagrangian_) {
      m["lambda1"] = lambda1_;
      m["lambda2"] = lambda2_;
    } else {
      m["lambda"] = lambda_;
    }
    if (s_.cost) {
      m["expected_ms"] = expected_s_ * 1e3;
      m["target_ms"] = target_ * 1e3;
    } else if (s_.budget > 0) {
      m["target_heads"] = target_;
    }
    if (budgeted_ && done == s_.steps) m["open_before_readout"] = open_before_readout_;
  }

 private:
  // The schedule of step `step`: the coefficient and the target, a head
  // count or (time budget) seconds, from the dense model's down to the budget.
  void start_step(const AllAttLM& model, int64_t step) {
    step_ = step;
    expected_open_ = expected_s_ = 0;
    const double ramp = warmup_ramp(s_, step);
    lambda_ = budgeted_ ? s_.config.l0_coefficient : s_.config.l0_coefficient * ramp;
    if (!s_.cost) {
      target_ = target_at(s_, step);
      return;
    }
    std::vector<int64_t> heads;
    for (const Variable& g : model.gate_logits()) heads.push_back(g.numel());
    const double dense = s_.cost->predict(heads), emptied = s_.cost->predict(std::vector<int64_t>(heads.size(), 0));
    target_ = dense - ramp * (dense - s_.budget_s);
    head_s_ = (dense - emptied) / double(s_.heads);
  }

  // (E_t - T_t) / t_head, (1): the expected time's distance from the target, in mean heads.
  Variable time_gap(const AllAttLM& model) {
    const Variable t = expected_time(model.gate_logits(), *s_.cost);
    expected_s_ += t.value().item() / static_cast<double>(s_.accum);
    return scale(shift(t, -target_), 1.0 / head_s_);
  }

  // x + c for a (1) variable x.
  static Variable shift(const Variable& x, double c) {
    return add(x, Variable(Tensor::full({1}, c, x.value().dtype(), x.value().device())));
  }

  PruneSetup s_;
  bool budgeted_, lagrangian_;
  int64_t step_ = -1, open_before_readout_ = 0;
  double expected_open_ = 0, expected_s_ = 0, lambda_ = 0, target_ = 0;
  double head_s_ = 0;  // time budget: the mean time of a head, t_head
  double lambda1_ = 0, lambda2_ = 0;  // the Lagrangian's multipliers
};

}  // namespace

std::unique_ptr<PruningMethod> make_l0(const PruneSetup& s) { return std::make_unique<L0>(s); }

}  // namespace hc
