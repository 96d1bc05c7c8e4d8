// SpAtten's cascade head pruning at inference (models/methods/spatten.h says
// what the paper does and what differs here).
#include "models/methods/spatten.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/compaction.h"

namespace hc {

namespace {
// Gathered layers kept per layer; past this the cache starts over (2^H head
// sets are possible, and a model with many heads need not keep them all).
constexpr size_t kMaxCachedSets = 64;
}  // namespace

std::vector<int64_t> cascade_schedule(int64_t L, int64_t H, int64_t K) {
  check(K > 0, "spatten needs a budget: target_heads, target_fraction or target_flops");
  check(K <= L * H, "spatten: a budget of " + std::to_string(K) + " heads, the model has " + std::to_string(L * H));
  check(K >= H, "spatten: a budget of " + std::to_string(K) + " heads is below one layer's " + std::to_string(H) +
                    ": the cascade runs every head of the first layer, to rank the heads by their outputs");
  std::vector<int64_t> kept(static_cast<size_t>(L), H);
  if (L == 1) return kept;
  // Layers 1..L-1 share K - H heads: (K - H) / (L - 1) each, and the first
  // (K - H) mod (L - 1) of them one more, so the counts never rise.
  const int64_t rest = K - H, each = rest / (L - 1), extra = rest % (L - 1);
  for (int64_t l = 1; l < L; ++l) kept[static_cast<size_t>(l)] = each + (l - 1 < extra ? 1 : 0);
  return kept;
}

std::vector<bool> cascade_keep(const std::vector<double>& importance, const std::vector<bool>& kept, int64_t count) {
  std::vector<int64_t> order;
  for (size_t h = 0; h < kept.size(); ++h)
    if (kept[h]) order.push_back(static_cast<int64_t>(h));
  check(count >= 0 && count <= static_cast<int64_t>(order.size()),
        "spatten: cannot keep " + std::to_string(count) + " of " + std::to_string(order.size()) + " heads");
  // Largest accumulated magnitude first; the stable sort leaves ties in index order.
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return importance[static_cast<size_t>(a)] > importance[static_cast<size_t>(b)]; });
  std::vector<bool> keep(kept.size(), false);
  for (int64_t i = 0; i < count; ++i) keep[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
  return keep;
}

Spatten::Spatten(const AllAttLM& model, int64_t budget) : model_(model) {
  const AllAttConfig& c = model.config();
  for (int64_t l = 0; l < c.layers; ++l)
    check(c.heads_in(l) == c.heads_in(0),
          "spatten: every layer needs the same number of heads (head h is the same head in every layer); "
          "give it a dense checkpoint, not a compacted one");
  schedule_ = cascade_schedule(c.layers, c.heads_in(0), budget);
  cache_.resize(static_cast<size_t>(c.layers));
}

Variable Spatten::logits(const Tensor& tokens, Memory& mem) {
  NoGrad no_grad;
  begin_pass(tokens.size(0));
  return model_.logits(tokens, mem, step());
}

Variable Spatten::loss(const Tensor& tokens, const Tensor& targets, Memory& mem) {
  NoGrad no_grad;
  begin_pass(tokens.size(0));
  return model_.loss(tokens, targets, mem, step());
}

void Spatten::begin_pass(int64_t B) {
  const size_t L = static_cast<size_t>(model_.config().layers), H = static_cast<size_t>(model_.config().heads_in(0));
  kept_.assign(static_cast<size_t>(B), HeadMask{std::vector<std::vector<bool>>(L)});
  importance_.assign(static_cast<size_t>(B), std::vector<double>(H, 0.0));
}

AllAttLM::LayerStep Spatten::step() {
  return [this](int64_t l, const Variable& h, const Tensor& mem, const Variable& r) { return run_layer(l, h, mem, r); };
}

