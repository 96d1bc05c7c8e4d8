// Head sets as gates, masks and text (models/methods/head_sets.h).
#include "models/methods/head_sets.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "models/gates.h"

namespace hc {

std::vector<Variable> set_gates(const AllAttLM& model, const std::vector<bool>& open, bool output_scaling) {
  const DType dt = model.pos.value().dtype();
  const Device dev = model.pos.value().device();
  std::vector<Variable> gates;
  size_t at = 0;
  for (const AllAttLayer& layer : model.layers()) {
    std::vector<double> z(layer.shape().H);
    for (double& v : z) v = open.at(at++) ? 1.0 : 0.0;
    const Tensor host = Tensor::from_vector({layer.shape().H}, z, dt);
    const Variable gate(dev == Device::CPU ? host : host.to(dev));
    gates.push_back(output_scaling ? with_output_scaling(gate) : gate);
  }
  check(at == open.size(), "set_gates: " + std::to_string(open.size()) + " flags for " + std::to_string(at) + " heads");
  return gates;
}

SetLoss fixed_set_loss(const ScoreInputs& probe, bool output_scaling, const std::string& label) {
  check(static_cast<bool>(probe.fixed_loss), "a method that compares head sets needs ScoreInputs::fixed_loss");
  const auto start = std::chrono::steady_clock::now();
  return [&probe, output_scaling, label, start, scored = int64_t{0}](const std::vector<bool>& open) mutable {
    const double loss = probe.fixed_loss(set_gates(probe.model, open, output_scaling));
    if (++scored % 50 == 0)
      std::fprintf(stderr, "%s: %lld head sets scored, %.0f s\n", label.c_str(), static_cast<long long>(scored),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return loss;
  };
}

void set_logits_centred(const AllAttLM& model, HeadScores scores, int64_t K) {
  std::vector<double> all;
  for (const std::vector<double>& layer : scores) all.insert(all.end(), layer.begin(), layer.end());
  std::sort(all.begin(), all.end(), std::greater<double>());
  const size_t k = static_cast<size_t>(K);
  const double cut = all.empty() ? 0.0
                     : k == 0    ? all.front() + 1.0
                     : k >= all.size() ? all.back() - 1.0
                                       : 0.5 * (all[k - 1] + all[k]);
  for (size_t l = 0; l < scores.size(); ++l) {
    for (double& v : scores[l]) v -= cut;
    const Variable& g = model.gate_logits().at(l);
    g.value().copy_from(Tensor::from_vector(g.shape(), scores[l], g.value().dtype()));
  }
}

HeadMask mask_of(const AllAttLM& model, const std::vector<bool>& open) {
  HeadMask mask;
  size_t at = 0;
  for (const AllAttLayer& layer : model.layers()) {
    mask.keep.emplace_back(open.begin() + at, open.begin() + at + layer.shape().H);
    at += layer.shape().H;
  }
  return mask;
}

std::string per_layer_text(const AllAttLM& model, const std::vector<double>& value, const std::vector<double>& error) {
  std::string text;
  size_t at = 0;
  for (size_t l = 0; l < model.layers().size(); ++l) {
    text += "  layer " + std::to_string(l) + ":";
    for (int64_t h = 0; h < model.layers()[l].shape().H; ++h, ++at) {
      char cell[64];
      if (error.empty()) std::snprintf(cell, sizeof cell, " %.4f", value.at(at));
      else std::snprintf(cell, sizeof cell, " %.4f+-%.4f", value.at(at), error.at(at));
      text += cell;
    }
    text += "\n";
  }
  return text;
}

}  // namespace hc
