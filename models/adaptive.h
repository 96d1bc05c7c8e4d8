// Adaptive input (Baevski & Auli 2019) and adaptive softmax (Grave et al.
// 2017) for large word-level vocabularies, as the paper's model uses them
// (docs/spec.md section 4).
//
// Words are ids sorted by frequency. Cutoffs c_0 < c_1 < ... < c_{K-1} < V
// split them into K+1 clusters: cluster 0 (the shortlist) is [0, c_0),
// cluster i is [c_{i-1}, c_i), the last ends at V. Cluster i has its own
// table of width d_i = floor(C / div^i): frequent words get wide vectors,
// the long tail of rare words narrow ones, so the tables hold far fewer
// than V C numbers.
//
//   input:   word w in cluster i -> E_i[w - begin_i] (d_i) -> P_i (C, d_i) -> (C)
//   output:  head logits  = [ E_0 (Q h) + b_0  (c_0 words) ; W h + b_c  (K clusters) ]
//            tail i logits = E_i (P_i^T h) + b_i                       (V_i words)
//            log p(w) = log softmax(head)[w]                              (w in cluster 0)
//            log p(w) = log softmax(head)[c_0 + i - 1] + log softmax(tail i)[w - begin_i]
//
// Tying, the spec's choices: each table E_i serves as input embedding and as
// output weight; each tail projection P_i maps d_i -> C on the input side
// and, transposed, C -> d_i on the output side. The shortlist is the
// exception: its input projection P_0 and its output projection Q are two
// separate (C, C) matrices. Output biases b_i cover every word, and the
// cluster logits W (K, C) have a bias b_c; projections have none.
#pragma once

#include <string>
#include <vector>

#include "autograd/ops.h"

namespace hc {

// Throws std::invalid_argument naming adaptive_cutoffs / adaptive_div when
// the cutoffs are not positive and strictly increasing, a cutoff is not
// below V (checked only when V > 0: a config read before its tokenizer
// has no vocabulary yet), div < 1, or a cluster's width rounds to 0.
void check_adaptive_config(int64_t V, int64_t C, const std::vector<int64_t>& cutoffs, double div);
// d_i = floor(C / div^i), the width of cluster i.
int64_t cluster_width(int64_t C, double div, int64_t i);
// Parameters of the adaptive input and softmax together:
//   sum_i (V_i d_i + C d_i + V_i)  (tables, input projections, output biases)
//   + C C (the shortlist's output projection) + K C + K (the cluster logits).
int64_t adaptive_parameter_count(int64_t V, int64_t C, const std::vector<int64_t>& cutoffs, double div);

class Adaptive {
 public:
  // Parameters are created uninitialised; the LM initialises them.
  Adaptive(int64_t V, int64_t C, const std::vector<int64_t>& cutoffs, double div, DType dtype, Device device);

  // tokens (B,T) I64, keep (V,1) word-dropout row scales (or undefined) -> (B,T,C).
  Variable input(const Tensor& tokens, const Variable& keep) const;
  // h (R,C), targets (R) I64 -> (1): the mean over the R rows of -log p(target).
  Variable loss(const Variable& h, const Tensor& targets) const;
  // h (R,C) -> (R,V) log p(word) for every word, values only (no gradient).
  Variable log_probs(const Variable& h) const;

  // Named: adaptive.embed.{i}.weight (V_i, d_i), adaptive.proj.{i}.weight (C, d_i),
  // adaptive.bias.{i} (V_i) for each cluster i, then adaptive.head_proj.weight (C, C),
  // adaptive.cluster.weight (K, C), adaptive.cluster.bias (K).
  std::vector<Variable> parameters() const;

  std::vector<int64_t> begin;  // K+2 entries: cluster i holds words [begin[i], begin[i+1]), begin[K+1] = V
  std::vector<Variable> embed;  // E_i (V_i, d_i)
  std::vector<Variable> proj;   // P_i (C, d_i)
  std::vector<Variable> bias;   // b_i (V_i)
  Variable head_proj;           // Q (C, C)
  Variable cluster_w;           // W (K, C)
  Variable cluster_b;           // b_c (K)

 private:
  int64_t clusters() const { return static_cast<int64_t>(embed.size()); }  // K+1
  int64_t cluster_of(int64_t word) const;
  // h (R,C) -> (R, c_0 + K): shortlist logits, then one logit per tail cluster.
  Variable head_logits(const Variable& h) const;
  // h (R_i,C) rows whose words are in tail cluster i -> (R_i, V_i).
  Variable tail_logits(const Variable& h, int64_t i) const;
};

}  // namespace hc
