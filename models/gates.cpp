#include "models/gates.h"

#include <algorithm>

namespace hc {

double output_scale(int64_t H, int64_t closed) {
  return std::clamp(double(H) / (double(H - closed) + 1e-3), 1.0, double(H));
}

Variable with_output_scaling(const Variable& z) {
  int64_t closed = 0;
  for (double v : z.value().to_vector()) closed += v == 0.0;
  return scale(z, output_scale(z.numel(), closed));
}

std::vector<Variable> layer_gates(const AllAttLM& model, RngStream& rng, bool training, bool output_scaling) {
  std::vector<Variable> gates;
  for (const Variable& log_alpha : model.gate_logits()) {
    // One draw per head and step (advancing the stream even in evaluation
    // keeps the dropout masks that follow where training puts them).
    const Variable z = hard_concrete_gate(log_alpha, rng.next(log_alpha.numel()), training);
    gates.push_back(output_scaling ? with_output_scaling(z) : z);
  }
  return gates;
}

void set_gate_logits(const AllAttLM& model, const HeadMask& keep, double magnitude) {
  check(keep.keep.size() == model.gate_logits().size(), "set_gate_logits: one keep list per layer");
  for (size_t l = 0; l < keep.keep.size(); ++l) {
    const Variable& g = model.gate_logits()[l];
    check(static_cast<int64_t>(keep.keep[l].size()) == g.numel(), "set_gate_logits: one keep flag per head");
    std::vector<double> la(keep.keep[l].size());
    for (size_t h = 0; h < la.size(); ++h) la[h] = keep.keep[l][h] ? magnitude : -magnitude;
    g.value().copy_from(Tensor::from_vector(g.shape(), la, g.value().dtype()));
  }
}

HeadScores gate_logit_values(const AllAttLM& model) {
  HeadScores logits;
  for (const Variable& g : model.gate_logits()) logits.push_back(g.value().to_vector());
  return logits;
}

HeadMask kept_heads(const AllAttLM& model) {
  HeadMask kept;
  for (const std::vector<double>& layer : gate_logit_values(model)) {
    std::vector<bool> k;
    for (double a : layer) k.push_back(a >= 0.0);
    kept.keep.push_back(k);
  }
  return kept;
}

HeadScores open_probabilities(const AllAttLM& model) {
  HeadScores open;
  for (const Variable& log_alpha : model.gate_logits()) open.push_back(open_probability(log_alpha.value()));
  return open;
}

void read_out_top(const AllAttLM& model, int64_t K) { read_out(model, top_heads(gate_logit_values(model), K)); }

void read_out(const AllAttLM& model, const HeadMask& keep) {
  HeadScores logits = gate_logit_values(model);
  check(keep.keep.size() == logits.size(), "read_out: one keep list per layer");
  for (size_t l = 0; l < logits.size(); ++l) {
    for (size_t h = 0; h < logits[l].size(); ++h)
      logits[l][h] = keep.keep[l][h] ? std::max(logits[l][h], 0.0) : std::min(logits[l][h], -1e-3);
    const Variable& g = model.gate_logits()[l];
    g.value().copy_from(Tensor::from_vector(g.shape(), logits[l], g.value().dtype()));
  }
}

}  // namespace hc
