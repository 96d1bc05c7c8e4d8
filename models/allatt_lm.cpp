#include "models/allatt_lm.h"

#include <cmath>

#include "engine/profiler.h"

namespace hc {

void AllAttConfig::validate() const {
  auto positive = [](int64_t v, const char* name) {
    check(v > 0, std::string("config: ") + name + " must be positive, got " + std::to_string(v));
  };
  positive(layers, "layers");
  positive(d_model, "d_model");
  positive(d_head, "d_head");
  check(persist >= 0 && d_ffn >= 0, "config: persist and d_ffn must be >= 0");
  positive(seg_len, "seg_len");
  check(mem_len >= 0, "config: mem_len must be >= 0");
  check(heads >= 0, "config: heads must be >= 0");
  check(seg_len + mem_len <= max_len,
        "config: seg_len + mem_len = " + std::to_string(seg_len + mem_len) +
            " exceeds max_len = " + std::to_string(max_len) + " (rows of the position table)");
  check(heads_per_layer.empty() || static_cast<int64_t>(heads_per_layer.size()) == layers,
        "config: heads_per_layer has " + std::to_string(heads_per_layer.size()) +
            " entries for " + std::to_string(layers) + " layers");
  for (int64_t h : heads_per_layer) check(h >= 0, "config: heads_per_layer entries must be >= 0");
  // Sizes are bounded before anything is allocated, so an absurd config (or
  // the sidecar of a shared checkpoint) is refused with its numbers rather
  // than by the allocator. No dimension of a real model is near 2^20, and
  // 2^34 parameters are 64 GiB of float32 before gradients and moments.
  const int64_t max_dim = int64_t{1} << 20;
  for (auto [v, name] : {std::pair{layers, "layers"}, {d_model, "d_model"}, {d_head, "d_head"}, {persist, "persist"},
                         {seg_len, "seg_len"}, {mem_len, "mem_len"}, {max_len, "max_len"}, {heads, "heads"}, {d_ffn, "d_ffn"}})
    check(v <= max_dim, std::string("config: ") + name + " = " + std::to_string(v) + " exceeds the limit of " +
                            std::to_string(max_dim));
  for (int64_t h : heads_per_layer) check(h <= max_dim, "config: a heads_per_layer entry exceeds the limit");
  double params = double(vocab + max_len) * double(d_model);
  // Adaptive tables hold at most V C; their K+1 input projections and the
  // shortlist's output projection at most C x C each.
  if (!adaptive_cutoffs.empty()) params += double(adaptive_cutoffs.size() + 2) * double(d_model) * double(d_model);
  for (int64_t l = 0; l < layers; ++l)
    params += double(heads_in(l)) * double(d_head) * (5.0 * double(d_model) + 2.0 * double(persist) + 2.0) +
              double(d_ffn) * (2.0 * double(d_model) + 1.0);
  check(params <= 0x1p34, "config: " + std::to_string(params) + " parameters exceed the limit of 2^34");
  for (double p : {dropout_word, dropout_embed, dropout_pos, dropout_attn, dropout_residual,
                   dropout_proj, dropout_output})
    check(p >= 0 && p < 1, "config: every dropout must be in [0, 1)");
  check(layernorm_eps > 0 && layernorm_eps < 1, "config: layernorm_eps must be in (0, 1), got " + std::to_string(layernorm_eps));
  check_adaptive_config(vocab, d_model, adaptive_cutoffs, adaptive_div);
}

int64_t AllAttConfig::analytic_parameters(bool include_embedding) const {
  const int64_t C = d_model, D = d_head, N = persist;
  const int64_t output = adaptive_cutoffs.empty() ? vocab * C
                                                  : adaptive_parameter_count(vocab, C, adaptive_cutoffs, adaptive_div);
  int64_t n = include_embedding ? output + max_len * C : 0;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t H = heads_in(l);
    n += H == 0 ? C : 4 * H * D * C + 2 * H * D + 2 * H * N * D + C * H * D + C + 2 * C;
    n += d_ffn > 0 ? 2 * C * d_ffn + d_ffn + C + 2 * C : 0;
  }
  return n;
}

