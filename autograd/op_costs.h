// What the heavy ops cost, on paper, written once: each op records its cost
// in the profiler (engine/profiler.h) from these functions, and
// models/head_cost.* adds the same functions up into the parts of a layer,
// so the analytic table of `headcount profile` and the profiler's records
// cannot drift apart (tests/test_profile.cpp checks they agree).
//
// FLOPs count a multiply-add as 2. Bytes count every operand read and every
// result written once, `elem` bytes an element (4 for float32), nothing
// cached. A product's backward does two products of the forward's size (one
// for each input's gradient), so twice its FLOPs and bytes.
#pragma once

namespace hc::cost {

struct OpCost {
  double forward_flops = 0, backward_flops = 0;
  double forward_bytes = 0, backward_bytes = 0;
  OpCost& operator+=(const OpCost& o) {
    forward_flops += o.forward_flops, backward_flops += o.backward_flops;
    forward_bytes += o.forward_bytes, backward_bytes += o.backward_bytes;
    return *this;
  }
};

// G products (rows x inner) . (inner x cols).
inline OpCost products(double G, double rows, double inner, double cols, double elem) {
  const double flops = 2 * G * rows * inner * cols, bytes = elem * G * (rows * inner + inner * cols + rows * cols);
  return {flops, 2 * flops, bytes, 2 * bytes};
}

// linear: x (R, C) . w (OC, C)^T.
inline OpCost linear(double R, double C, double OC, double elem) { return products(1, R, C, OC, elem); }

// head_scores: per head h of H and group g of G, a (I, D) window of a
// times a (J, D) window of b, transposed; the inputs hold all heads (HD = H D wide).
inline OpCost head_scores(double H, double G, double I, double J, double D, double elem) {
  const double flops = 2 * H * G * I * J * D, bytes = elem * (G * (I + J) * H * D + H * G * I * J);
  return {flops, 2 * flops, bytes, 2 * bytes};
}

// append_scores: the (H B, T, S) context scores copied beside the
// persistent scores q . k_p for H heads of B T queries and N keys.
inline OpCost append_scores(double H, double B, double T, double S, double N, double D, double elem) {
  const double G = H * B, R = B * T, flops = 2 * H * R * N * D;
  const double product_bytes = elem * (H * (R + N) * D + G * T * N), copy_bytes = elem * 2 * G * T * S;
  return {flops, 2 * flops, copy_bytes + product_bytes, copy_bytes + 2 * product_bytes};
}

// weighted_sum: (H B, T, S+N) probabilities times the (B, S, H D) values and
// the (H, N, D) persistent values, into (B, T, H D).
inline OpCost weighted_sum(double H, double B, double T, double S, double N, double D, double elem) {
  const double G = H * B, W = S + N, HD = H * D, flops = 2 * G * T * W * D;
  const double bytes = elem * (G * T * W + B * S * HD + H * N * D + B * T * HD);
  return {flops, 2 * flops, bytes, 2 * bytes};
}

// masked_softmax over R rows of W: max, subtract, exp, sum, divide forward;
// backward dx = y (dy - sum dy y). With dropout the forward also writes z.
inline OpCost masked_softmax(double R, double W, bool dropout, double elem) {
  return {5 * R * W, 4 * R * W, elem * (dropout ? 3 : 2) * R * W, elem * 3 * R * W};
}

// layernorm of R rows of C: mean, variance, normalise, scale and shift.
inline OpCost layernorm(double R, double C, double elem) {
  return {8 * R * C, 14 * R * C, elem * (2 * R * C + 2 * C), elem * (4 * R * C + 4 * C)};
}

// cross_entropy of R rows of V logits: a log-softmax and the picked entry.
inline OpCost cross_entropy(double R, double V, double elem) {
  return {4 * R * V, 4 * R * V, elem * R * V, elem * 3 * R * V};
}

// attention (the fused op, autograd/ops/attention.cpp): G = H B query rows of
// T, each over its V = M+1+N visible columns only (the unfused ops compute
// every one of the S+N columns and mask afterwards). Its five phases, the
// parts of the unfused computation, each with the forward's work and the
// backward's: the backward recomputes the scores (once more the forward's
// score FLOPs) and then takes two products per score product (the gradients
// of both operands), and two per weighted-sum product (dz and dv).
struct AttentionPhases {
  OpCost content, position, persistent, softmax, weighted_sum;
  OpCost total() const {
    OpCost t = content;
    t += position, t += persistent, t += softmax, t += weighted_sum;
    return t;
  }
};
inline AttentionPhases attention_phases(double H, double B, double T, double M, double N, double D, double elem) {
  const double G = H * B, V = M + 1 + N, HD = H * D;
  auto scores = [&](double cols) {
    const double flops = 2 * G * T * cols * D;
    return OpCost{flops, 3 * flops, 0, 0};
  };
  AttentionPhases p{scores(M + 1), scores(M + 1), scores(N), {5 * G * T * V, 4 * G * T * V, 0, 0}, {}};
  const double wsum = 2 * G * T * V * D;
  p.weighted_sum = {wsum, 2 * wsum, 0, 0};
  // Bytes, all charged to the weighted sum: q, k, v, r, the biases and the
  // persistent vectors read, out and the row statistics written; the backward
  // reads them and dout again and writes a gradient of each.
  const double bytes = elem * (2 * B * T * HD + 2 * B * (M + T) * HD + (M + T) * HD + 2 * HD + 2 * H * N * D + G * T);
  p.weighted_sum.forward_bytes = bytes;
  p.weighted_sum.backward_bytes = 2 * bytes + elem * B * T * HD;
  return p;
}

}  // namespace hc::cost
