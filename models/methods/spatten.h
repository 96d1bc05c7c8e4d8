// `spatten`: SpAtten's cascade head pruning (Wang, Zhang and Han, "SpAtten:
// Efficient Sparse Attention Architecture with Cascade Token and Head
// Pruning", HPCA 2021, arXiv 2012.09852), inference only.
//
// The paper's algorithm, per input sequence, with no retraining:
//   - a head's importance is the magnitude of what it outputs, accumulated
//     over the layers run so far: s_h = sum over layers l, tokens t and
//     dimensions d of |E^l_h[t, d]|, E^l_h head h's attention output in
//     layer l (before the output projection);
//   - after a layer, the heads of smallest s_h are pruned, and a pruned head
//     stays pruned in every later layer (the cascade: the set only shrinks);
//   - a pruned head's work (its Q/K/V projections, scores, softmax and
//     weighted sum; in the paper's hardware, fetching its weights) is never
//     done.
// Head h of layer l and head h of layer l+1 are "the same head" only by
// their index; the paper's cascade rests on that identity and so does this.
//
// What this implementation changes, and why:
//   - the budget is a number of heads K over all L layers, the same budget
//     the static methods take (target_heads / target_fraction /
//     target_flops), so that both run at equal average head count. The first
//     layer keeps all H heads (nothing has been output yet to rank them by),
//     and the other K - H are spread evenly over layers 1..L-1, the earlier
//     layers taking the remainder (cascade_schedule). The paper sets a
//     pruning ratio per layer by hand, starting after the first few layers.
//     K < H is refused.
//   - "a sequence" is one segment of T tokens of one stream: the importance
//     restarts at every segment, and the memory carried to the next segment
//     is the pruned model's own layer inputs.
//   - the skip is done in software: the streams that keep the same heads in
//     a layer run together through a copy of the layer holding only those
//     heads' weights (gathered as compaction gathers them, and cached per
//     head set), so the skipped heads' work is not computed at all.
//   - no output scaling (the paper has none), and neither of the paper's
//     other two techniques (cascade token pruning, progressive quantization).
// With K = all heads every layer runs whole: the dense model, bit for bit.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "models/allatt_lm.h"
#include "models/head_mask.h"

namespace hc {

// Heads kept in each of L layers of H heads for a budget of K heads: H in
// the first, the other K - H spread evenly over the rest, non-increasing.
// -> (L). Throws std::invalid_argument unless H <= K <= L*H.
std::vector<int64_t> cascade_schedule(int64_t L, int64_t H, int64_t K);

// The cascade's step: of the heads still `kept` (H), the `count` of largest
// accumulated `importance` (H), ties to the lower index. -> (H).
std::vector<bool> cascade_keep(const std::vector<double>& importance, const std::vector<bool>& kept, int64_t count);

class Spatten {
 public:
  // A model whose layers all have the same number of heads H (a dense
  // checkpoint; its gates, if any, are not applied), and a budget of
  // `budget` heads (0 < budget: see cascade_schedule).
  Spatten(const AllAttLM& model, int64_t budget);

  // tokens (B,T) I64 -> logits (B,T,V), each stream pruning its own heads;
  // updates `mem` as AllAttLM::logits does. No dropout, no gradient.
  Variable logits(const Tensor& tokens, Memory& mem);
  // Mean next-token cross-entropy (nats) of `targets` (B,T).
  Variable loss(const Tensor& tokens, const Tensor& targets, Memory& mem);

  // Heads kept per layer (L): the schedule every stream follows.
  const std::vector<int64_t>& schedule() const { return schedule_; }
  // The heads each stream ran in the last pass: kept()[b].keep[l][h].
  const std::vector<HeadMask>& kept() const { return kept_; }

 private:
  // Layer l for every stream: its input h (B,T,C), memory (B,M,C), the
  // position rows r (S,C) -> its output (B,T,C).
  Variable run_layer(int64_t l, const Variable& h, const Tensor& mem, const Variable& r);
  // Layer l with only the heads `keep` (H): the model's own layer when all
  // are kept, else a gathered copy.
  const AllAttLayer& layer_with(int64_t l, const std::vector<bool>& keep);
  // Streams `streams` of a group through `layer`: x (G,T,C), mem (G,M,C)
  // -> (G,T,C); adds each kept head's |output| to its stream's importance
  // (unless it is the last layer, after which nothing is ranked).
  Variable run_group(int64_t l, const AllAttLayer& layer, const std::vector<int64_t>& streams, const Variable& x,
                     const Tensor& mem, const Variable& r);
  // A new pass of B streams: no head ranked yet.
  void begin_pass(int64_t B);
  AllAttLM::LayerStep step();

  const AllAttLM& model_;
  std::vector<int64_t> schedule_;
  std::vector<HeadMask> kept_;                  // per stream, this pass
  std::vector<std::vector<double>> importance_;  // (B, H): s_h per stream, this pass
  // Gathered layers by layer and head set; emptied when it holds too many.
  std::vector<std::map<std::vector<bool>, std::unique_ptr<AllAttLayer>>> cache_;
};

}  // namespace hc
