#include "models/head_cost.h"

#include <algorithm>
#include <cmath>

#include "autograd/op_costs.h"

namespace hc {

namespace {
// Adds an op's cost (float32) into the part of that name, creating it.
void add_into(std::vector<PartCost>& parts, const std::string& part, bool per_head, const cost::OpCost& c) {
  for (PartCost& q : parts)
    if (q.part == part) {
      q.forward_flops += c.forward_flops;
      q.backward_flops += c.backward_flops;
      q.forward_bytes += c.forward_bytes;
      return;
    }
  parts.push_back({part, per_head, c.forward_flops, c.backward_flops, c.forward_bytes});
}
constexpr double kF32 = 4;  // bytes of a float32
}  // namespace

std::vector<PartCost> layer_cost(const AllAttConfig& c, int64_t l, int64_t B) {
  const double H = double(c.heads_in(l)), D = double(c.d_head), C = double(c.d_model), N = double(c.persist),
               T = double(c.seg_len), S = double(c.seg_len + c.mem_len), F = double(c.d_ffn), b = double(B);
  std::vector<PartCost> parts;
  if (H > 0) {
    // The ops of models/allatt_layer.cpp, region by region.
    add_into(parts, "layernorm", false, cost::layernorm(b * S, C, kF32));
    add_into(parts, "qkv", true, cost::linear(b * T, C, H * D, kF32));
    add_into(parts, "qkv", true, cost::products(2, b * S, C, H * D, kF32));  // k and v
    add_into(parts, "position", true, cost::linear(S, C, H * D, kF32));
    add_into(parts, "position", true, cost::head_scores(H, 1, b * T, S, D, kF32));
    add_into(parts, "content", true, cost::head_scores(H, b, T, S, D, kF32));
    if (N > 0) add_into(parts, "persistent", true, cost::append_scores(H, b, T, S, N, D, kF32));
    add_into(parts, "softmax", true, cost::masked_softmax(H * b * T, S + N, c.dropout_attn > 0, kF32));
    add_into(parts, "weighted_sum", true, cost::weighted_sum(H, b, T, S, N, D, kF32));
    add_into(parts, "output", true, cost::linear(b * T, H * D, C, kF32));
  }
  if (F > 0) {
    // models/feedforward.cpp: LN, W1, W2.
    add_into(parts, "ffn", false, cost::linear(b * T, C, F, kF32));
    add_into(parts, "ffn", false, cost::linear(b * T, F, C, kF32));
    add_into(parts, "ffn", false, cost::layernorm(b * T, C, kF32));
  }
  return parts;
}

std::vector<PartShare> fused_attention_shares(const AllAttConfig& c, int64_t l, int64_t B) {
  const double H = double(c.heads_in(l));
  if (H == 0) return {};
  const cost::AttentionPhases p =
      cost::attention_phases(H, double(B), double(c.seg_len), double(c.mem_len), double(c.persist), double(c.d_head), kF32);
  const cost::OpCost all = p.total();
  std::vector<PartShare> shares;
  for (const auto& [part, phase] : {std::pair{"content", p.content}, std::pair{"position", p.position},
                                    std::pair{"persistent", p.persistent}, std::pair{"softmax", p.softmax},
                                    std::pair{"weighted_sum", p.weighted_sum}})
    shares.push_back({part, phase.forward_flops / all.forward_flops, phase.backward_flops / all.backward_flops});
  return shares;
}

std::vector<PartCost> outside_cost(const AllAttConfig& c, int64_t B) {
  const double R = double(B * c.seg_len), V = double(c.vocab), C = double(c.d_model);
  std::vector<PartCost> parts;
  // `rows` hidden states (width `inner`) times a (cols, inner) weight, then a
  // cross-entropy over the `cols` logits.
  auto logits_and_loss = [&](double rows, double inner, double cols) {
    add_into(parts, "output_layer", false, cost::linear(rows, inner, cols, kF32));
    add_into(parts, "output_layer", false, cost::cross_entropy(rows, cols, kF32));
  };
  if (c.adaptive_cutoffs.empty()) {
    logits_and_loss(R, C, V);
  } else {
    // The head on every row: Q h, then c_0 word and K cluster logits. Tail i
    // on the rows whose targets fall in it, counted as R V_i / V: uniformly
    // random targets, as `headcount profile` times (on text most targets are
    // shortlist words, so the tails cost less than this).
    const std::vector<int64_t>& cut = c.adaptive_cutoffs;
    const int64_t K = static_cast<int64_t>(cut.size());
    add_into(parts, "output_layer", false, cost::linear(R, C, C, kF32));
    logits_and_loss(R, C, double(cut[0] + K));
    for (int64_t i = 1; i <= K; ++i) {
      const double words = double((i == K ? c.vocab : cut[i]) - cut[i - 1]), d = double(cluster_width(c.d_model, c.adaptive_div, i));
      const double rows = R * words / V;
      add_into(parts, "output_layer", false, cost::linear(rows, C, d, kF32));
      logits_and_loss(rows, d, words);
    }
  }
  return parts;
}

int64_t heads_within_flops(const AllAttConfig& c, double fraction) {
  // Forward FLOPs per token position = fixed + heads * per_head.
  double fixed = 0, all_heads = 0;
  int64_t heads = 0;
  for (int64_t l = 0; l < c.layers; ++l) {
    heads += c.heads_in(l);
    for (const PartCost& p : layer_cost(c, l, 1)) (p.per_head ? all_heads : fixed) += p.forward_flops;
  }
  for (const PartCost& p : outside_cost(c, 1)) fixed += p.forward_flops;
  if (heads == 0) return 0;
  const double per_head = all_heads / double(heads), full = fixed + all_heads;
  const int64_t k = static_cast<int64_t>(std::floor((fraction * full - fixed) / per_head + 1e-9));
  return std::clamp<int64_t>(k, 0, heads);
}

}  // namespace hc
