// The CPU backend: the primitive list of engine/backend.h as plain loops,
// with Eigen for the GEMM and OpenMP for the threads. Every primitive exists
// for float32 and, for gradient checks, float64.
//
// This file is where each primitive's CPU definition is read: a few lines of
// loops, with their math. Where a tuned path runs instead, the call here is
// one short branch into engine/cpu_tuned/:
// - the GEMMs (which kernel runs a product, on how many threads):
//   engine/cpu_tuned/gemm.cpp, with its kernels packed_gemm.h and small_gemm.h;
// - Philox blocks sixteen at a time in AVX-512 registers:
//   engine/cpu_tuned/philox_avx512.h;
// - e^x in a form that vectorises, for the softmax and the cross-entropy:
//   engine/cpu_tuned/exp_nonpositive.h.
// The plain twins of the first two (cpu::plain::gemm, cpu::plain::philox_16)
// are defined here and declared in engine/cpu_backend.h, for the tests that
// check the tuned paths against them (tests/test_cpu_kernels.cpp).
// docs/cpu-kernels.md says what each tuned path does and what it gained.
//
// Determinism: every sum that crosses threads is split into a fixed number of
// chunks that does not depend on the thread count, the chunks are summed in
// order, so results are bit-identical from run to run and across --threads.
#include "engine/cpu_backend.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "engine/cpu_attention.h"
#include "engine/cpu_tuned/exp_nonpositive.h"
#include "engine/cpu_tuned/gemm.h"
#include "engine/cpu_tuned/philox_avx512.h"
#include "engine/cpu_util.h"
#include "engine/rng.h"

namespace hc {

namespace cpu::plain {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstMatMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// C (M,N) = alpha op(A) op(B) + beta C (see engine/cpu_backend.h).
template <typename T>
void gemm(const Product<T>& p) {
  // op(A) is (M,K): stored (M,K) or, transposed, (K,M). Same for B.
  ConstMatMap<T> A(p.a, p.ta ? p.K : p.M, p.ta ? p.M : p.K, Eigen::OuterStride<>(p.lda));
  ConstMatMap<T> B(p.b, p.tb ? p.N : p.K, p.tb ? p.K : p.N, Eigen::OuterStride<>(p.ldb));
  MatMap<T> C(p.c, p.M, p.N, Eigen::OuterStride<>(p.ldc));
  if (p.beta == T(0)) {
    C.setZero();  // so that NaN/garbage in C never leaks through 0 * C
  } else if (p.beta != T(1)) {
    C *= p.beta;
  }
  if (p.K == 0) return;
  if (!p.ta && !p.tb) C.noalias() += p.alpha * A * B;
  else if (p.ta && !p.tb) C.noalias() += p.alpha * A.transpose() * B;
  else if (!p.ta && p.tb) C.noalias() += p.alpha * A * B.transpose();
  else C.noalias() += p.alpha * A.transpose() * B.transpose();
}
template void gemm<float>(const Product<float>&);
template void gemm<double>(const Product<double>&);

// words[4l + j] = word j of Philox block base + l (see engine/cpu_backend.h).
void philox_16(uint64_t base, uint32_t stream, uint32_t slice, uint32_t key0, uint32_t key1, uint32_t* words) {
  for (int l = 0; l < 16; ++l) {
    const uint64_t block = base + static_cast<uint64_t>(l);
    const philox::Block b = philox::philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                                  stream, slice, key0, key1);
    for (int j = 0; j < 4; ++j) words[4 * l + j] = b.v[j];
  }
}

uint64_t kept_bits_64(const uint32_t* words, uint64_t threshold) {
  uint64_t bits = 0;
  for (int e = 0; e < 64; ++e) bits |= uint64_t(words[e] >= threshold) << e;
  return bits;
}

}  // namespace cpu::plain

// The 64 numbers of Philox blocks base..base+15 (cpu::plain::philox_16's
// layout), eight blocks per 512-bit register where the CPU has them.
void cpu::philox_16(uint64_t base, uint32_t stream, uint32_t slice, uint32_t key0, uint32_t key1, uint32_t* words) {
#ifdef __AVX512F__
  cpu::tuned::philox_16(base, stream, slice, key0, key1, words);
#else
  cpu::plain::philox_16(base, stream, slice, key0, key1, words);
#endif
}

// Sixteen comparisons per AVX-512 instruction where the CPU has them.
uint64_t cpu::kept_bits_64(const uint32_t* words, uint64_t threshold) {
#ifdef __AVX512F__
  return cpu::tuned::kept_bits_64(words, threshold);
#else
  return cpu::plain::kept_bits_64(words, threshold);
#endif
}

namespace {

using cpu::by_float_type;
using cpu::free_threads;
using cpu::philox_16;
using cpu::ptr;

// Sums are done in fixed chunks (independent of the thread count) so they
// come out the same whatever --threads says.
constexpr int64_t kSumChunks = 64;

// Dropout on one group of count <= 64 elements whose Philox words are
// `words`: y_e = x_e * (keep if element e is kept, else 0), kept when its
// uniform number (engine/rng.h) is >= p. Returns the kept elements as bits.
// x * 0, not a plain 0, for a dropped element: a NaN in x stays NaN, as it
// does with float multipliers (and a training run that went NaN says so).
template <typename T>
uint64_t dropout_group(const T* x, T* y, int64_t count, const uint32_t* words, float p, T keep) {
  uint64_t bits = 0;
  for (int64_t e = 0; e < count; ++e) {
    const bool kept = philox::uniform(words[e]) >= p;
    y[e] = x[e] * (kept ? keep : T(0));
    bits |= uint64_t(kept) << e;
  }
  return bits;
}

// The backward of one group: dx_e (+)= dy_e * (keep if bit e is set, else 0).
template <typename T>
void dropout_group_backward(const T* dy, T* dx, int64_t count, uint64_t bits, T keep, bool acc) {
  for (int64_t e = 0; e < count; ++e) {
    const T g = dy[e] * ((bits >> e & 1) ? keep : T(0));
    dx[e] = acc ? dx[e] + g : g;
  }
}

// gelu(x) = x Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2.
inline double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x * M_SQRT1_2)); }
// d gelu / dx = Phi(x) + x phi(x), phi the standard normal density.
inline double gelu_grad(double x) {
  const double cdf = 0.5 * (1.0 + std::erf(x * M_SQRT1_2));
  const double pdf = std::exp(-0.5 * x * x) * 0.3989422804014327;  // 1/sqrt(2 pi)
  return cdf + x * pdf;
}

