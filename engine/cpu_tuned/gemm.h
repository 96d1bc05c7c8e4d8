// The CPU backend's GEMM dispatch: which kernel runs each product, and on
// how many threads. Every call computes what the plain product
// (cpu::plain::gemm, engine/cpu_backend.h) computes, item by item; only the
// order of the sums changes, so results agree to rounding.
//
// The choices, by dtype, shape and free threads (engine/cpu_tuned/gemm.cpp):
// - one float32 product on one thread with M, N, K >= 64: the packed AVX-512
//   kernel (engine/cpu_tuned/packed_gemm.h);
// - one product with a long sum and a small C on one thread: the plain
//   product over slices of K;
// - one tall product (M >= 4N) on several threads: one block of C's rows per
//   thread, each single-threaded;
// - batches of float32 products with a small B: the register-blocked
//   AVX-512 kernel (engine/cpu_tuned/small_gemm.h), one item per thread;
// - other batches: one item per thread, each single-threaded;
// - anything else: the plain product, on Eigen's own threads.
#pragma once

#include "engine/backend.h"

namespace hc::cpu::tuned {

// Backend::gemm: C = alpha op(A) op(B) + beta C for each of g.batch items.
void gemm(const Backend::GemmCall& g);

// Backend::gemm_bias, C (M,N) = alpha op(A) op(B) + bias in every row, where
// the packed kernel can add the bias as it stores each tile of C (float32,
// A not transposed, M/threads, N, K >= 64). Returns false, having done
// nothing, for the calls it leaves to Backend's default.
bool gemm_bias(const Backend::GemmCall& g, const Tensor& bias);

// Backend::gemm_heads, all heads x g.batch items in one parallel loop, where
// they are float32 products with a small B. Returns false, having done
// nothing, otherwise.
bool gemm_heads(const Backend::GemmCall& g, int64_t heads, Backend::HeadStrides strides);

// Backend::gemm_pair, the two products side by side, each on its share of
// the threads. Returns false, having done nothing, when there is only one
// free thread, either product is batched, neither has any FLOPs, their
// dtypes differ, or one writes a tensor the other touches (then they must
// run in turn).
bool gemm_pair(const Backend::GemmCall& p, const Backend::GemmCall& q);

}  // namespace hc::cpu::tuned
