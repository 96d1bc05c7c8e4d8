// The CPU backend's GEMM dispatch (the list of choices is in
// engine/cpu_tuned/gemm.h). Each choice is made here, with the reason for it;
// what each one gained when it was made is in docs/cpu-kernels.md.
#include "engine/cpu_tuned/gemm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/cpu_backend.h"
#include "engine/cpu_tuned/packed_gemm.h"
#include "engine/cpu_tuned/small_gemm.h"
#include "engine/cpu_util.h"

namespace hc::cpu::tuned {
namespace {

// Item 0 of call g on raw pointers (each operand's dtype checked against T).
template <typename T>
Product<T> product_of(const Backend::GemmCall& g) {
  return {g.trans_a, g.trans_b, g.M, g.N, g.K, T(g.alpha), ptr<T>(g.A.tensor) + g.A.offset, g.A.ld,
          ptr<T>(g.B.tensor) + g.B.offset, g.B.ld, T(g.beta), ptr<T>(g.C.tensor) + g.C.offset, g.C.ld};
}

// Item i of the batch whose item 0 is p: every operand moved by i batch strides.
template <typename T>
Product<T> item(Product<T> p, const Backend::GemmCall& g, int64_t i) {
  p.a += i * g.A.batch_stride;
  p.b += i * g.B.batch_stride;
  p.c += i * g.C.batch_stride;
  return p;
}

// Rows [M part / parts, M (part+1) / parts) of p's C, as a product of its own.
template <typename T>
Product<T> row_block(Product<T> p, int part, int parts) {
  const int64_t lo = p.M * part / parts, hi = p.M * (part + 1) / parts;
  p.M = hi - lo;
  p.a += p.ta ? lo : lo * p.lda;  // row lo of op(A): row lo of A, or column lo when A is stored transposed
  p.c += lo * p.ldc;
  return p;
}

// A single-threaded product summed over a long K with a small C (a weight
// gradient: C x C summed over the R = B*T rows) runs as a sum of products
// over slices of kKSlice terms, each added onto C: Eigen blocks K much deeper
// (520-824 terms) for such shapes, and shallower slices ran faster. Products
// on Eigen's own threads keep its choice.
constexpr int64_t kKSlice = 128;

// p as that sum of slices: the first slice's product applies beta, each
// later one adds onto C.
template <typename T>
void gemm_k_slices(const Product<T>& p) {
  for (int64_t k = 0; k < p.K; k += kKSlice) {
    Product<T> slice = p;
    slice.K = std::min(kKSlice, p.K - k);
    // Columns k.. of op(A) and rows k.. of op(B), wherever they are stored.
    slice.a += p.ta ? k * p.lda : k;
    slice.b += p.tb ? k : k * p.ldb;
    if (k > 0) slice.beta = T(1);
    plain::gemm(slice);
  }
}

// One product, on the calling thread when it runs inside a parallel region
// (or OpenMP has one thread), else the plain product on Eigen's threads.
template <typename T>
void gemm_one(const Product<T>& p) {
#ifdef __AVX512F__
  // A large float32 product on one thread: the packed kernel. Eigen still
  // serves float64, small shapes and products on its own threads.
  if constexpr (std::is_same_v<T, float>) {
    if (p.M >= 64 && p.N >= 64 && p.K >= 64 && free_threads() == 1) {
      packed_gemm::gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
      return;
    }
  }
#endif
  if (p.K >= 4 * kKSlice && p.K >= 2 * std::max(p.M, p.N) && free_threads() == 1) {
    gemm_k_slices(p);
    return;
  }
  plain::gemm(p);
}

// Whether a product of C (M,N) is cut into one block of rows per thread: a
// tall C (M >= 4N: the linear layers' forward and input gradient, R rows by
// C features) with at least 64 rows per thread. Each block is then one
// single-threaded product with no synchronisation inside, where Eigen's own
// threading shares packed panels between threads and waits on them. Other
// shapes (the weight gradient, C x C summed over R) stay with Eigen's
// threading, which did better there.
bool splits_rows(int64_t M, int64_t N, int threads) { return threads > 1 && M >= 4 * N && M >= 64 * threads; }

// One product on all free threads: a block of rows each, or gemm_one.
template <typename T>
void gemm_rows_split(const Product<T>& p) {
  const int threads = free_threads();
  if (!splits_rows(p.M, p.N, threads)) {
    gemm_one(p);
    return;
  }
#pragma omp parallel num_threads(threads)
  gemm_one(row_block(p, thread_index(), threads));
}

#ifdef __AVX512F__
// Element offsets between consecutive items, for A, B and C.
using Strides = Backend::HeadStrides;

// Batched float32 products with a small B, one item per thread, through the
// register-blocked kernel of engine/cpu_tuned/small_gemm.h: item (h, g) of
// heads x batch items (head-major) has each operand X moved by
// h * head.X + g * step.X. A B stored transposed is first copied into a
// per-thread (K,N) buffer: K N moves against the product's 2 M N K flops.
void small_products(const Product<float>& p, Strides step, int64_t batch, int64_t heads = 1, Strides head = {}) {
#pragma omp parallel
  {
    thread_local std::vector<float> b_rows;  // B as (K,N), when stored (N,K)
    if (p.tb) b_rows.resize(p.K * p.N);
#pragma omp for schedule(static)
    for (int64_t it = 0; it < heads * batch; ++it) {
      const int64_t h = it / batch, g = it % batch;
      const float* bg = p.b + h * head.b + g * step.b;
      int64_t ld = p.ldb;
      if (p.tb) {
        small_gemm::transpose(bg, p.ldb, p.N, p.K, b_rows.data());
        bg = b_rows.data();
        ld = p.N;
      }
      small_gemm::gemm(p.ta, p.M, p.N, p.K, p.alpha, p.a + h * head.a + g * step.a, p.lda, bg, ld, p.beta,
                       p.c + h * head.c + g * step.c, p.ldc);
    }
  }
}
#endif

// Whether product p writes a storage that product q reads or writes.
bool writes_into(const Backend::GemmCall& p, const Backend::GemmCall& q) {
  const Storage* out = p.C.tensor.storage().get();
  return out == q.A.tensor.storage().get() || out == q.B.tensor.storage().get() ||
         out == q.C.tensor.storage().get();
}

}  // namespace

void gemm(const Backend::GemmCall& g) {
  by_float_type(g.C.tensor.dtype(), "gemm", [&](auto zero) {
    using T = decltype(zero);
    const Product<T> p = product_of<T>(g);
    if (g.batch == 1) {
      gemm_rows_split(p);
      return;
    }
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (p.N * p.K <= small_gemm::kMaxBElements) {
        small_products(p, {g.A.batch_stride, g.B.batch_stride, g.C.batch_stride}, g.batch);
        return;
      }
    }
#endif
    // Many small products (attention per batch and head): one per thread,
    // each single-threaded (Eigen sees it is inside a parallel region).
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g.batch; ++i) gemm_one(item(p, g, i));
  });
}