// y_j = e^(x_j - shift) for j in [begin, end); returns their sum. shift is
// at least every x_j, so each exponent is <= 0: exp_nonpositive, the e^x of
// engine/cpu_tuned/exp_nonpositive.h, which vectorises where libm's does not.
template <typename T>
T exp_and_sum(const T* x, T* y, int64_t begin, int64_t end, T shift) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = begin; j < end; ++j) {
    y[j] = exp_nonpositive(x[j] - shift);
    sum += y[j];
  }
  return sum;
}

// max(init, x_j for j in [begin, end)), in vector instructions. Written with
// a comparison, not std::max, whose argument order under NaN keeps compilers
// from reordering the loop: with std::max the loop ran scalar.
template <typename T>
T max_of(const T* x, int64_t begin, int64_t end, T init) {
  T mx = init;
#pragma omp simd reduction(max : mx)
  for (int64_t j = begin; j < end; ++j) mx = x[j] > mx ? x[j] : mx;
  return mx;
}

// sum_j e^(x_j - shift) for j in [0, n), shift >= every x_j. In T, not in
// double: for float32 a vectorised sum (lanes of partial sums, in a fixed
// order) of the vectorisable exp, where libm's exp summed in double runs
// scalar; the relative error of a sum of positive terms stays near float
// epsilon.
template <typename T>
T sum_exp(const T* x, int64_t n, T shift) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += exp_nonpositive(x[j] - shift);
  return sum;
}

// Row r of y (R, W) = the masked softmax of row r of x (see BandMask).
template <typename T>
void softmax_row(const T* x, T* y, int64_t r, int64_t W, BandMask mask) {
  const T* xr = x + r * W;
  T* yr = y + r * W;
  // The visible columns of this row: one window of the context, then
  // every column from ctx_cols on (see BandMask).
  int64_t lo = 0, hi = W, rest = W;
  if (mask.rows != 0) {
    const int64_t i = r % mask.rows;
    lo = std::clamp<int64_t>(i + mask.lo, 0, mask.ctx_cols);
    hi = std::clamp<int64_t>(i + mask.hi + 1, lo, mask.ctx_cols);
    rest = mask.ctx_cols;
  }
  const T mx = max_of(xr, rest, W, max_of(xr, lo, hi, -std::numeric_limits<T>::infinity()));
  // Masked columns are exact zeros; exp only over the visible ones.
  std::fill(yr, yr + lo, T(0));
  std::fill(yr + hi, yr + rest, T(0));
  const T sum = exp_and_sum(xr, yr, lo, hi, mx) + exp_and_sum(xr, yr, rest, W, mx);
  const T inv = T(1) / sum;
#pragma omp simd
  for (int64_t j = 0; j < W; ++j) yr[j] *= inv;
}

