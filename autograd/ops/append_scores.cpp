// append_scores: [ctx (H*B, T, S) ; q_h (B*T, D) · keys_h (N, D)^T] -> (H*B, T, S+N)
// with q (B, T, H*D) token-major and q_h its D columns of head h.
//
// All-attention's persistent vectors are keys that every sequence of head h
// shares, so their scores are one product per head over the B*T query rows:
// (B*T, D)·(D, N), batched over H. Head h's queries are a column window of
// q (offset h*D, leading dimension H*D), read in place. Softmax then runs
// over [context ; persistent] columns of each row. Rather than compute the
// persistent scores into a tensor of their own and concatenate, the product
// writes straight into the last N columns of the output (leading dimension
// S+N), and the context scores are copied into the first S. Item g = h*B + b
// of the output is row block b of head h.
//
// Backward, with dY (H*B, T, S+N):
//   dctx  = dY[:, :, :S]                         a strided copy
//   dq_h  = dY_h[:, S:] keys_h                   (B*T,N)·(N,D)
//   dkeys_h = dY_h[:, S:]^T q_h                  (N,B*T)·(B*T,D)
// both products reading dY's window and q's columns in place; the H column
// windows of dq tile it, so a first gradient needs no zero fill.
#include "autograd/ops/common.h"

namespace hc {

Variable append_scores(const Variable& ctx, const Variable& q, const Variable& keys) {
  check(ctx.value().dim() == 3 && q.value().dim() == 3 && keys.value().dim() == 3 && keys.size(0) > 0 &&
            q.size(2) == keys.size(0) * keys.size(2) && ctx.size(0) == keys.size(0) * q.size(0) &&
            ctx.size(1) == q.size(1),
        "append_scores: expects ctx (H*B,T,S), q (B,T,H*D), keys (H,N,D), got " + shape_str(ctx.shape()) + ", " +
            shape_str(q.shape()) + ", " + shape_str(keys.shape()));
  const int64_t G = ctx.size(0), T = ctx.size(1), S = ctx.size(2), H = keys.size(0), R = q.size(0) * T,
                D = keys.size(2), HD = H * D, N = keys.size(1), W = S + N;  // R = B*T query rows per head
  profiler::Scope prof("append_scores", [&] {
    return profiler::Cost{detail::shape_of("ctx", ctx) + " " + detail::shape_of("q", q) + " " +
                              detail::shape_of("keys", keys),
                          cost::append_scores(H, G / H, T, S, N, D, detail::elem_of(q.value())).forward_flops,
                          cost::append_scores(H, G / H, T, S, N, D, detail::elem_of(q.value())).forward_bytes};
  });
  Tensor y = Tensor::empty({G, T, W}, ctx.value().dtype(), ctx.value().device());
  Backend& be = backend_of(y);
  be.strided_copy(y, 0, {T * W, W, 1}, ctx.value(), 0, {T * S, S, 1}, {G, T, S}, false);
  be.gemm(false, true, R, N, D, 1.0, {q.value(), 0, HD, D}, {keys.value(), 0, D, N * D}, 0.0, {y, S, W, R * W}, H);

  return make_result(y, "append_scores", {ctx, q, keys}, [ctx, q, keys, G, T, S, H, R, D, HD, N, W](const Tensor& dy) {
    profiler::Scope prof("append_scores.backward", [&] {
      return profiler::Cost{detail::shape_of("q", q) + " " + detail::shape_of("keys", keys), 
                            cost::append_scores(H, G / H, T, S, N, D, detail::elem_of(dy)).backward_flops,
                            cost::append_scores(H, G / H, T, S, N, D, detail::elem_of(dy)).backward_bytes};
    });
    Backend& be = backend_of(dy);
    bool acc = false;  // a first gradient is written, later ones added
    if (ctx.requires_grad()) {
      const Tensor& g = ctx.grad_target(acc);
      be.strided_copy(g, 0, {T * S, S, 1}, dy, 0, {T * W, W, 1}, {G, T, S}, acc);
    }
    const Matrix scores{dy, S, W, R * W};  // the persistent window of dY, head by head
    std::optional<Backend::GemmCall> dq, dkeys;
    if (q.requires_grad()) {
      const Tensor& g = q.grad_target(acc);
      dq = Backend::GemmCall{false, false, R, D, N, 1.0, scores, {keys.value(), 0, D, N * D}, acc ? 1.0 : 0.0,
                             {g, 0, HD, D}, H};
    }
    if (keys.requires_grad()) {
      const Tensor& g = keys.grad_target(acc);
      dkeys = Backend::GemmCall{true, false, N, D, R, 1.0, scores, {q.value(), 0, HD, D}, acc ? 1.0 : 0.0,
                                {g, 0, D, N * D}, H};
    }
    detail::gemm_gradients(be, dq, dkeys);
  });
}

}  // namespace hc
