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

}  // namespace hc::cost