namespace {
// Fill with U(-bound, bound) from Philox(seed, offset), advancing the offset.
void init_uniform(const Variable& v, double bound, RngStream& rng) {
  Tensor u = Tensor::empty(v.shape(), DType::F64);
  backend(Device::CPU).random_uniform(u, rng.next(v.numel()));
  std::vector<double> vals = u.to_vector();
  for (double& x : vals) x = (2 * x - 1) * bound;
  v.value().copy_from(Tensor::from_vector(v.shape(), vals, v.value().dtype()));
}
}  // namespace

AllAttLM::AllAttLM(const AllAttConfig& c, uint64_t seed, DType dtype, Device device) : config_(c) {
  c.validate();
  check(c.vocab > 0, "model: the vocabulary is empty");
  if (c.adaptive_cutoffs.empty())
    embed = Variable(Tensor::empty({c.vocab, c.d_model}, dtype, device), true, "embed.weight");
  else
    adaptive.emplace(c.vocab, c.d_model, c.adaptive_cutoffs, c.adaptive_div, dtype, device);
  pos = Variable(Tensor::empty({c.max_len, c.d_model}, dtype, device), true, "pos.weight");
  for (int64_t l = 0; l < c.layers; ++l)
    layers_.emplace_back("layers." + std::to_string(l) + ".",
                         AllAttLayerShape{c.d_model, c.heads_in(l), c.d_head, c.persist, c.layernorm_eps, c.fused_attention}, dtype,
                         device);
  if (c.d_ffn > 0)
    for (int64_t l = 0; l < c.layers; ++l)
      ffns_.emplace_back("layers." + std::to_string(l) + ".", c.d_model, c.d_ffn, c.layernorm_eps, dtype, device);

  // Initialisation of the paper's code: embeddings, the position table and
  // the output projections U(+-1/sqrt(C)); the q/k/v/r projections and the
  // persistent vectors U(+-sqrt(1/(C L))); biases 0; LayerNorm weight 1.
  // Adaptive tables and projections count as embeddings and output
  // projections, the cluster logits as one of the other Linears.
  RngStream rng{seed, 0};
  const double wide = 1.0 / std::sqrt(double(c.d_model));
  const double narrow = std::sqrt(1.0 / double(c.d_model * c.layers));
  if (adaptive) {
    for (size_t i = 0; i < adaptive->embed.size(); ++i) {
      init_uniform(adaptive->embed[i], wide, rng);
      init_uniform(adaptive->proj[i], wide, rng);
      adaptive->bias[i].value().fill_(0.0);
    }
    init_uniform(adaptive->head_proj, wide, rng);
    init_uniform(adaptive->cluster_w, narrow, rng);
    adaptive->cluster_b.value().fill_(0.0);
  } else {
    init_uniform(embed, wide, rng);
  }
  init_uniform(pos, wide, rng);
  for (const AllAttLayer& layer : layers_) {
    if (layer.shape().H == 0) {
      layer.out_b.value().fill_(0.0);
      continue;
    }
    layer.norm_w.value().fill_(1.0);
    layer.norm_b.value().fill_(0.0);
    for (const Variable* w : {&layer.q_w, &layer.k_w, &layer.v_w, &layer.r_w, &layer.persist_k,
                              &layer.persist_v})
      init_uniform(*w, narrow, rng);
    layer.u_bias.value().fill_(0.0);
    layer.v_bias.value().fill_(0.0);
    init_uniform(layer.out_w, wide, rng);
    layer.out_b.value().fill_(0.0);
  }
  // The baseline's feed-forward blocks, after everything else (so that the
  // All-attention model's initial weights do not depend on them):
  // U(+-1/sqrt(fan_in)) weights, zero biases, LayerNorm weight 1.
  for (const FeedForward& f : ffns_) {
    f.norm_w.value().fill_(1.0);
    f.norm_b.value().fill_(0.0);
    init_uniform(f.in_w, wide, rng);
    f.in_b.value().fill_(0.0);
    init_uniform(f.out_w, 1.0 / std::sqrt(double(c.d_ffn)), rng);
    f.out_b.value().fill_(0.0);
  }
}

