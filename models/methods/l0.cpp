// `l0`: layer-wise L0 head pruning (Louizos et al. 2018, as Shim et al. 2021
// apply it to attention heads; docs/spec.md).
//
// Every head h has a hard-concrete gate with a learned logit log_alpha_h.
// Each forward pass samples the gates (models/gates.h), and the loss gains a
// penalty on the expected number of open gates E = sum_h P(z_h != 0), a
// differentiable function of the logits:
//   coefficient mode (no budget)  lambda(t) * E, lambda ramping linearly from
//                                 0 to l0_coefficient over l0_warmup steps;
//   budget mode (K heads)         l0_coefficient * (E - K_t)^2 / H, H all heads,
//                                 K_t ramping from H down to K over l0_warmup.
// The quadratic pull on the gates is proportional to the distance from K_t
// and vanishes there, from either side. (A dual-ascent multiplier on the
// linear penalty, as in FLOP and CoFi, was tried first: its integral lag made
// the head count swing from 16 to 0 and back on moby-char-small.) With a
// budget, the last step of the selection reads the gates out exactly: the K
// heads with the largest logits stay, so compaction lands on K.
// The gates learn gate_lr_scale times faster than the weights.
#include "autograd/ops.h"
#include "models/gates.h"
#include "models/methods/budget_ramp.h"

namespace hc {

namespace {

class L0 final : public PruningMethod {
 public:
  explicit L0(const PruneSetup& s) : s_(s) {}
  double gate_lr_scale() const override { return s_.config.gate_lr_scale; }

  Variable penalty(const AllAttLM& model, int64_t step) override {
    if (step != step_) {  // the first micro-batch of a step
      step_ = step;
      expected_open_ = 0;
      const double ramp = warmup_ramp(s_, step);
      lambda_ = s_.budget > 0 ? s_.config.l0_coefficient : s_.config.l0_coefficient * ramp;
      target_ = target_at(s_, step);
    }
    Variable expected_open;  // sum over layers of the expected open heads
    for (const Variable& log_alpha : model.gate_logits()) {
      const Variable open = l0_penalty(log_alpha);
      expected_open = expected_open.defined() ? add(expected_open, open) : open;
    }
    expected_open_ += expected_open.value().item() / static_cast<double>(s_.accum);
    if (s_.budget == 0) return scale(expected_open, lambda_);
    const Variable gap = add(expected_open, Variable(Tensor::full({1}, -target_, expected_open.value().dtype(),
                                                                  expected_open.value().device())));
    return scale(mul(gap, gap), lambda_ / double(s_.heads));
  }

  void after_step(AllAttLM& model, int64_t done) override {
    if (s_.budget > 0 && done == s_.steps) read_out_top(model, s_.budget);
  }

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t, RngStream& rng) override {
    return layer_gates(model, rng, /*training=*/true, s_.config.output_scaling);
  }
  void report_own(int64_t, nlohmann::json& m) const override {
    m["l0"] = expected_open_;  // mean expected open count over the step's micro-batches
    m["lambda"] = lambda_;
    if (s_.budget > 0) m["target_heads"] = target_;
  }

 private:
  PruneSetup s_;
  int64_t step_ = -1;
  double expected_open_ = 0, lambda_ = 0, target_ = 0;
};

}  // namespace

std::unique_ptr<PruningMethod> make_l0(const PruneSetup& s) { return std::make_unique<L0>(s); }

}  // namespace hc