// The packed kernel adds the bias as it stores each tile of C: no pass over
// C to fill it with the bias, and none to read it back for beta = 1. The
// rows are cut among the threads as gemm_rows_split cuts them.
bool gemm_bias(const Backend::GemmCall& g, const Tensor& bias) {
#ifdef __AVX512F__
  const int threads = free_threads();
  const bool packed = g.C.tensor.dtype() == DType::F32 && g.batch == 1 && g.beta == 0.0 && bias.numel() == g.N &&
                      !g.trans_a && (threads == 1 || splits_rows(g.M, g.N, threads)) && g.M / threads >= 64 &&
                      g.N >= 64 && g.K >= 64;
  if (!packed) return false;
  const Product<float> p = product_of<float>(g);
  const float* row = ptr<float>(bias);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const Product<float> r = row_block(p, thread_index(), threads);
    packed_gemm::gemm(false, r.tb, r.M, r.N, r.K, r.alpha, r.a, r.lda, r.b, r.ldb, 0.0f, r.c, r.ldc, row);
  }
  return true;
#else
  (void)g;
  (void)bias;
  return false;
#endif
}

// All heads' items in one parallel loop (one fork and join, not one per
// head), as gemm runs a batch.
bool gemm_heads(const Backend::GemmCall& g, int64_t heads, Backend::HeadStrides strides) {
#ifdef __AVX512F__
  if (g.C.tensor.dtype() == DType::F32 && g.N * g.K <= small_gemm::kMaxBElements && heads * g.batch > 1) {
    small_products(product_of<float>(g), {g.A.batch_stride, g.B.batch_stride, g.C.batch_stride}, g.batch, heads,
                   strides);
    return true;
  }
#else
  (void)g;
  (void)heads;
  (void)strides;
#endif
  return false;
}

// Each product gets a share of the threads in proportion to its FLOPs and
// cuts its rows among them: on 2 cores, each is one single-threaded product
// with no synchronisation inside. For a linear layer's backward (dx = dy w
// beside dw = dy^T x), the smaller C is, the more this gains over running
// the two in turn, each on all threads. Batched products already run one
// item per thread, and products where one writes what the other touches
// (the two gradients of a a^T land in one tensor) must run in turn.
bool gemm_pair(const Backend::GemmCall& p, const Backend::GemmCall& q) {
  const int threads = free_threads();
  const double fp = double(p.M) * p.N * p.K, fq = double(q.M) * q.N * q.K;
  if (threads < 2 || p.batch != 1 || q.batch != 1 || fp + fq == 0 || p.C.tensor.dtype() != q.C.tensor.dtype() ||
      writes_into(p, q) || writes_into(q, p))
    return false;
  const int tp = std::clamp(int(std::lround(threads * fp / (fp + fq))), 1, threads - 1);
  by_float_type(p.C.tensor.dtype(), "gemm_pair", [&](auto zero) {
    using T = decltype(zero);
    // Operands resolved (and their dtypes checked) outside the parallel region.
    const Product<T> first = product_of<T>(p), second = product_of<T>(q);
#pragma omp parallel num_threads(threads)
    {
      const int t = thread_index();
      if (t < tp) gemm_one(row_block(first, t, tp));
      else gemm_one(row_block(second, t - tp, threads - tp));
    }
  });
  return true;
}

}  // namespace hc::cpu::tuned
