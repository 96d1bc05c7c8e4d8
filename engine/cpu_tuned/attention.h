// The CPU's fused All-attention in blocks of query rows: the kernel that
// engine/cpu_attention.cpp's attention_forward / attention_backward run, the
// same definition as its plain loops (one row at a time), computed with
// small matrix products instead of one dot product per score.
//
// A task is head h, sequence b, and a block of Q query rows i0..i0+Q-1. The
// rows' visible context keys are j = i0 .. i0+Q-1+M, a window of Q+M keys
// (the rows' bands are its diagonals), and every row sees the same M+1
// position rows T-1..S-1 of r and the same N persistent keys, so a block's
// scores are three products:
//   content  (Q, Q+M) = (q+u) K_window^T     (the band of row r: columns r..r+M)
//   position (Q, M+1) = (q+vb) R^T
//   persistent (Q, N) = q Pk^T
// and its output two: Z_band (Q, Q+M) V_window + pv_scale Z_pers (Q, N) Pv.
// The backward runs the same products backwards, block by block, from the
// recomputed probabilities. A block's scores, probabilities and gradients
// stay in the task's buffers, in cache. In float32 on an AVX-512 CPU the
// products are small_gemm's register-blocked kernel
// (engine/cpu_tuned/small_gemm.h), which reads its operands in place; Eigen
// would pack both for every one of these small products. In float64 (the
// gradient checks) and without AVX-512 they are Eigen's.
#pragma once

#include "engine/backend.h"

namespace hc::cpu::tuned {

AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out);
void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                        const AttentionRecord& record, const AttentionGrads& grads);

}  // namespace hc::cpu::tuned
