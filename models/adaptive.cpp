#include "models/adaptive.h"

#include <cmath>
#include <sstream>

namespace hc {

void check_adaptive_config(int64_t V, int64_t C, const std::vector<int64_t>& cutoffs, double div) {
  std::ostringstream div_text;
  div_text << div;
  check(div >= 1, "config: adaptive_div must be >= 1, got " + div_text.str());
  if (cutoffs.empty()) return;
  std::string listed;
  for (int64_t c : cutoffs) listed += (listed.empty() ? "" : ", ") + std::to_string(c);
  for (size_t k = 0; k < cutoffs.size(); ++k)
    check(cutoffs[k] > (k == 0 ? 0 : cutoffs[k - 1]),
          "config: adaptive_cutoffs must be positive and strictly increasing, got [" + listed + "]");
  check(V <= 0 || cutoffs.back() < V, "config: adaptive_cutoffs entry " + std::to_string(cutoffs.back()) +
                                          " is not below the vocabulary size " + std::to_string(V) +
                                          " (the last cluster would hold no words)");
  const int64_t K = static_cast<int64_t>(cutoffs.size());
  check(cluster_width(C, div, K) >= 1,
        "config: adaptive_div = " + div_text.str() + " leaves cluster " + std::to_string(K) + " with width floor(" +
            std::to_string(C) + " / " + div_text.str() + "^" + std::to_string(K) +
            ") = 0; lower adaptive_div or use fewer adaptive_cutoffs");
}

int64_t cluster_width(int64_t C, double div, int64_t i) {
  // The small margin keeps an exact quotient such as 512 / 4^3 = 8 from
  // landing a rounding error below the integer.
  return static_cast<int64_t>(std::floor(double(C) / std::pow(div, double(i)) + 1e-9));
}

int64_t adaptive_parameter_count(int64_t V, int64_t C, const std::vector<int64_t>& cutoffs, double div) {
  const int64_t K = static_cast<int64_t>(cutoffs.size());
  int64_t n = C * C + K * C + K;
  for (int64_t i = 0; i <= K; ++i) {
    const int64_t words = (i == K ? V : cutoffs[i]) - (i == 0 ? 0 : cutoffs[i - 1]), d = cluster_width(C, div, i);
    n += words * d + C * d + words;
  }
  return n;
}

Adaptive::Adaptive(int64_t V, int64_t C, const std::vector<int64_t>& cutoffs, double div, DType dt, Device dev) {
  check(!cutoffs.empty(), "adaptive: no cutoffs (the tied full softmax needs no adaptive layers)");
  check_adaptive_config(V, C, cutoffs, div);
  auto make = [&](const std::string& name, const Shape& shape) {
    return Variable(Tensor::empty(shape, dt, dev), true, "adaptive." + name);
  };
  begin = {0};
  begin.insert(begin.end(), cutoffs.begin(), cutoffs.end());
  begin.push_back(V);
  const int64_t K = static_cast<int64_t>(cutoffs.size());
  for (int64_t i = 0; i <= K; ++i) {
    const int64_t words = begin[i + 1] - begin[i], d = cluster_width(C, div, i);
    const std::string n = std::to_string(i);
    embed.push_back(make("embed." + n + ".weight", {words, d}));
    proj.push_back(make("proj." + n + ".weight", {C, d}));
    bias.push_back(make("bias." + n, {words}));
  }
  head_proj = make("head_proj.weight", {C, C});
  cluster_w = make("cluster.weight", {K, C});
  cluster_b = make("cluster.bias", {K});
}

std::vector<Variable> Adaptive::parameters() const {
  std::vector<Variable> ps;
  for (int64_t i = 0; i < clusters(); ++i) ps.insert(ps.end(), {embed[i], proj[i], bias[i]});
  ps.insert(ps.end(), {head_proj, cluster_w, cluster_b});
  return ps;
}

int64_t Adaptive::cluster_of(int64_t word) const {
  check(word >= 0 && word < begin.back(),
        "adaptive: word id " + std::to_string(word) + " out of range for a vocabulary of " + std::to_string(begin.back()));
  int64_t i = 0;
  while (word >= begin[i + 1]) ++i;
  return i;
}

Variable Adaptive::input(const Tensor& tokens, const Variable& keep) const {
  // Each token costs only its own cluster's lookup and projection: the
  // tokens are grouped by cluster, each group is embedded and projected to
  // C, the groups are stacked, and one row gather puts the rows back in
  // token order (its backward scatters each row's gradient back to its
  // group). Masking every cluster's output over all positions instead would
  // do the projections K+1 times over.
  const std::vector<int64_t> ids = tokens.to_ids();
  std::vector<std::vector<int64_t>> local(clusters());  // ids within the cluster, in token order
  std::vector<int64_t> cluster(ids.size());
  for (size_t r = 0; r < ids.size(); ++r) {
    cluster[r] = cluster_of(ids[r]);
    local[cluster[r]].push_back(ids[r] - begin[cluster[r]]);
  }
  std::vector<Variable> groups;
  std::vector<int64_t> start(clusters(), 0);  // first stacked row of each group
  int64_t stacked_rows = 0;
  for (int64_t i = 0; i < clusters(); ++i) {
    start[i] = stacked_rows;
    const int64_t n = static_cast<int64_t>(local[i].size());
    if (n == 0) continue;
    stacked_rows += n;
    // Word dropout acts on the tables: row w of E_i scaled by keep[begin_i + w].
    const Variable table = keep.defined() ? mul(embed[i], slice(keep, 0, begin[i], begin[i + 1])) : embed[i];
    groups.push_back(linear(embedding(table, Tensor::from_ids({n}, local[i])), proj[i]));  // (n, C)
  }
  std::vector<int64_t> where(ids.size());  // the stacked row of token r
  std::vector<int64_t> taken(clusters(), 0);
  for (size_t r = 0; r < ids.size(); ++r) where[r] = start[cluster[r]] + taken[cluster[r]]++;
  const Variable stacked = concat(groups, 0);  // (R, C), grouped by cluster
  return embedding(stacked, Tensor::from_ids(tokens.shape(), where));            // (B,T,C)
}

Variable Adaptive::head_logits(const Variable& h) const {
  const Variable words = linear(linear(h, head_proj), embed[0], bias[0]);  // E_0 (Q h) + b_0: (R, c_0)
  const Variable tails = linear(h, cluster_w, cluster_b);                 // W h + b_c: (R, K)
  return concat({words, tails}, 1);
}

Variable Adaptive::tail_logits(const Variable& h, int64_t i) const {
  // P_i (C, d_i) maps d_i -> C at the input; here h P_i is its transpose, C -> d_i.
  return linear(matmul(h, proj[i]), embed[i], bias[i]);
}

Variable Adaptive::loss(const Variable& h, const Tensor& targets) const {
  // -log p(t) = -log softmax(head)[head target] - [t in a tail] log softmax(tail)[t],
  // so the mean over R rows is the head's mean cross-entropy plus, for each
  // tail i, its mean over the R_i rows whose targets fall in it times R_i / R.
  // A tail is computed on its R_i rows only: most words are in the shortlist.
  const std::vector<int64_t> t = targets.to_ids();
  check(h.value().dim() == 2 && h.size(0) == static_cast<int64_t>(t.size()),
        "adaptive: h must be (R,C) with one target per row, got " + shape_str(h.shape()) + " and " + targets.describe());
  const int64_t R = h.size(0), c0 = begin[1];
  std::vector<int64_t> head_target(R);
  std::vector<std::vector<int64_t>> rows(clusters()), local(clusters());
  for (int64_t r = 0; r < R; ++r) {
    const int64_t i = cluster_of(t[r]);
    head_target[r] = i == 0 ? t[r] : c0 + i - 1;  // a tail word's head target is its cluster's logit
    rows[i].push_back(r);
    local[i].push_back(t[r] - begin[i]);
  }
  // The logits are temporaries: their gradients may take their place.
  Variable total = cross_entropy(head_logits(h), Tensor::from_ids({R}, head_target), -100, true);
  for (int64_t i = 1; i < clusters(); ++i) {
    const int64_t n = static_cast<int64_t>(rows[i].size());
    if (n == 0) continue;
    const Variable picked = embedding(h, Tensor::from_ids({n}, rows[i]));  // the rows of h, (R_i, C)
    const Variable tail = cross_entropy(tail_logits(picked, i), Tensor::from_ids({n}, local[i]), -100, true);
    total = add(total, scale(tail, double(n) / double(R)));
  }
  return total;
}

Variable Adaptive::log_probs(const Variable& h) const {
  // The engine's one log-softmax is fused into cross_entropy, which returns
  // only the mean, so the full distribution is normalised here on the host,
  // in double. Generation and tests read it; training goes through loss().
  NoGrad no_grad;
  const int64_t R = h.size(0), V = begin.back(), c0 = begin[1], W = c0 + clusters() - 1;
  auto log_softmax_rows = [R](std::vector<double>& x) {
    const int64_t n = static_cast<int64_t>(x.size()) / R;
    for (int64_t r = 0; r < R; ++r) {
      double* row = x.data() + r * n;
      double top = row[0], sum = 0;
      for (int64_t k = 1; k < n; ++k) top = std::max(top, row[k]);
      for (int64_t k = 0; k < n; ++k) sum += std::exp(row[k] - top);
      const double lse = top + std::log(sum);
      for (int64_t k = 0; k < n; ++k) row[k] -= lse;
    }
  };
  std::vector<double> head = head_logits(h).value().to_vector();  // (R, W)
  log_softmax_rows(head);
  std::vector<double> out(R * V);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t w = 0; w < c0; ++w) out[r * V + w] = head[r * W + w];
  for (int64_t i = 1; i < clusters(); ++i) {
    const int64_t n = begin[i + 1] - begin[i];
    std::vector<double> tail = tail_logits(h, i).value().to_vector();  // (R, V_i)
    log_softmax_rows(tail);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t w = 0; w < n; ++w) out[r * V + begin[i] + w] = head[r * W + c0 + i - 1] + tail[r * n + w];
  }
  const Tensor host = Tensor::from_vector({R, V}, out, h.value().dtype());
  return Variable(h.value().device() == Device::CPU ? host : host.to(h.value().device()));
}

}  // namespace hc
