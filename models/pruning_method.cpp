#include "models/pruning_method.h"

#include <cmath>

#include "models/gates.h"
#include "models/head_cost.h"

namespace hc {

void PruneConfig::validate() const {
  const MethodInfo* known = nullptr;
  for (const MethodInfo& m : pruning_methods())
    if (method == m.name) known = &m;
  check(known != nullptr, "config: prune_method must be one of " + method_names() + ", got '" + method + "'");
  check(l0_coefficient >= 0 && l0_warmup >= 0 && gate_lr_scale > 0,
        "config: need l0_coefficient >= 0, l0_warmup >= 0, gate_lr_scale > 0");
  check(target_heads >= 0 && target_fraction >= 0 && target_fraction <= 1 && target_flops >= 0 && target_flops <= 1,
        "config: target_heads must be >= 0, target_fraction and target_flops in [0, 1]");
  check(!known->needs_budget || target_heads > 0 || target_fraction > 0 || target_flops > 0,
        "config: prune_method " + method + " needs a budget: target_heads, target_fraction or target_flops");
  check(importance_batches > 0, "config: importance_batches must be positive");
  check(finetune_steps >= 0, "config: finetune_steps must be >= 0");
  check(l0_budget_mode == "quadratic" || l0_budget_mode == "lagrangian",
        "config: l0_budget_mode must be quadratic or lagrangian, got '" + l0_budget_mode + "'");
  check(lagrangian_lr > 0 && std::isfinite(lagrangian_lr), "config: lagrangian_lr must be positive");
  check(dsp_temperature > 0 && dsp_final_temperature > 0 && astar_max_nodes > 0 && shapley_truncation >= 0,
        "config: need dsp_temperature, dsp_final_temperature, astar_max_nodes > 0 and shapley_truncation >= 0");
  check(lottery_rounds >= 1, "config: lottery_rounds must be >= 1");
  check(shapley_permutations >= 2, "config: shapley_permutations must be >= 2 (a standard error needs two)");
}

int64_t budget_heads(const AllAttConfig& model, const PruneConfig& p) {
  int64_t heads = 0;
  for (int64_t l = 0; l < model.layers; ++l) heads += model.heads_in(l);
  const int64_t budget = p.target_heads > 0      ? p.target_heads
                         : p.target_fraction > 0 ? static_cast<int64_t>(std::llround(p.target_fraction * double(heads)))
                         : p.target_flops > 0    ? heads_within_flops(model, p.target_flops)
                                                 : 0;
  check(p.target_flops == 0 || budget > 0, "config: target_flops " + std::to_string(p.target_flops) +
                                               " leaves no head: the parts that do not scale with heads alone take more");
  check(budget <= heads, "config: target of " + std::to_string(budget) + " heads, the model has " + std::to_string(heads));
  return budget;
}

std::vector<Variable> PruningMethod::gates(const AllAttLM& model, int64_t step, RngStream& rng) {
  if (step != counted_step_) {
    counted_step_ = step;
    closed_ = drawn_ = 0;
  }
  std::vector<Variable> z = draw_gates(model, step, rng);
  for (const Variable& layer : z)
    for (double v : layer.value().to_vector()) {
      closed_ += v == 0.0;
      ++drawn_;
    }
  return z;
}

int64_t PruningMethod::heads_in_use(const AllAttLM& model, int64_t) const { return kept_heads(model).count(); }

void PruningMethod::report(const AllAttLM& model, int64_t done, nlohmann::json& m) {
  if (model.gate_logits().empty()) return;  // dense training logs no gates
  m["sparsity"] = double(closed_) / double(std::max<int64_t>(drawn_, 1));  // sampled gates that were 0
  m["kept_heads"] = heads_in_use(model, done);
  m["open_prob"] = open_probabilities(model);
  report_own(done, m);
}

std::vector<Variable> FinalShape::draw_gates(const AllAttLM& model, int64_t, RngStream& rng) {
  return layer_gates(model, rng, /*training=*/false, output_scaling_);
}

}  // namespace hc