Memory AllAttLM::initial_memory(int64_t batch) const {
  Memory mem;
  for (int64_t l = 0; l < config_.layers; ++l)
    mem.layers.push_back(Tensor::zeros({batch, config_.mem_len, config_.d_model},
                                       pos.value().dtype(), pos.value().device()));
  return mem;
}

std::vector<Variable> AllAttLM::parameters() const {
  std::vector<Variable> ps = embedding_parameters();
  for (size_t l = 0; l < layers_.size(); ++l) {
    for (const Variable& p : layers_[l].parameters()) ps.push_back(p);
    if (!ffns_.empty())
      for (const Variable& p : ffns_[l].parameters()) ps.push_back(p);
  }
  for (const Variable& g : gates_) ps.push_back(g);
  return ps;
}

std::vector<Variable> AllAttLM::embedding_parameters() const {
  if (!adaptive) return {embed, pos};
  std::vector<Variable> ps = adaptive->parameters();
  ps.push_back(pos);
  return ps;
}

void AllAttLM::add_gates(double init) {
  check(gates_.empty(), "model: gates already added");
  for (int64_t l = 0; l < config_.layers; ++l)
    gates_.emplace_back(Tensor::full({config_.heads_in(l)}, init, pos.value().dtype(), pos.value().device()),
                        true, "layers." + std::to_string(l) + ".attn.gate.log_alpha");
}

int64_t AllAttLM::parameter_count(bool include_embedding) const {
  int64_t n = 0;
  for (const Variable& p : parameters()) n += p.numel();
  for (const Variable& g : gates_) n -= g.numel();
  if (!include_embedding)
    for (const Variable& p : embedding_parameters()) n -= p.numel();
  return n;
}

Variable AllAttLM::hidden(const Tensor& tokens, Memory& mem, bool training, RngStream& rng,
                          const LayerStep& step) const {
  const AllAttConfig& c = config_;
  check(tokens.dim() == 2 && tokens.dtype() == DType::I64,
        "model: tokens must be (B,T) I64, got " + tokens.describe());
  const int64_t B = tokens.size(0), T = tokens.size(1), M = c.mem_len, S = M + T;
  check(S <= c.max_len, "model: segment of " + std::to_string(T) + " plus memory " +
                            std::to_string(M) + " exceeds max_len " + std::to_string(c.max_len));
  check(static_cast<int64_t>(mem.layers.size()) == c.layers && mem.layers[0].size(0) == B,
        "model: memory does not match the batch (call initial_memory(B))");

  // Word dropout: every occurrence of a dropped word loses its embedding
  // (a whole row of the input table is zeroed, the others scaled by 1/(1-p)),
  // so the model cannot lean on any single word being visible. The output
  // layer keeps the full table. Adaptive input scales the rows of its
  // cluster tables by the same (V,1) mask.
  profiler::Region part("embedding");
  Variable keep;
  if (training && c.dropout_word > 0)
    keep = dropout(Variable(Tensor::full({c.vocab, 1}, 1.0, pos.value().dtype(), pos.value().device())),
                   c.dropout_word, rng.next(c.vocab), true);
  const Variable embedded = adaptive            ? adaptive->input(tokens, keep)
                            : keep.defined() ? embedding(mul(embed, keep), tokens)
                                             : embedding(embed, tokens);
  // Embedding, dropout, then scaled by sqrt(C) as in Transformer-XL.
  Variable h = scale(dropout(embedded, c.dropout_embed, rng.per_stream(B, T * c.d_model), training),
                     std::sqrt(double(c.d_model)));
  // The shared position table, dropped out once per forward pass; the last S
  // rows are distances S-1 down to 0.
  const Variable table = dropout(pos, c.dropout_pos, rng.next(pos.numel()), training);
  const Variable r_table = slice(table, 0, c.max_len - S, c.max_len);

  std::vector<Tensor> inputs;  // each layer's input, the next segment's memory
  for (int64_t l = 0; l < c.layers; ++l) {
    inputs.push_back(h.value());
    part.next([l] { return "layer" + std::to_string(l); });
    h = step(l, h, mem.layers[l], r_table);
    if (!ffns_.empty()) {
      const profiler::Region ffn("ffn");
      h = ffns_[l].forward(h, c.dropout_residual, training, rng);
    }
  }
  part.next("output_layer");
  h = dropout(h, c.dropout_proj, rng.per_stream(B, T * c.d_model), training);
  h = dropout(h, c.dropout_output, rng.per_stream(B, T * c.d_model), training);

  // New memory: the last M positions of [old memory ; this segment's inputs].
  part.next("memory");
  NoGrad no_grad;
  for (int64_t l = 0; l < c.layers; ++l) {
    const Variable joined = concat({Variable(mem.layers[l]), Variable(inputs[l])}, 1);  // (B,S,C)
    mem.layers[l] = slice(joined, 1, T, S).value();
  }
  return h;
}

