#include "models/compaction.h"

#include <algorithm>

#include "models/gates.h"

namespace hc {

void copy_kept_heads(const AllAttLayer& from, const std::vector<bool>& keep, double out_scale, const AllAttLayer& to) {
  const int64_t H = from.shape().H, C = from.shape().C, D = from.shape().D, N = from.shape().N,
                kept_count = to.shape().H;
  check(static_cast<int64_t>(keep.size()) == H && std::count(keep.begin(), keep.end(), true) == kept_count,
        "copy_kept_heads: the kept set does not match the layers' head counts");
  // A block of `per_head` elements per head, heads contiguous: copy the kept heads' blocks.
  auto gather_heads = [&](const Variable& src, const Variable& dst, int64_t per_head) {
    int64_t j = 0;
    for (int64_t h = 0; h < H; ++h)
      if (keep[h]) dst.value().reshape({kept_count, per_head}).row(j++).copy_from(src.value().reshape({H, per_head}).row(h));
  };
  to.out_b.value().copy_from(from.out_b.value());
  if (kept_count == 0) return;
  to.norm_w.value().copy_from(from.norm_w.value());
  to.norm_b.value().copy_from(from.norm_b.value());
  for (auto [src, dst] : {std::pair{&from.q_w, &to.q_w}, {&from.k_w, &to.k_w}, {&from.v_w, &to.v_w},
                          {&from.r_w, &to.r_w}})
    gather_heads(*src, *dst, D * C);  // rows h*D..h*D+D-1 of (H*D, C)
  gather_heads(from.u_bias, to.u_bias, D);
  gather_heads(from.v_bias, to.v_bias, D);
  if (N > 0) {
    gather_heads(from.persist_k, to.persist_k, N * D);
    gather_heads(from.persist_v, to.persist_v, N * D);
  }
  // The output projection (C, H*D) takes head h in columns h*D..h*D+D-1:
  // gather those columns, times out_scale.
  const std::vector<double> w = from.out_w.value().to_vector();
  std::vector<double> out(C * kept_count * D);
  int64_t j = 0;
  for (int64_t h = 0; h < H; ++h) {
    if (!keep[h]) continue;
    for (int64_t r = 0; r < C; ++r)
      for (int64_t d = 0; d < D; ++d) out[r * kept_count * D + j * D + d] = w[r * H * D + h * D + d] * out_scale;
    ++j;
  }
  to.out_w.value().copy_from(Tensor::from_vector({C, kept_count * D}, out, to.out_w.value().dtype()));
}

std::unique_ptr<AllAttLM> compact(const AllAttLM& gated, bool output_scaling) {
  check(!gated.gate_logits().empty(), "compact: the model has no gates (prune it first)");
  const HeadMask kept = kept_heads(gated);
  AllAttConfig c = gated.config();
  c.heads_per_layer.clear();
  c.heads_per_layer = kept.per_layer();
  auto small = std::make_unique<AllAttLM>(c, 0, gated.pos.value().dtype(), gated.pos.value().device());
  // The embedding side (tied table or adaptive input/softmax, and the position table) is copied whole.
  const std::vector<Variable> outer = gated.embedding_parameters(), small_outer = small->embedding_parameters();
  for (size_t i = 0; i < outer.size(); ++i) small_outer[i].value().copy_from(outer[i].value());
  // The baseline's feed-forward blocks do not belong to heads: copied whole.
  for (size_t l = 0; l < gated.ffns().size(); ++l) {
    const std::vector<Variable> from = gated.ffns()[l].parameters(), to = small->ffns()[l].parameters();
    for (size_t i = 0; i < from.size(); ++i) to[i].value().copy_from(from[i].value());
  }
  for (int64_t l = 0; l < c.layers; ++l) {
    const AllAttLayer& from = gated.layers()[l];
    const double scale_by = output_scaling ? output_scale(from.shape().H, from.shape().H - c.heads_per_layer[l]) : 1.0;
    copy_kept_heads(from, kept.keep[l], scale_by, small->layers()[l]);
  }
  return small;
}

}  // namespace hc