// One row of the softmax's gradient: dx (+)= y (g - sum_j g_j y_j).
template <typename T>
void softmax_backward_row(const T* y, const T* g, T* dx, int64_t W, bool acc) {
  T d = 0;
#pragma omp simd reduction(+ : d)
  for (int64_t j = 0; j < W; ++j) d += g[j] * y[j];
  if (acc) {
#pragma omp simd
    for (int64_t j = 0; j < W; ++j) dx[j] += y[j] * (g[j] - d);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < W; ++j) dx[j] = y[j] * (g[j] - d);
  }
}

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::CPU; }

  // ---- memory ----
  // A caching allocator. A training step allocates the same sizes every
  // time; handing freed blocks back out avoids asking the kernel for fresh
  // pages (and paying a page fault on every first touch) each step. Blocks
  // are kept per exact size and never returned to the system: the cache
  // holds at most the peak of one step's live tensors.
  void* allocate(size_t bytes) override {
    const size_t rounded = rounded_size(bytes);
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      auto it = cache_.find(rounded);
      if (it != cache_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        return p;
      }
    }
    // 64-byte alignment: one cache line, and what AVX-512 loads like.
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    held_ += static_cast<int64_t>(rounded);
    return p;
  }
  int64_t held_bytes() const override { return held_.load(); }
  // The cache goes back to the system at exit (so a leak checker sees only real leaks).
  ~CpuBackend() override {
    for (auto& [bytes, blocks] : cache_)
      for (void* p : blocks) std::free(p);
  }
  void deallocate(void* ptr, size_t bytes) override {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    cache_[rounded_size(bytes)].push_back(ptr);
  }
  void copy_to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_from_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copy_bytes(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
  void synchronize() override {}

  // ---- fill / copy ----
  // out[i] = value for every element i.
  void fill(const Tensor& out, double value) override {
    const int64_t n = out.numel();
    if (out.dtype() == DType::I64) {
      int64_t* o = ptr<int64_t>(out);
      std::fill(o, o + n, static_cast<int64_t>(value));
      return;
    }
    by_float_type(out.dtype(), "fill", [&](auto zero) {
      using T = decltype(zero);
      T* o = ptr<T>(out);
      const T v = static_cast<T>(value);
#pragma omp parallel for simd if (n > 65536)
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    });
  }

  // dst[dst_offset + sum_d i_d dst_strides[d]] (+)= src[src_offset + sum_d i_d src_strides[d]]
  // for every index i over `shape` (rank 1 to 6): see copy_strided below.
  void strided_copy(const Tensor& dst, int64_t dst_offset, const Shape& dst_strides,
                    const Tensor& src, int64_t src_offset, const Shape& src_strides,
                    const Shape& shape, bool accumulate) override {
    check(dst.dtype() == src.dtype(), "strided_copy: dtypes differ");
    check(shape.size() == dst_strides.size() && shape.size() == src_strides.size() &&
              !shape.empty() && shape.size() <= 6,
          "strided_copy: shape and strides must have the same rank, 1 to 6");
    if (dst.dtype() == DType::I64) {
      check(!accumulate, "strided_copy: cannot accumulate I64");
      copy_strided<int64_t>(ptr<int64_t>(dst) + dst_offset, dst_strides,
                            ptr<int64_t>(src) + src_offset, src_strides, shape, false);
      return;
    }
    by_float_type(dst.dtype(), "strided_copy", [&](auto zero) {
      using T = decltype(zero);
      copy_strided<T>(ptr<T>(dst) + dst_offset, dst_strides, ptr<T>(src) + src_offset,
                      src_strides, shape, accumulate);
    });
  }

  // ---- dense algebra: C = alpha op(A) op(B) + beta C ----
  // The plain product is cpu::plain::gemm above (Eigen). Which kernel runs a
  // call, and on how many threads, depends on dtype, shape and free threads,
  // and is decided in one place: engine/cpu_tuned/gemm.cpp.
  void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const Matrix& A,
            const Matrix& B, double beta, const Matrix& C, int64_t batch) override {
    cpu::tuned::gemm({ta, tb, M, N, K, alpha, A, B, beta, C, batch});
  }

  // C (M,N) = alpha op(A) op(B) + bias in every row: the packed kernel adds
  // the bias as it stores C where it can, else Backend's default.
  void gemm_bias(const GemmCall& g, const Tensor& bias) override {
    if (!cpu::tuned::gemm_bias(g, bias)) Backend::gemm_bias(g, bias);
  }

  // heads x g.batch products: in one parallel loop where they are small,
  // else Backend's default (one gemm per head).
  void gemm_heads(const GemmCall& g, int64_t heads, HeadStrides strides) override {
    if (!cpu::tuned::gemm_heads(g, heads, strides)) Backend::gemm_heads(g, heads, strides);
  }

  // gemm(p) then gemm(q): side by side where they are independent, else in turn.
  void gemm_pair(const GemmCall& p, const GemmCall& q) override {
    if (!cpu::tuned::gemm_pair(p, q)) Backend::gemm_pair(p, q);
  }

  // ---- elementwise ----
  // out_i (+)= f(x_i), f = alpha x, max(x, 0) or gelu(x); x and out the same shape.
  void unary(Unary op, const Tensor& x, const Tensor& out, double alpha, bool acc) override {
    check_same_shape(x, out, "unary");
    by_float_type(x.dtype(), "unary", [&](auto zero) {
      using T = decltype(zero);
      const T* xs = ptr<T>(x);
      T* o = ptr<T>(out);
      const int64_t n = x.numel();
      const T a = static_cast<T>(alpha);
      auto apply = [&](auto f) {
        if (acc) {
#pragma omp parallel for simd if (n > 32768)
          for (int64_t i = 0; i < n; ++i) o[i] += f(xs[i]);
        } else {
#pragma omp parallel for simd if (n > 32768)
          for (int64_t i = 0; i < n; ++i) o[i] = f(xs[i]);
        }
      };
      switch (op) {
        case Unary::Scale: apply([a](T v) { return a * v; }); break;
        case Unary::Relu: apply([](T v) { return v > T(0) ? v : T(0); }); break;
        case Unary::Gelu: apply([](T v) { return static_cast<T>(gelu(v)); }); break;
      }
    });
  }

  // dx_i += dy_i f'(x_i) for f = relu (f' = 1 where x > 0, else 0) or gelu.
  void unary_backward(Unary op, const Tensor& x, const Tensor& dy, const Tensor& dx) override {
    check_same_shape(x, dy, "unary_backward");
    check_same_shape(x, dx, "unary_backward");
    by_float_type(x.dtype(), "unary_backward", [&](auto zero) {
      using T = decltype(zero);
      const T* xs = ptr<T>(x);
      const T* g = ptr<T>(dy);
      T* d = ptr<T>(dx);
      const int64_t n = x.numel();
      if (op == Unary::Relu) {
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) d[i] += xs[i] > T(0) ? g[i] : T(0);
      } else if (op == Unary::Gelu) {
#pragma omp parallel for if (n > 32768)
        for (int64_t i = 0; i < n; ++i) d[i] += g[i] * static_cast<T>(gelu_grad(xs[i]));
      } else {
        throw std::invalid_argument("unary_backward: only Relu and Gelu");
      }
    });
  }

  // out (+)= a op b, a viewed as (A, K, I), b (K) repeated over A and I: see binary_loop below.
  void binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
              bool acc) override {
    check_same_shape(a, out, "binary");
    const int64_t K = b.numel();
    check(bc.outer * K * bc.inner == a.numel(),
          "binary: " + b.describe() + " does not broadcast over " + a.describe());
    by_float_type(a.dtype(), "binary", [&](auto zero) {
      using T = decltype(zero);
      switch (op) {
        case Binary::Add: binary_loop<T>(a, b, out, bc, acc, [](T x, T y) { return x + y; }); break;
        case Binary::Sub: binary_loop<T>(a, b, out, bc, acc, [](T x, T y) { return x - y; }); break;
        case Binary::Mul: binary_loop<T>(a, b, out, bc, acc, [](T x, T y) { return x * y; }); break;
      }
    });
  }

  // out_k (+)= sum over a, i of f(x[a, k, i]), f = x or x^2: see reduce_loop below.
  void reduce(Reduce op, const Tensor& x, const Tensor& out, Broadcast bc, bool acc) override {
    const int64_t K = out.numel();
    check(bc.outer * K * bc.inner == x.numel(),
          "reduce: " + x.describe() + " does not reduce to " + out.describe());
    by_float_type(x.dtype(), "reduce", [&](auto zero) {
      using T = decltype(zero);
      if (op == Reduce::Sum) reduce_loop<T>(x, out, bc, acc, [](T v) { return double(v); });
      else reduce_loop<T>(x, out, bc, acc, [](T v) { return double(v) * double(v); });
    });
  }

  // ---- fused nn primitives ----
  // Each row of x (R, W): y_j = e^(x_j - max) / sum_k e^(x_k - max) over the
  // columns the mask shows, y_j = 0 on the others (softmax_row above).
  void softmax_forward(const Tensor& x, const Tensor& y, BandMask mask) override {
    check_same_shape(x, y, "softmax_forward");
    const int64_t W = x.size(-1), R = x.numel() / W;
    by_float_type(x.dtype(), "softmax_forward", [&](auto zero) {
      using T = decltype(zero);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < R; ++r) softmax_row<T>(ptr<T>(x), ptr<T>(y), r, W, mask);
    });
  }

  // Each row of y (R, W): dx (+)= y (dy - sum_j dy_j y_j) (softmax_backward_row above).
  void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool acc) override {
    check_same_shape(y, dy, "softmax_backward");
    check_same_shape(y, dx, "softmax_backward");
    const int64_t W = y.size(-1), R = y.numel() / W;
    by_float_type(y.dtype(), "softmax_backward", [&](auto zero) {
      using T = decltype(zero);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < R; ++r)
        softmax_backward_row<T>(ptr<T>(y) + r * W, ptr<T>(dy) + r * W, ptr<T>(dx) + r * W, W, acc);
    });
  }

  // The gradient through attention's dropout and softmax, y and dx (R, W),
  // in one pass over each row: g = dout * m from the dropout's bits
  // (dropout_forward's record), then the softmax's rule, dx (+)= y (g - sum_j
  // g_j y_j), with g never written out: Backend's default writes g to a
  // scratch tensor and reads it back.
  void softmax_dropout_backward(const Tensor& y, const Tensor& dout, const Tensor& kept, double p, RandomKey key,
                                const Tensor& dx, bool acc) override {
    check_same_shape(y, dout, "softmax_dropout_backward");
    check_same_shape(y, dx, "softmax_dropout_backward");
    const int64_t W = y.size(-1), n = y.numel();
    const Groups groups(n, key);
    const uint64_t* bits = kept_bits(kept, groups, "softmax_dropout_backward");
    by_float_type(y.dtype(), "softmax_dropout_backward", [&](auto zero) {
      using T = decltype(zero);
      const T keep = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel
      {
        thread_local std::vector<T> g;  // one row of dout * m
        g.resize(W);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n / W; ++r) {
          const T* dr = ptr<T>(dout) + r * W;
          // Element i of the tensor is element l of key row i / row_len, bit l % 64 of
          // that row's word l / 64: a stretch of the row inside one word at a time.
          for (int64_t e = 0; e < W;) {
            const int64_t i = r * W + e, l = i % groups.row_len;
            const int64_t len = std::min({64 - (l & 63), W - e, groups.row_len - l});
            const uint64_t word = bits[i / groups.row_len * groups.per_row + (l >> 6)] >> (l & 63);
            dropout_group_backward<T>(dr + e, g.data() + e, len, word, keep, false);
            e += len;
          }
          softmax_backward_row<T>(ptr<T>(y) + r * W, g.data(), ptr<T>(dx) + r * W, W, acc);
        }
      }
    });
  }

  // All-attention in one pass per query block, fused (engine/cpu_attention.h):
  // no logits or probabilities in memory; the forward keeps each row's
  // log-sum-exp and dropout bits, the backward recomputes the rest from them.
  AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out) override {
    return cpu::attention_forward(call, out);
  }
  void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                          const AttentionRecord& record, const AttentionGrads& grads) override {
    cpu::attention_backward(call, out, dout, record, grads);
  }

  // Each row of x (R, C): mean m, rstd s = 1 / sqrt(var + eps) (saved, (R)),
  // y = (x - m) s w + b.
  void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                         const Tensor& y, const Tensor& mean, const Tensor& rstd) override {
    const int64_t C = x.size(-1), R = x.numel() / C;
    check(w.numel() == C && b.numel() == C && mean.numel() == R && rstd.numel() == R,
          "layernorm_forward: parameter or statistics sizes do not match " + x.describe());
    by_float_type(x.dtype(), "layernorm_forward", [&](auto zero) {
      using T = decltype(zero);
      const T* ws = ptr<T>(w);
      const T* bs = ptr<T>(b);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < R; ++r) {
        const T* xr = ptr<T>(x) + r * C;
        T* yr = ptr<T>(y) + r * C;
        T m = 0;
#pragma omp simd reduction(+ : m)
        for (int64_t c = 0; c < C; ++c) m += xr[c];
        m /= static_cast<T>(C);
        T var = 0;  // two passes: no cancellation from E[x^2] - E[x]^2
#pragma omp simd reduction(+ : var)
        for (int64_t c = 0; c < C; ++c) var += (xr[c] - m) * (xr[c] - m);
        var /= static_cast<T>(C);
        const T s = T(1) / std::sqrt(var + static_cast<T>(eps));
        ptr<T>(mean)[r] = m;
        ptr<T>(rstd)[r] = s;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * s * ws[c] + bs[c];
      }
    });
  }

  // dx (R, C), dw and db (C) += the layernorm's gradients (the math is inside).
  void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                          const Tensor& dy, const Tensor& dx, const Tensor& dw,
                          const Tensor& db) override {
    const int64_t C = x.size(-1), R = x.numel() / C;
    by_float_type(x.dtype(), "layernorm_backward", [&](auto zero) {
      using T = decltype(zero);
      const T* ws = ptr<T>(w);
      const int64_t chunks = std::min<int64_t>(kSumChunks, std::max<int64_t>(R, 1));
      std::vector<T> part_w(chunks * C, T(0)), part_b(chunks * C, T(0));
#pragma omp parallel for schedule(static)
      for (int64_t ch = 0; ch < chunks; ++ch) {
        T* pw = part_w.data() + ch * C;
        T* pb = part_b.data() + ch * C;
        for (int64_t r = R * ch / chunks; r < R * (ch + 1) / chunks; ++r) {
          const T* xr = ptr<T>(x) + r * C;
          const T* gr = ptr<T>(dy) + r * C;
          T* dr = ptr<T>(dx) + r * C;
          const T m = ptr<T>(mean)[r], s = ptr<T>(rstd)[r];
          // With xhat = (x - m) s and g = dy * w:
          // dx = s * (g - mean(g) - xhat * mean(g * xhat)).
          T mean_g = 0, mean_gx = 0;
#pragma omp simd reduction(+ : mean_g, mean_gx)
          for (int64_t c = 0; c < C; ++c) {
            const T xhat = (xr[c] - m) * s, g = gr[c] * ws[c];
            mean_g += g;
            mean_gx += g * xhat;
            pw[c] += gr[c] * xhat;
            pb[c] += gr[c];
          }
          mean_g /= static_cast<T>(C);
          mean_gx /= static_cast<T>(C);
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const T xhat = (xr[c] - m) * s, g = gr[c] * ws[c];
            dr[c] += s * (g - mean_g - xhat * mean_gx);
          }
        }
      }
      for (int64_t ch = 0; ch < chunks; ++ch)
        for (int64_t c = 0; c < C; ++c) {
          ptr<T>(dw)[c] += part_w[ch * C + c];
          ptr<T>(db)[c] += part_b[ch * C + c];
        }
    });
  }

  // out row r (R, C) = row ids[r] of table (V, C).
  void embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) override {
    const int64_t V = table.size(0), C = table.size(1), R = ids.numel();
    check(ids.dtype() == DType::I64 && out.numel() == R * C,
          "embedding_forward: ids must be I64 and out (R, C)");
    const int64_t* id = ptr<int64_t>(ids);
    for (int64_t r = 0; r < R; ++r)
      check(id[r] >= 0 && id[r] < V, "embedding: token id " + std::to_string(id[r]) +
                                         " out of range for a table of " + std::to_string(V));
    by_float_type(table.dtype(), "embedding_forward", [&](auto zero) {
      using T = decltype(zero);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < R; ++r)
        std::memcpy(ptr<T>(out) + r * C, ptr<T>(table) + id[r] * C, C * sizeof(T));
    });
  }

  // Row ids[r] of dtable (V, C) += row r of dout (R, C), for r in order.
  void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) override {
    const int64_t C = dtable.size(1), R = ids.numel();
    const int64_t* id = ptr<int64_t>(ids);
    by_float_type(dtable.dtype(), "embedding_backward", [&](auto zero) {
      using T = decltype(zero);
      // Each thread owns a band of columns and walks the rows in order, so a
      // repeated token's contributions are always added in the same order.
      const int64_t bands = std::min<int64_t>(kSumChunks, C);
#pragma omp parallel for schedule(static)
      for (int64_t band = 0; band < bands; ++band) {
        const int64_t c0 = C * band / bands, c1 = C * (band + 1) / bands;
        for (int64_t r = 0; r < R; ++r) {
          T* d = ptr<T>(dtable) + id[r] * C;
          const T* g = ptr<T>(dout) + r * C;
          for (int64_t c = c0; c < c1; ++c) d[c] += g[c];
        }
      }
    });
  }

  // Each row r of logits (R, V): lse_r = max + log sum_v e^(logit_v - max),
  // loss_r = lse_r - logit_target (0 where the target is ignore_index).
  void cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                             const Tensor& loss, const Tensor& lse) override {
    const int64_t V = logits.size(-1), R = logits.numel() / V;
    check(targets.dtype() == DType::I64 && targets.numel() == R && loss.numel() == R &&
              lse.numel() == R,
          "cross_entropy_forward: targets (R, I64), loss and lse (R) for logits " +
              logits.describe());
    const int64_t* t = ptr<int64_t>(targets);
    for (int64_t r = 0; r < R; ++r)
      check(t[r] == ignore_index || (t[r] >= 0 && t[r] < V),
            "cross_entropy: target " + std::to_string(t[r]) + " out of range for " +
                std::to_string(V) + " classes");
    by_float_type(logits.dtype(), "cross_entropy_forward", [&](auto zero) {
      using T = decltype(zero);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < R; ++r) {
        const T* lr = ptr<T>(logits) + r * V;
        const T mx = max_of(lr, 1, V, lr[0]);
        const double l = double(mx) + std::log(double(sum_exp(lr, V, mx)));
        ptr<T>(lse)[r] = static_cast<T>(l);
        ptr<T>(loss)[r] = t[r] == ignore_index ? T(0) : static_cast<T>(l - double(lr[t[r]]));
      }
    });
  }

  // Each row r of dlogits (R, V) (+)= g (e^(logit_v - lse_r) - [v = target_r]),
  // g = dloss * scale: the softmax minus the one-hot target.
  void cross_entropy_backward(const Tensor& logits, const Tensor& lse, const Tensor& targets,
                              int64_t ignore_index, const Tensor& dloss, double scale,
                              const Tensor& dlogits, bool accumulate) override {
    const int64_t V = logits.size(-1), R = logits.numel() / V;
    const int64_t* t = ptr<int64_t>(targets);
    by_float_type(logits.dtype(), "cross_entropy_backward", [&](auto zero) {
      using T = decltype(zero);
      const T g = static_cast<T>(double(ptr<T>(dloss)[0]) * scale);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < R; ++r) {
        const T* lr = ptr<T>(logits) + r * V;
        T* dr = ptr<T>(dlogits) + r * V;  // may be lr: element v is read, then written
        if (t[r] == ignore_index) {
          if (!accumulate) std::fill(dr, dr + V, T(0));
          continue;
        }
        const T l = ptr<T>(lse)[r];
        // lr[v] <= l: the lse of a row is at least its largest logit.
        if (accumulate) {
#pragma omp simd
          for (int64_t v = 0; v < V; ++v) dr[v] += g * exp_nonpositive(lr[v] - l);
        } else {
#pragma omp simd
          for (int64_t v = 0; v < V; ++v) dr[v] = g * exp_nonpositive(lr[v] - l);
        }
        dr[t[r]] -= g;
      }
    });
  }

  // ---- randomness ----
  // out_i = uniform(bits(i)) in (0, 1) for every element i (engine/rng.h).
  void random_uniform(const Tensor& out, RandomKey key) override {
    by_float_type(out.dtype(), "random_uniform", [&](auto zero) {
      using T = decltype(zero);
      T* o = ptr<T>(out);
      for_each_uniform(out.numel(), key, [o](int64_t i, float u) { o[i] = static_cast<T>(u); });
    });
  }

  // out_i = 1/(1-p) where uniform(bits(i)) >= p, else 0.
  void dropout_mask(const Tensor& out, double p, RandomKey key) override {
    check(p >= 0 && p < 1, "dropout_mask: p must be in [0, 1)");
    by_float_type(out.dtype(), "dropout_mask", [&](auto zero) {
      using T = decltype(zero);
      T* o = ptr<T>(out);
      const float pf = static_cast<float>(p);
      const T keep = static_cast<T>(1.0 / (1.0 - p));
      for_each_uniform(out.numel(), key, [=](int64_t i, float u) { o[i] = u >= pf ? keep : T(0); });
    });
  }

  // Inverted dropout with the multipliers recorded as bits: bit e of word w
  // of `kept` says whether element e of group w (for_each_group's numbering)
  // was kept. y = x * m as with dropout_mask's float multipliers (a NaN in
  // x stays NaN where it is dropped), but a float mask's write and its two
  // reads, forward and backward, are gone: they were most of dropout's
  // memory traffic.
  Tensor dropout_forward(const Tensor& x, const Tensor& y, double p, RandomKey key) override {
    check(p >= 0 && p < 1, "dropout_forward: p must be in [0, 1)");
    check_same_shape(x, y, "dropout_forward");
    const int64_t n = x.numel();
    Tensor kept = Tensor::empty({Groups(n, key).count()}, DType::I64, Device::CPU);
    uint64_t* bits = reinterpret_cast<uint64_t*>(ptr<int64_t>(kept));
    by_float_type(x.dtype(), "dropout_forward", [&](auto zero) {
      using T = decltype(zero);
      const T* xs = ptr<T>(x);
      T* ys = ptr<T>(y);
      const float pf = static_cast<float>(p);
      const T keep = static_cast<T>(1.0 / (1.0 - p));
      for_each_group(n, key, [&](int64_t group, int64_t first, int64_t count, const uint32_t* words) {
        bits[group] = dropout_group<T>(xs + first, ys + first, count, words, pf, keep);
      });
    });
    return kept;
  }

  // dx_i (+)= dy_i m_i, m_i = 1/(1-p) where bit i of `kept` is set, else 0.
  void dropout_backward(const Tensor& dy, const Tensor& kept, double p, RandomKey key, const Tensor& dx,
                        bool acc) override {
    check_same_shape(dy, dx, "dropout_backward");
    const int64_t n = dy.numel();
    const Groups groups(n, key);
    const uint64_t* bits = kept_bits(kept, groups, "dropout_backward");
    by_float_type(dy.dtype(), "dropout_backward", [&](auto zero) {
      using T = decltype(zero);
      const T* g = ptr<T>(dy);
      T* o = ptr<T>(dx);
      const T keep = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > 16384)
      for (int64_t rg = 0; rg < groups.count(); ++rg)
        dropout_group_backward<T>(g + groups.first(rg), o + groups.first(rg), groups.size(rg), bits[rg], keep, acc);
    });
  }

  // ---- optimizer ----
  // w -= lr r update, r = min(||w||, 10) / ||update|| (1 when a norm is 0).
  void lamb_update(const Tensor& w, const Tensor& update, const Tensor& norms_sq, double lr) override {
    check_same_shape(w, update, "lamb_update");
    check(norms_sq.numel() == 2, "lamb_update: norms_sq must hold (||w||^2, ||update||^2)");
    by_float_type(w.dtype(), "lamb_update", [&](auto zero) {
      using T = decltype(zero);
      const T* sq = ptr<T>(norms_sq);
      const double wn = std::min(std::sqrt(double(sq[0])), 10.0), un = std::sqrt(double(sq[1]));
      const T a = static_cast<T>(-lr * ((wn > 0 && un > 0) ? wn / un : 1.0));
      T* ws = ptr<T>(w);
      const T* us = ptr<T>(update);
      const int64_t n = w.numel();
#pragma omp parallel for simd if (n > 32768)
      for (int64_t i = 0; i < n; ++i) ws[i] += a * us[i];
    });
  }

  // m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, u = m^ / (sqrt(v^) + eps) + wd p
  // (m^, v^ bias-corrected); then update = u, or p -= lr u. It waits on
  // memory (seven numbers moved per element), and a small model's tensors
  // are mostly small (16,384 numbers in a 128 x 128 weight), so the threads
  // share any tensor of more than 4,096.
  void adam_update(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                   const AdamStep& s, const Tensor& update) override {
    check_same_shape(p, g, "adam_update");
    by_float_type(p.dtype(), "adam_update", [&](auto zero) {
      using T = decltype(zero);
      T *pp = ptr<T>(p), *mm = ptr<T>(m), *vv = ptr<T>(v);
      const T* gg = ptr<T>(g);
      T* uu = update.defined() ? ptr<T>(update) : nullptr;
      const int64_t n = p.numel();
      const T b1 = T(s.beta1), b2 = T(s.beta2), eps = T(s.eps), wd = T(s.weight_decay),
              lr = T(s.lr), inv_bc1 = T(1.0 / s.bias_correction1),
              inv_bc2 = T(1.0 / s.bias_correction2);
#pragma omp parallel for simd if (n > 4096)
      for (int64_t i = 0; i < n; ++i) {
        mm[i] = b1 * mm[i] + (T(1) - b1) * gg[i];
        vv[i] = b2 * vv[i] + (T(1) - b2) * gg[i] * gg[i];
        const T u = (mm[i] * inv_bc1) / (std::sqrt(vv[i] * inv_bc2) + eps) + wd * pp[i];
        if (uu) uu[i] = u;
        else pp[i] -= lr * u;
      }
    });
  }

 private:
  // How the n numbers of the stream `key` are made: rows (a flat key is one
  // row of n; a per-stream key has n / inner rows, each with its own stream
  // and slice counter words), and each row in groups of 64 numbers, the 16
  // Philox blocks that philox_16 makes at once (engine/rng.h's layout: block
  // b gives elements 4b..4b+3 of its row). The row's last group may stop
  // part-way.
  struct Groups {
    int64_t row_len = 0, rows = 0, per_row = 0;
    Groups(int64_t n, RandomKey key) {
      check(key.fits(n), "random key: " + std::to_string(n) + " numbers do not cut into " +
                             std::to_string(key.streams) + " streams of " + std::to_string(key.inner));
      row_len = key.streams > 0 ? key.inner : n;
      rows = n == 0 ? 0 : n / row_len;
      per_row = (row_len + 63) / 64;
    }
    int64_t count() const { return rows * per_row; }
    // Group rg's first element, and how many of its 64 numbers the tensor uses.
    int64_t first(int64_t rg) const { return rg / per_row * row_len + 64 * (rg % per_row); }
    int64_t size(int64_t rg) const { return std::min<int64_t>(64, row_len - 64 * (rg % per_row)); }
  };

  // The bits of dropout_forward's record `kept` (a word per group), checked
  // against the key's geometry.
  static const uint64_t* kept_bits(const Tensor& kept, const Groups& groups, const char* who) {
    check(kept.dtype() == DType::I64 && kept.numel() == groups.count(),
          std::string(who) + ": `kept` is not dropout_forward's record for this key");
    return reinterpret_cast<const uint64_t*>(ptr<int64_t>(kept));
  }

  // The 64 words of group rg (rows of groups.per_row groups, in order) into
  // `words`; returns the group's first element and how many of its numbers
  // the tensor uses.
  static std::pair<int64_t, int64_t> group_words(const RandomKey& key, const Groups& groups, int64_t rg,
                                                 uint32_t* words) {
    const int64_t row = rg / groups.per_row, g = rg % groups.per_row;
    const uint32_t stream = key.streams > 0 ? static_cast<uint32_t>(key.first_stream + row % key.streams) : 0;
    const uint32_t slice = key.streams > 0 ? static_cast<uint32_t>(row / key.streams) : 0;
    philox_16(key.offset + static_cast<uint64_t>(g * 16), stream, slice, static_cast<uint32_t>(key.seed),
              static_cast<uint32_t>(key.seed >> 32), words);
    return {groups.first(rg), groups.size(rg)};
  }

  // f(group, first, count, words) for every group of `key`'s n numbers, in
  // parallel: the group's elements first..first+count-1 get the 32-bit words
  // words[0..count-1].
  template <typename F>
  static void for_each_group(int64_t n, RandomKey key, F f) {
    const Groups groups(n, key);
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t rg = 0; rg < groups.count(); ++rg) {
      alignas(64) uint32_t words[64];
      const auto [first, count] = group_words(key, groups, rg, words);
      f(rg, first, count, words);
    }
  }

  // f(i, u_i) for the n uniforms of the stream `key`.
  template <typename F>
  static void for_each_uniform(int64_t n, RandomKey key, F f) {
    for_each_group(n, key, [&](int64_t, int64_t first, int64_t count, const uint32_t* words) {
      for (int64_t e = 0; e < count; ++e) f(first + e, philox::uniform(words[e]));
    });
  }

  static size_t rounded_size(size_t bytes) { return std::max<size_t>(64, (bytes + 63) / 64 * 64); }
  std::mutex cache_mutex_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
  std::atomic<int64_t> held_{0};  // bytes taken from the system, never given back before exit

  // strided_copy's loop, on typed pointers already moved by the offsets.
  // The copy walks rows of the innermost dimension; each thread takes a run
  // of rows and steps through their leading coordinates like an odometer
  // (one division per thread, not one per row: a permute's rows are only D
  // elements long). Rows contiguous on both sides are plain vector loops.
  template <typename T>
  static void copy_strided(T* dst, const Shape& ds, const T* src, const Shape& ss,
                           const Shape& shape, bool acc) {
    const int rank = static_cast<int>(shape.size());
    const int64_t inner = shape[rank - 1];
    const int64_t rows = numel_of(shape) / std::max<int64_t>(inner, 1);
    if (inner == 0 || rows == 0) return;
    const int64_t di = ds[rank - 1], si = ss[rank - 1];
    auto copy_rows = [&](int64_t first, int64_t last) {
      int64_t idx[6] = {0, 0, 0, 0, 0, 0}, doff = 0, soff = 0;
      for (int64_t d = rank - 2, rem = first; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
        doff += idx[d] * ds[d];
        soff += idx[d] * ss[d];
      }
      for (int64_t r = first; r < last; ++r) {
        T* dp = dst + doff;
        const T* sp = src + soff;
        if (di == 1 && si == 1) {
          if (acc) {
#pragma omp simd
            for (int64_t i = 0; i < inner; ++i) dp[i] += sp[i];
          } else {
#pragma omp simd
            for (int64_t i = 0; i < inner; ++i) dp[i] = sp[i];
          }
        } else if (acc) {
          for (int64_t i = 0; i < inner; ++i) dp[i * di] += sp[i * si];
        } else {
          for (int64_t i = 0; i < inner; ++i) dp[i * di] = sp[i * si];
        }
        for (int d = rank - 2; d >= 0; --d) {  // the next row's coordinates
          doff += ds[d];
          soff += ss[d];
          if (++idx[d] < shape[d]) break;
          doff -= ds[d] * shape[d];
          soff -= ss[d] * shape[d];
          idx[d] = 0;
        }
      }
    };
    const int parts = rows * inner > 16384 ? std::min<int64_t>(free_threads(), rows) : 1;
#pragma omp parallel for schedule(static) num_threads(parts) if (parts > 1)
    for (int p = 0; p < parts; ++p) copy_rows(rows * p / parts, rows * (p + 1) / parts);
  }

  // out[a, k, i] (+)= f(x[a, k, i], y[k]), x and out viewed as (A, K, I)
  // and y (K): the same shape (A = I = 1), a bias (I = 1), or a scalar per
  // run of I elements.
  template <typename T, typename F>
  static void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
                          bool acc, F f) {
    const T* x = ptr<T>(a);
    const T* y = ptr<T>(b);
    T* o = ptr<T>(out);
    const int64_t K = b.numel(), A = bc.outer, I = bc.inner, n = a.numel();
    if (K == n) {  // same shape
#pragma omp parallel for simd if (n > 32768)
      for (int64_t e = 0; e < n; ++e) o[e] = (acc ? o[e] : T(0)) + f(x[e], y[e]);
    } else if (I == 1) {  // b repeats along rows: a bias
#pragma omp parallel for schedule(static) if (n > 32768)
      for (int64_t r = 0; r < A; ++r)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t e = r * K + k;
          o[e] = (acc ? o[e] : T(0)) + f(x[e], y[k]);
        }
    } else {  // b[k] is a scalar over a run of I elements
#pragma omp parallel for collapse(2) schedule(static) if (n > 32768)
      for (int64_t r = 0; r < A; ++r)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t base = (r * K + k) * I;
          const T yk = y[k];
          for (int64_t i = 0; i < I; ++i) o[base + i] = (acc ? o[base + i] : T(0)) + f(x[base + i], yk);
        }
    }
  }

  // o[0] (+)= the sum of f(x[e]) over the n elements, in double: each of
  // kSumChunks chunks sums its range in vectors (several running sums, so
  // the adds do not wait on each other: one running sum made the gradient
  // norm of every step a chain of a million dependent adds), then the
  // chunks are added in order. The order depends on the sizes only, so a
  // small tensor, where waking the threads costs more than the sum, runs
  // its chunks on one thread with the same bits.
  template <typename T, typename F>
  static void full_sum(const T* xs, int64_t n, bool acc, F f, T* o) {
    const int64_t chunks = std::min<int64_t>(kSumChunks, std::max<int64_t>(n, 1));
    std::vector<double> part(chunks, 0.0);
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t e = n * ch / chunks; e < n * (ch + 1) / chunks; ++e) s += f(xs[e]);
      part[ch] = s;
    }
    double s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += part[ch];
    o[0] = static_cast<T>((acc ? double(o[0]) : 0.0) + s);
  }

  // out[k] (+)= sum over a and i of f(x[a, k, i]), x viewed as (A, K, I), in
  // double: each of kSumChunks chunks of a sums its part, then the chunks are
  // added in order.
  template <typename T, typename F>
  static void reduce_loop(const Tensor& x, const Tensor& out, Broadcast bc, bool acc, F f) {
    const T* xs = ptr<T>(x);
    T* o = ptr<T>(out);
    const int64_t K = out.numel();
    const int64_t A = bc.outer, I = bc.inner;
    if (K == 1) return full_sum<T>(xs, A * I, acc, f, o);
    const int64_t chunks = std::min<int64_t>(kSumChunks, std::max<int64_t>(A, 1));
    std::vector<double> part(chunks * K, 0.0);
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      double* p = part.data() + ch * K;
      for (int64_t a = A * ch / chunks; a < A * (ch + 1) / chunks; ++a) {
        if (I == 1) {  // a bias's gradient: column sums, a whole row at a time in vectors
          const T* row = xs + a * K;
#pragma omp simd
          for (int64_t k = 0; k < K; ++k) p[k] += f(row[k]);
          continue;
        }
        for (int64_t k = 0; k < K; ++k) {
          const T* run = xs + (a * K + k) * I;
          double s = 0;
          for (int64_t i = 0; i < I; ++i) s += f(run[i]);
          p[k] += s;
        }
      }
    }
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t ch = 0; ch < chunks; ++ch) s += part[ch * K + k];
      o[k] = static_cast<T>((acc ? double(o[k]) : 0.0) + s);
    }
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

}  // namespace hc