AllAttLM::LayerStep AllAttLM::gated_layers(const std::vector<Variable>& gates, bool training, RngStream& rng) const {
  check(gates.empty() || static_cast<int64_t>(gates.size()) == config_.layers,
        "model: one gate vector per layer, or none");
  const AllAttDropout drop{config_.dropout_attn, config_.dropout_residual};
  return [this, &gates, drop, training, &rng](int64_t l, const Variable& h, const Tensor& mem, const Variable& r) {
    return layers_[l].forward(h, mem, r, gates.empty() ? Variable() : gates[l], drop, training, rng);
  };
}

Variable AllAttLM::output_logits(const Variable& h) const {
  const profiler::Region part("output_layer");
  if (!adaptive) return linear(h, embed);  // tied output layer: logits = h E^T
  const int64_t B = h.size(0), T = h.size(1);
  return reshape(adaptive->log_probs(reshape(h, {B * T, config_.d_model})), {B, T, config_.vocab});
}

Variable AllAttLM::output_loss(const Variable& h, const Tensor& targets) const {
  const profiler::Region part("output_layer");  // the softmax cross-entropy belongs to the output layer
  const int64_t R = targets.numel();
  if (adaptive) return adaptive->loss(reshape(h, {R, config_.d_model}), targets.reshape({R}));
  // The (R, V) logits are a temporary: their gradient may take their place.
  return cross_entropy(reshape(linear(h, embed), {R, config_.vocab}), targets.reshape({R}), -100, true);
}

Variable AllAttLM::logits(const Tensor& tokens, Memory& mem, bool training, RngStream& rng,
                          const std::vector<Variable>& gates) const {
  return output_logits(hidden(tokens, mem, training, rng, gated_layers(gates, training, rng)));
}

Variable AllAttLM::loss(const Tensor& tokens, const Tensor& targets, Memory& mem, bool training,
                        RngStream& rng, const std::vector<Variable>& gates) const {
  return output_loss(hidden(tokens, mem, training, rng, gated_layers(gates, training, rng)), targets);
}

Variable AllAttLM::logits(const Tensor& tokens, Memory& mem, const LayerStep& step) const {
  RngStream unused{0, 0};  // no dropout in evaluation
  return output_logits(hidden(tokens, mem, false, unused, step));
}

Variable AllAttLM::loss(const Tensor& tokens, const Tensor& targets, Memory& mem, const LayerStep& step) const {
  RngStream unused{0, 0};
  return output_loss(hidden(tokens, mem, false, unused, step), targets);
}

}  // namespace hc
