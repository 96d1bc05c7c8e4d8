#include "models/head_cost.h"

#include <algorithm>
#include <cmath>

namespace hc {

namespace {
// A product (rows x inner) . (inner x cols), `groups` times: FLOPs and float32 bytes.
PartCost product(const std::string& part, double groups, double rows, double inner, double cols) {
  const double flops = 2 * groups * rows * inner * cols;
  return {part, true, flops, 2 * flops, 4 * groups * (rows * inner + inner * cols + rows * cols)};
}

void add_into(std::vector<PartCost>& parts, const PartCost& p) {
  for (PartCost& q : parts)
    if (q.part == p.part) {
      q.forward_flops += p.forward_flops;
      q.backward_flops += p.backward_flops;
      q.forward_bytes += p.forward_bytes;
      return;
    }
  parts.push_back(p);
}
}  // namespace

std::vector<PartCost> layer_cost(const AllAttConfig& c, int64_t l, int64_t B) {
  const double H = double(c.heads_in(l)), D = double(c.d_head), C = double(c.d_model), N = double(c.persist),
               T = double(c.seg_len), S = double(c.seg_len + c.mem_len), F = double(c.d_ffn), b = double(B);
  std::vector<PartCost> parts;
  if (H > 0) {
    parts.push_back({"layernorm", false, 8 * b * S * C, 14 * b * S * C, 4 * (2 * b * S * C + 2 * C)});
    add_into(parts, product("qkv", 1, b * T, C, H * D));
    add_into(parts, product("qkv", 2, b * S, C, H * D));
    add_into(parts, product("position", 1, S, C, H * D));
    add_into(parts, product("position", H, b * T, D, S));
    add_into(parts, product("content", H * b, T, D, S));
    if (N > 0) add_into(parts, product("persistent", H, b * T, D, N));
    const double scores = H * b * T * (S + N);
    parts.push_back({"softmax", true, 5 * scores, 4 * scores, 4 * 2 * scores});
    add_into(parts, product("weighted_sum", H * b, T, S, D));
    if (N > 0) add_into(parts, product("weighted_sum", H, b * T, N, D));
    add_into(parts, product("output", 1, b * T, H * D, C));
  }
  if (F > 0) {
    PartCost ffn = product("ffn", 1, b * T, C, F);
    const PartCost second = product("ffn", 1, b * T, F, C);
    ffn.forward_flops += second.forward_flops;
    ffn.backward_flops += second.backward_flops;
    ffn.forward_bytes += second.forward_bytes;
    ffn.forward_flops += 8 * b * T * C;  // its layernorm
    ffn.backward_flops += 14 * b * T * C;
    ffn.forward_bytes += 4 * (2 * b * T * C + 2 * C);
    ffn.per_head = false;
    parts.push_back(ffn);
  }
  return parts;
}

std::vector<PartCost> outside_cost(const AllAttConfig& c, int64_t B) {
  const double R = double(B * c.seg_len), V = double(c.vocab), C = double(c.d_model);
  std::vector<PartCost> parts;
  // `rows` hidden states (width `inner`) times a (cols, inner) weight, then a
  // cross-entropy over the `cols` logits.
  auto logits_and_loss = [&](double rows, double inner, double cols) {
    PartCost p = product("output_layer", 1, rows, inner, cols);
    p.forward_flops += 4 * rows * cols;
    p.backward_flops += 4 * rows * cols;
    add_into(parts, p);
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
    add_into(parts, product("output_layer", 1, R, C, C));
    logits_and_loss(R, C, double(cut[0] + K));
    for (int64_t i = 1; i <= K; ++i) {
      const double words = double((i == K ? c.vocab : cut[i]) - cut[i - 1]), d = double(cluster_width(c.d_model, c.adaptive_div, i));
      const double rows = R * words / V;
      add_into(parts, product("output_layer", 1, rows, C, d));
      logits_and_loss(rows, d, words);
    }
  }
  parts[0].per_head = false;
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
