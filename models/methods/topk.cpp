// `topk`: a straight-through top-K over learned head logits, the
// straight-through form of a differentiable exact-K subset (as in
// Differentiable Subset Pruning, Li et al. 2021, without its Gumbel noise and
// temperature annealing; autograd/ops/topk_gate.cpp).
//
// Every forward pass runs with exactly K_t heads open, the K_t largest gate
// logits over all layers, K_t ramping from all heads down to the budget over
// l0_warmup steps; the logits learn through the sigmoid surrogate, gate_lr_scale
// times faster than the weights. The last step of the selection reads the
// logits out, as L0 does, so compaction keeps the final K.
#include "autograd/ops.h"
#include "models/gates.h"
#include "models/methods/budget_ramp.h"

namespace hc {

namespace {

class TopK final : public PruningMethod {
 public:
  explicit TopK(const PruneSetup& s) : s_(s) {}
  double gate_lr_scale() const override { return s_.config.gate_lr_scale; }

  void after_step(AllAttLM& model, int64_t done) override {
    if (done != s_.steps) return;
    open_before_readout_ = kept_heads(model).count();  // logits >= 0, whatever K_t was
    read_out_top(model, s_.budget);
  }
  // During the selection, the mask in use has K_t heads.
  int64_t heads_in_use(const AllAttLM& model, int64_t done) const override {
    return done < s_.steps ? std::llround(target_at(s_, done - 1)) : PruningMethod::heads_in_use(model, done);
  }

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t step, RngStream&) override {
    std::vector<Variable> gates = topk_gates(model.gate_logits(), std::llround(target_at(s_, step)));
    if (s_.config.output_scaling)
      for (Variable& z : gates) z = with_output_scaling(z);
    return gates;
  }
  void report_own(int64_t done, nlohmann::json& m) const override {
    m["target_heads"] = target_at(s_, done - 1);
    if (done == s_.steps) m["open_before_readout"] = open_before_readout_;
  }

 private:
  PruneSetup s_;
  int64_t open_before_readout_ = 0;
};

}  // namespace

std::unique_ptr<PruningMethod> make_topk(const PruneSetup& s) { return std::make_unique<TopK>(s); }

}  // namespace hc
