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
#include "autograd/ops.h"
#include "models/gates.h"
#include "models/methods/budget_ramp.h"

namespace hc {

namespace {

class L0 final : public PruningMethod {
 public:
  explicit L0(const PruneSetup& s) : s_(s), lagrangian_(s.budget > 0 && s.config.l0_budget_mode == "lagrangian") {}
  double gate_lr_scale() const override { return s_.config.gate_lr_scale; }

  Variable penalty(const AllAttLM& model, int64_t step) override {
    if (step != step_) start_step(step);
    Variable expected_open;  // sum over layers of the expected open heads
    for (const Variable& log_alpha : model.gate_logits()) {
      const Variable open = l0_penalty(log_alpha);
      expected_open = expected_open.defined() ? add(expected_open, open) : open;
    }
    expected_open_ += expected_open.value().item() / static_cast<double>(s_.accum);
    if (s_.budget == 0) return scale(expected_open, lambda_);
    const Variable gap = add(expected_open, Variable(Tensor::full({1}, -target_, expected_open.value().dtype(),
                                                                  expected_open.value().device())));
    if (lagrangian_) return add(scale(gap, lambda1_), scale(mul(gap, gap), lambda2_));
    return scale(mul(gap, gap), lambda_ / double(s_.heads));
  }

  void after_step(AllAttLM& model, int64_t done) override {
    if (lagrangian_) {  // dual ascent on the step's mean gap
      const double gap = expected_open_ - target_;
      lambda1_ += s_.config.lagrangian_lr * gap;
      lambda2_ += s_.config.lagrangian_lr * gap * gap;
    }
    if (s_.budget == 0 || done != s_.steps) return;
    open_before_readout_ = kept_heads(model).count();
    read_out_top(model, s_.budget);
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
    if (s_.budget > 0) m["target_heads"] = target_;
    if (s_.budget > 0 && done == s_.steps) m["open_before_readout"] = open_before_readout_;
  }

 private:
  // The schedule of step `step`: the coefficient and the target head count.
  void start_step(int64_t step) {
    step_ = step;
    expected_open_ = 0;
    const double ramp = warmup_ramp(s_, step);
    lambda_ = s_.budget > 0 ? s_.config.l0_coefficient : s_.config.l0_coefficient * ramp;
    target_ = target_at(s_, step);
  }

  PruneSetup s_;
  bool lagrangian_;
  int64_t step_ = -1, open_before_readout_ = 0;
  double expected_open_ = 0, lambda_ = 0, target_ = 0;
  double lambda1_ = 0, lambda2_ = 0;  // the Lagrangian's multipliers
};

}  // namespace

std::unique_ptr<PruningMethod> make_l0(const PruneSetup& s) { return std::make_unique<L0>(s); }

}  // namespace hc