Variable Spatten::run_layer(int64_t l, const Variable& h, const Tensor& mem, const Variable& r) {
  const int64_t B = h.size(0), H = model_.layers()[static_cast<size_t>(l)].shape().H;
  const size_t lz = static_cast<size_t>(l);
  // Each stream's heads in this layer: all in the first, then the cascade's
  // step from the previous layer's; streams that agree form one group.
  std::map<std::vector<bool>, std::vector<int64_t>> groups;
  for (int64_t b = 0; b < B; ++b) {
    HeadMask& kept = kept_[static_cast<size_t>(b)];
    kept.keep[lz] = l == 0 ? std::vector<bool>(static_cast<size_t>(H), true)
                           : cascade_keep(importance_[static_cast<size_t>(b)], kept.keep[lz - 1], schedule_[lz]);
    groups[kept.keep[lz]].push_back(b);
  }
  if (groups.size() == 1) {  // one group of every stream in order: the batch as it is
    const std::vector<int64_t>& streams = groups.begin()->second;
    return run_group(l, layer_with(l, groups.begin()->first), streams, h, mem, r);
  }
  std::vector<Variable> out(static_cast<size_t>(B));
  for (const auto& group : groups) {
    const std::vector<int64_t>& streams = group.second;
    std::vector<Variable> xs, ms;
    for (const int64_t b : streams) {
      xs.push_back(slice(h, 0, b, b + 1));
      ms.push_back(Variable(mem.slice_rows(b, b + 1)));
    }
    const Variable y = run_group(l, layer_with(l, group.first), streams, concat(xs, 0), concat(ms, 0).value(), r);
    for (size_t i = 0; i < streams.size(); ++i)
      out[static_cast<size_t>(streams[i])] = slice(y, 0, static_cast<int64_t>(i), static_cast<int64_t>(i) + 1);
  }
  return concat(out, 0);
}

const AllAttLayer& Spatten::layer_with(int64_t l, const std::vector<bool>& keep) {
  const AllAttLayer& from = model_.layers()[static_cast<size_t>(l)];
  if (std::all_of(keep.begin(), keep.end(), [](bool k) { return k; })) return from;
  auto& cache = cache_[static_cast<size_t>(l)];
  const auto found = cache.find(keep);
  if (found != cache.end()) return *found->second;
  if (cache.size() >= kMaxCachedSets) cache.clear();
  AllAttLayerShape shape = from.shape();
  shape.H = std::count(keep.begin(), keep.end(), true);
  const Tensor& like = from.out_b.value();
  auto layer = std::make_unique<AllAttLayer>("spatten.layers." + std::to_string(l) + ".", shape, like.dtype(),
                                             like.device());
  copy_kept_heads(from, keep, 1.0, *layer);  // no output scaling
  return *cache.emplace(keep, std::move(layer)).first->second;
}

Variable Spatten::run_group(int64_t l, const AllAttLayer& layer, const std::vector<int64_t>& streams,
                            const Variable& x, const Tensor& mem, const Variable& r) {
  const AllAttConfig& c = model_.config();
  const AllAttDropout drop{c.dropout_attn, c.dropout_residual};  // as the dense evaluation has them: off
  RngStream unused{0, 0};
  if (layer.shape().H == 0) return layer.forward(x, mem, r, Variable(), drop, false, unused);
  const Variable heads = layer.attend(x, mem, r, drop, false, unused);  // (G,T,k*D)
  if (l + 1 < c.layers) {
    // s_h += sum over the segment's tokens and the head's D columns of |E_h|.
    const int64_t T = x.size(1), k = layer.shape().H, D = layer.shape().D;
    const std::vector<bool>& keep = kept_[static_cast<size_t>(streams[0])].keep[static_cast<size_t>(l)];
    std::vector<size_t> index;  // column block j of `heads` is head index[j]
    for (size_t h = 0; h < keep.size(); ++h)
      if (keep[h]) index.push_back(h);
    const std::vector<double> e = heads.value().to_vector();
    for (size_t g = 0; g < streams.size(); ++g) {
      std::vector<double>& s = importance_[static_cast<size_t>(streams[g])];
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < k; ++j)
          for (int64_t d = 0; d < D; ++d)
            s[index[static_cast<size_t>(j)]] += std::abs(e[static_cast<size_t>(((int64_t(g) * T + t) * k + j) * D + d)]);
    }
  }
  return layer.project(x, heads, drop, false, unused);
}

}  // namespace hc
