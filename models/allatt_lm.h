// The All-attention language model: token embedding, L All-attention layers
// with Transformer-XL memory, and a softmax over the vocabulary tied to the
// embedding, or adaptive input and softmax for large word vocabularies
// (docs/spec.md sections 2, 3 and 4).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/adaptive.h"
#include "models/allatt_layer.h"
#include "models/feedforward.h"

namespace hc {

struct AllAttConfig {
  int64_t vocab = 0;      // V
  int64_t layers = 2;     // L
  int64_t d_model = 64;   // C
  int64_t heads = 4;      // H (per layer; a compacted model lists its own in heads_per_layer)
  int64_t d_head = 16;    // D
  int64_t persist = 64;   // N persistent key/value vectors per head (0 for the TXL baseline)
  int64_t d_ffn = 0;      // F: > 0 adds a feed-forward block after each attention (the TXL baseline)
  int64_t seg_len = 32;   // T
  int64_t mem_len = 32;   // M
  int64_t max_len = 512;  // rows of the relative-position table; S = M+T must fit
  std::vector<int64_t> heads_per_layer;  // empty: `heads` in every layer
  double dropout_word = 0.0;    // whole vocabulary rows of the input embedding (word dropout)
  double dropout_embed = 0.1;   // on the token embeddings
  double dropout_pos = 0.1;     // on the position table
  double dropout_attn = 0.2;    // on attention probabilities
  double dropout_residual = 0.1;
  double dropout_proj = 0.1;    // the two dropouts the paper's code applies in
  double dropout_output = 0.1;  // sequence before the output layer
  double layernorm_eps = 1e-5;
  bool fused_attention = true;  // attention in one op per layer (models/allatt_layer.h); false: op by op, the same numbers
  std::vector<int64_t> adaptive_cutoffs;  // empty: the tied (V, C) softmax; else cluster bounds (models/adaptive.h)
  double adaptive_div = 4.0;              // cluster i has width C / adaptive_div^i

  int64_t heads_in(int64_t layer) const {
    return heads_per_layer.empty() ? heads : heads_per_layer.at(layer);
  }
  // Throws std::invalid_argument naming the bad field (vocab, which comes
  // from the tokenizer, is checked by the model itself).
  void validate() const;
  // Parameters from the formula: per layer with H heads,
  //   4 H D C (q, k, v, r) + 2 H D (u, v biases) + 2 H N D (persistent)
  //   + C H D + C (output projection) + 2 C (LayerNorm);
  // a layer with no heads keeps only its output bias C. The baseline's
  // feed-forward block adds 2 C F + F + C + 2 C per layer. The embedding side
  // adds V C (tied input/output), or with adaptive_cutoffs the adaptive input
  // and softmax (adaptive_parameter_count), and max_len C (position table).
  int64_t analytic_parameters(bool include_embedding) const;
};

// Hidden states carried from one segment to the next: for each layer, its
// input over the last M positions (B,M,C). No gradient flows into memory.
struct Memory {
  std::vector<Tensor> layers;
};

class AllAttLM {
 public:
  // Parameters initialised as the paper's code does, from Philox(seed).
  AllAttLM(const AllAttConfig& config, uint64_t seed, DType dtype = DType::F32,
           Device device = Device::CPU);

  // Zero memory for a batch of B streams (what the first segment attends to).
  Memory initial_memory(int64_t batch) const;

  // tokens (B,T) I64 -> logits (B,T,V). Updates `mem` to this segment's
  // layer inputs. gates: one (H_l) variable per layer, or empty for none.
  // With adaptive softmax the logits are the log-probabilities, values only
  // (no gradient): train through loss().
  Variable logits(const Tensor& tokens, Memory& mem, bool training, RngStream& rng,
                  const std::vector<Variable>& gates = {}) const;
  // Mean cross-entropy of the next tokens `targets` (B,T), in nats.
  Variable loss(const Tensor& tokens, const Tensor& targets, Memory& mem, bool training,
                RngStream& rng, const std::vector<Variable>& gates = {}) const;

  // Evaluation (no dropout) with each layer's attention computed by the
  // caller: step(l, h, mem, r_table) takes layer l's input h (B,T,C), its
  // memory (B,M,C) and the relative-position rows (S,C) and returns the
  // layer's output (B,T,C), what layers()[l].forward would. For inference
  // methods that change a layer's work per sequence (models/methods/spatten.h).
  using LayerStep = std::function<Variable(int64_t, const Variable&, const Tensor&, const Variable&)>;
  Variable logits(const Tensor& tokens, Memory& mem, const LayerStep& step) const;
  Variable loss(const Tensor& tokens, const Tensor& targets, Memory& mem, const LayerStep& step) const;

  std::vector<Variable> parameters() const;  // every trainable tensor, named (gates included)
  // The embedding side: embed (or the adaptive input and softmax) and pos.
  std::vector<Variable> embedding_parameters() const;

  // Pruning: one hard-concrete gate logit per head, `layers.{i}.attn.gate.log_alpha` (H_i),
  // all set to `init` (the paper's 2.0). A model has gates or not.
  void add_gates(double init);
  const std::vector<Variable>& gate_logits() const { return gates_; }
  int64_t parameter_count(bool include_embedding) const;
  const AllAttConfig& config() const { return config_; }
  const std::vector<AllAttLayer>& layers() const { return layers_; }
  const std::vector<FeedForward>& ffns() const { return ffns_; }  // empty unless d_ffn > 0

  Variable embed;  // (V, C), also the output layer's weight; undefined with adaptive softmax
  Variable pos;    // (max_len, C): row j <-> relative distance max_len-1-j
  std::optional<Adaptive> adaptive;  // present iff config.adaptive_cutoffs is not empty

 private:
  // tokens (B,T) -> the last hidden states (B,T,C), before the output layer.
  // `step` computes each layer's attention (the gated layers, or a caller's).
  Variable hidden(const Tensor& tokens, Memory& mem, bool training, RngStream& rng, const LayerStep& step) const;
  // The layers as they are, with `gates` (one (H_l) per layer, or none).
  LayerStep gated_layers(const std::vector<Variable>& gates, bool training, RngStream& rng) const;
  // Logits (B,T,V) or mean cross-entropy from the last hidden states (B,T,C).
  Variable output_logits(const Variable& h) const;
  Variable output_loss(const Variable& h, const Tensor& targets) const;

  AllAttConfig config_;
  std::vector<AllAttLayer> layers_;
  std::vector<FeedForward> ffns_;
  std::vector<Variable> gates_;
};

}  // namespace hc
