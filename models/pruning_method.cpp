#include "models/pruning_method.h"

#include <cmath>

#include "models/gates.h"
#include "models/head_cost.h"
#include "models/time_budget.h"

namespace hc {

void PruneConfig::validate() const {
  const MethodInfo* known = nullptr;
  for (const MethodInfo& m : pruning_methods())
    if (method == m.name) known = &m;
  check(known != nullptr, "config: prune_method must be one of " + method_names() + ", got '" + method + "'");
  check(known->kind != MethodKind::Inference,
        "config: prune_method " + method + " chooses heads at inference, per sequence, without retraining: there is "
        "nothing to prune or fine-tune (`headcount prune --help` says how to measure it)");
  check(l0_coefficient >= 0 && l0_warmup >= 0 && gate_lr_scale > 0,
        "config: need l0_coefficient >= 0, l0_warmup >= 0, gate_lr_scale > 0");
  check(target_heads >= 0 && target_fraction >= 0 && target_fraction <= 1 && target_flops >= 0 && target_flops <= 1,
        "config: target_heads must be >= 0, target_fraction and target_flops in [0, 1]");
  check(!known->needs_budget || target_heads > 0 || target_fraction > 0 || target_flops > 0 || time_budget(),
        "config: prune_method " + method + " needs a budget: target_heads, target_fraction or target_flops");
  validate_time_budget(*known);
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

void PruneConfig::validate_time_budget(const MethodInfo& known) const {
  check(target_ms >= 0 && std::isfinite(target_ms) && target_batch >= 0,
        "config: target_ms and target_batch must be >= 0");
  check(target_speedup == 0 || (target_speedup > 1 && std::isfinite(target_speedup)),
        "config: target_speedup must be > 1 (the pruned model that many times faster than the dense one), got " +
            std::to_string(target_speedup));
  check(target_mode == "infer" || target_mode == "train",
        "config: target_mode must be infer (the inference forward) or train (the training step), got '" +
            target_mode + "'");
  if (!time_budget()) {
    check(cost_model.empty(), "config: cost_model is read only with a time budget (target_ms or target_speedup)");
    return;
  }
  check(target_ms == 0 || target_speedup == 0, "config: target_ms and target_speedup are one budget: give one of them");
  check(target_heads == 0 && target_fraction == 0 && target_flops == 0,
        "config: a time budget (target_ms or target_speedup) excludes target_heads, target_fraction and target_flops");
  check(!cost_model.empty(), "config: a time budget (target_ms or target_speedup) needs cost_model, the costs.json "
                             "`headcount profile` wrote for the dense model");
  std::string takers;
  for (const MethodInfo& m : pruning_methods())
    if (m.time_budget) takers += (takers.empty() ? "" : ", ") + std::string(m.name);
  check(known.time_budget, "config: prune_method " + method +
                               " cannot take a time budget (target_ms, target_speedup); the methods that can: " + takers);
}

HeadMask keep_within_budget(const HeadScores& scores, const PruneSetup& s) {
  return s.cost ? heads_within_time(scores, *s.cost, s.budget_s) : top_heads(scores, s.budget);
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
