// Harness cases for the attention-specific ops: head_scores, add_rel_shift, append_scores, weighted_sum,
// and the fused attention op that does the work of all of them.
#include <algorithm>
#include <cmath>

#include "tests/op_harness.h"

namespace hc::test {
namespace {

// With pos_twice, y = add_rel_shift(content, pos) + pos: pos's gradient
// then already holds add's contribution when add_rel_shift's backward adds
// its own (the accumulating path; alone, the op writes a first gradient).
OpCase add_rel_shift_case(int64_t G, int64_t T, int64_t S, bool pos_twice = false) {
  OpCase c;
  c.name = "add_rel_shift " + shape_str({G, T, S}) + (pos_twice ? " + pos" : "");
  c.inputs = {{G, T, S}, {G, T, S}};
  c.run = [pos_twice](const std::vector<Variable>& v) {
    const Variable y = add_rel_shift(v[0], v[1]);
    return pos_twice ? add(y, v[1]) : y;
  };
  c.reference = [=](const HostInputs& in) {
    // y[g,i,j] = content[g,i,j] + element (T-1) + i*(S-1) + j of pos's block g, read as a flat array.
    std::vector<double> y(G * T * S);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < S; ++j) {
          const int64_t e = (g * T + i) * S + j;
          y[e] = in[0][e] + in[1][g * T * S + (T - 1) + i * (S - 1) + j] + (pos_twice ? in[1][e] : 0.0);
        }
    return y;
  };
  return c;
}

// a (G,I,H*D), b (G,J,H*D) -> (H*G,I,J); with same_input, b is a itself
// (I = J), so the two gradients land in one tensor.
OpCase head_scores_case(int64_t G, int64_t I, int64_t J, int64_t H, int64_t D, double alpha,
                        bool same_input = false) {
  OpCase c;
  c.name = "head_scores G=" + std::to_string(G) + " I=" + std::to_string(I) + " J=" + std::to_string(J) +
           " H=" + std::to_string(H) + " D=" + std::to_string(D) + (same_input ? " (a, a)" : "");
  const int64_t HD = H * D;
  c.inputs = {{G, I, HD}};
  if (!same_input) c.inputs.push_back({G, J, HD});
  c.run = [=](const std::vector<Variable>& v) { return head_scores(v[0], v[same_input ? 0 : 1], H, alpha); };
  c.reference = [=](const HostInputs& in) {
    const std::vector<double>& b = in[same_input ? 0 : 1];
    std::vector<double> y(H * G * I * J);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t i = 0; i < I; ++i)
          for (int64_t j = 0; j < J; ++j) {
            double dot = 0;
            for (int64_t d = 0; d < D; ++d) dot += in[0][(g * I + i) * HD + h * D + d] * b[(g * J + j) * HD + h * D + d];
            y[((h * G + g) * I + i) * J + j] = alpha * dot;
          }
    return y;
  };
  return c;
}

// ctx (H*B,T,S), q (B,T,H*D), keys (H,N,D) -> (H*B,T,S+N).
OpCase append_scores_case(int64_t H, int64_t B, int64_t T, int64_t S, int64_t N, int64_t D) {
  OpCase c;
  c.name = "append_scores H=" + std::to_string(H) + " B=" + std::to_string(B) + " T=" + std::to_string(T) +
           " S=" + std::to_string(S) + " N=" + std::to_string(N) + " D=" + std::to_string(D);
  const int64_t G = H * B, W = S + N, HD = H * D;
  c.inputs = {{G, T, S}, {B, T, HD}, {H, N, D}};
  c.run = [](const std::vector<Variable>& v) { return append_scores(v[0], v[1], v[2]); };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y(G * T * W);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
          const int64_t g = h * B + b;
          for (int64_t j = 0; j < S; ++j) y[(g * T + t) * W + j] = in[0][(g * T + t) * S + j];
          for (int64_t n = 0; n < N; ++n) {
            double dot = 0;
            for (int64_t d = 0; d < D; ++d) dot += in[1][(b * T + t) * HD + h * D + d] * in[2][(h * N + n) * D + d];
            y[(g * T + t) * W + S + n] = dot;
          }
        }
    return y;
  };
  return c;
}

// probs (H*B,T,S+N), v (B,S,H*D), pv (H,N,D) -> (B,T,H*D); N = 0 drops pv.
OpCase weighted_sum_case(int64_t H, int64_t B, int64_t T, int64_t S, int64_t N, int64_t D, double s) {
  OpCase c;
  c.name = "weighted_sum H=" + std::to_string(H) + " B=" + std::to_string(B) + " T=" + std::to_string(T) +
           " S=" + std::to_string(S) + " N=" + std::to_string(N) + " D=" + std::to_string(D);
  const int64_t G = H * B, W = S + N, HD = H * D;
  c.inputs = {{G, T, W}, {B, S, HD}};
  if (N > 0) c.inputs.push_back({H, N, D});
  c.run = [=](const std::vector<Variable>& v) { return weighted_sum(v[0], v[1], N > 0 ? v[2] : Variable(), s); };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y(B * T * HD, 0.0);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < D; ++d) {
            const double* p = &in[0][((h * B + b) * T + t) * W];
            double sum = 0;
            for (int64_t j = 0; j < S; ++j) sum += p[j] * in[1][(b * S + j) * HD + h * D + d];
            for (int64_t n = 0; n < N; ++n) sum += s * p[S + n] * in[2][(h * N + n) * D + d];
            y[(b * T + t) * HD + h * D + d] = sum;
          }
    return y;
  };
  return c;
}

