// attention: q (B,T,H*D), k v (B,S,H*D), r (S,H*D), u vb (H,D), pk pv (H,N,D)
//   -> out (B,T,H*D), All-attention over every head in one op.
//
// For query i of head h (S = M+T; the context columns i..i+M are the ones
// the same-length mask leaves visible, t = j-i their offset):
//   a_ij     = alpha ((q_i + u)·k_j + (q_i + vb)·r_{T-1+t})   j = i+t, t = 0..M
//   a_i,S+n  = q_i·pk_n                                       n = 0..N-1
//   p_i      = softmax of row a_i over those M+1+N columns
//   z_i      = p_i m_i        m the inverted-dropout multipliers of (p, key)
//   out_i    = sum_j z_ij v_j + pv_scale sum_n z_i,S+n pv_n
// exactly what models/allatt_layer.cpp's unfused ops compute
// (head_scores, add_rel_shift, append_scores, masked_softmax, weighted_sum):
// r's row T-1+t is the relative shift of add_rel_shift.cpp, done by indexing.
//
// The work is one backend primitive per direction (Backend::attention_forward
// and attention_backward, engine/backend.h). The CPU's never holds the
// (H*B,T,S+N) scores: it keeps each row's log-sum-exp and dropout bits, and
// the backward recomputes the probabilities from them (docs/autograd.md,
// "Fused attention"). A backend without a fused kernel runs the base class's
// composition of the other primitives.
//
// Backward, with dout (B,T,H*D) and ds the scores' gradient
// (ds_ij = p_ij (m_ij dout_i·v_j - dout_i·out_i), the softmax's rule):
//   dq_i = alpha sum_j ds_ij (k_j + r_{T-1+t}) + sum_n ds_i,S+n pk_n
//   dk_j = alpha sum_i ds_ij (q_i+u),  dr_{T-1+t} = alpha sum ds_ij (q_i+vb)
//   du = alpha sum ds k,  dvb = alpha sum ds r,  dpk_n = sum_i ds_i,S+n q_i
//   dv_j = sum_i z_ij dout_i,  dpv_n = pv_scale sum_i z_i,S+n dout_i
#include "autograd/ops/common.h"

namespace hc {

namespace {

// The backend call of the operands and options (undefined pk/pv: N = 0).
AttentionCall call_of(const AttentionOperands& x, const AttentionOptions& o) {
  AttentionCall c;
  c.q = x.q.value(), c.k = x.k.value(), c.v = x.v.value(), c.r = x.r.value();
  c.u = x.u.value(), c.vb = x.vb.value();
  if (x.pk.defined()) c.pk = x.pk.value(), c.pv = x.pv.value();
  c.alpha = o.alpha, c.pv_scale = o.pv_scale, c.dropout_p = o.dropout_p, c.key = o.key;
  return c;
}

// The profiler's record: the five phases' FLOPs and bytes summed.
cost::OpCost cost_of(const AttentionCall::Dims& d, const Tensor& like) {
  return cost::attention_phases(d.H, d.B, d.T, d.M, d.N, d.D, detail::elem_of(like)).total();
}

// The gradient target of one operand: undefined when it needs none.
GradTarget target_of(const Variable& x) {
  if (!x.defined() || !x.requires_grad()) return {};
  bool acc = false;
  const Tensor& g = x.grad_target(acc);
  return {g, acc};
}

}  // namespace

Variable attention(const AttentionOperands& x, const AttentionOptions& options) {
  check(x.q.defined() && x.k.defined() && x.v.defined() && x.r.defined() && x.u.defined() && x.vb.defined(),
        "attention: q, k, v, r, u and vb are all needed");
  check(x.pk.defined() == x.pv.defined(), "attention: persistent keys and values come together");
  const AttentionCall call = call_of(x, options);
  const AttentionCall::Dims d = call.dims();  // checks every shape, naming the operand
  profiler::Scope prof("attention", [&] {
    const cost::OpCost c = cost_of(d, call.q);
    return profiler::Cost{detail::shape_of("q", x.q) + " " + detail::shape_of("k", x.k), c.forward_flops,
                          c.forward_bytes};
  });
  Tensor out = Tensor::empty(x.q.shape(), x.q.value().dtype(), x.q.value().device());
  const AttentionRecord record = backend_of(out).attention_forward(call, out);

  return make_result(out, "attention", {x.q, x.k, x.v, x.r, x.u, x.vb, x.pk, x.pv},
                     [x, call, d, out, record](const Tensor& dout) {
    profiler::Scope prof("attention.backward", [&] {
      const cost::OpCost c = cost_of(d, dout);
      return profiler::Cost{detail::shape_of("q", x.q) + " " + detail::shape_of("k", x.k), c.backward_flops,
                            c.backward_bytes};
    });
    const AttentionGrads grads{target_of(x.q),  target_of(x.k), target_of(x.v),  target_of(x.r),
                               target_of(x.u),  target_of(x.vb), target_of(x.pk), target_of(x.pv)};
    backend_of(dout).attention_backward(call, out, dout, record, grads);
  });
}

}  // namespace hc