// The fused op: q (B,T,H*D), k v (B,S,H*D), r (S,H*D), u vb (H,D), pk pv
// (H,N,D) -> (B,T,H*D), no dropout; N = 0 drops pk and pv. The reference is
// the definition (autograd/ops/attention.cpp) row by row over the M+1+N
// visible columns.
OpCase attention_case(int64_t H, int64_t B, int64_t T, int64_t M, int64_t N, int64_t D) {
  OpCase c;
  c.name = "attention H=" + std::to_string(H) + " B=" + std::to_string(B) + " T=" + std::to_string(T) +
           " M=" + std::to_string(M) + " N=" + std::to_string(N) + " D=" + std::to_string(D);
  const int64_t S = M + T, HD = H * D;
  const double alpha = 1.0 / std::sqrt(double(D)), pv_scale = std::sqrt(double(N));
  c.inputs = {{B, T, HD}, {B, S, HD}, {B, S, HD}, {S, HD}, {H, D}, {H, D}};
  if (N > 0) c.inputs.insert(c.inputs.end(), {{H, N, D}, {H, N, D}});
  c.run = [=](const std::vector<Variable>& x) {
    const AttentionOperands ops{x[0], x[1], x[2], x[3], x[4], x[5], N > 0 ? x[6] : Variable(), N > 0 ? x[7] : Variable()};
    return attention(ops, AttentionOptions{alpha, pv_scale, 0.0, RandomKey{}});
  };
  c.reference = [=](const HostInputs& in) {
    const std::vector<double> &q = in[0], &k = in[1], &v = in[2], &r = in[3], &u = in[4], &vb = in[5];
    std::vector<double> out(B * T * HD, 0.0), s(M + 1 + N);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < T; ++i) {
          const double* qi = &q[(b * T + i) * HD + h * D];
          for (int64_t t = 0; t <= M; ++t) {  // key j = i+t at distance M-t: r's row T-1+t
            double content = 0, position = 0;
            for (int64_t d = 0; d < D; ++d) {
              content += (qi[d] + u[h * D + d]) * k[(b * S + i + t) * HD + h * D + d];
              position += (qi[d] + vb[h * D + d]) * r[(T - 1 + t) * HD + h * D + d];
            }
            s[t] = alpha * (content + position);
          }
          for (int64_t n = 0; n < N; ++n) {
            double dot = 0;
            for (int64_t d = 0; d < D; ++d) dot += qi[d] * in[6][(h * N + n) * D + d];
            s[M + 1 + n] = dot;
          }
          double mx = s[0], sum = 0;
          for (double x : s) mx = std::max(mx, x);
          for (double& x : s) sum += x = std::exp(x - mx);
          double* o = &out[(b * T + i) * HD + h * D];
          for (int64_t d = 0; d < D; ++d) {
            for (int64_t t = 0; t <= M; ++t) o[d] += s[t] / sum * v[(b * S + i + t) * HD + h * D + d];
            for (int64_t n = 0; n < N; ++n) o[d] += pv_scale * s[M + 1 + n] / sum * in[7][(h * N + n) * D + d];
          }
        }
    return out;
  };
  return c;
}

const RegisterOpCases cases({head_scores_case(3, 4, 5, 2, 3, 0.7), head_scores_case(1, 6, 4, 3, 2, 1.0),
                             head_scores_case(2, 5, 5, 2, 3, -0.4, true), add_rel_shift_case(2, 3, 5), add_rel_shift_case(3, 4, 4), add_rel_shift_case(1, 5, 9),
                             add_rel_shift_case(2, 1, 3), add_rel_shift_case(2, 3, 5, true),
                             weighted_sum_case(2, 3, 4, 5, 3, 2, 1.7), weighted_sum_case(3, 2, 3, 4, 0, 3, 1.0),
                             weighted_sum_case(1, 4, 2, 3, 5, 4, -0.6), append_scores_case(2, 3, 4, 5, 3, 2),
                             append_scores_case(3, 1, 2, 6, 4, 5), attention_case(2, 2, 3, 2, 3, 4),
                             attention_case(1, 3, 5, 0, 2, 3), attention_case(3, 1, 4, 3, 0, 2),
                             attention_case(2, 2, 9, 4, 5, 3)});

}  // namespace
}  // namespace hc::test
