// The CUDA backend: the primitive list of engine/backend.h on an NVIDIA GPU.
// GEMMs go to cuBLAS (strided-batched over heads); everything else is a
// small hand-written kernel here, each mirroring its CPU twin in
// engine/cpu_backend.cpp so that the op harness can compare them.
//
// Determinism: no float atomics. Every sum is done by a fixed set of threads
// in a fixed order (block reductions with a fixed block size; long sums in
// two stages, partial sums over chunks whose number depends only on the
// shape, then the partials in order), so a run repeats bit for bit.
#include <cub/device/device_radix_sort.cuh>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda/cuda_backend.h"
#include "engine/backend.h"
#include "engine/rng.h"

namespace hc {
namespace {

void cuda_check(cudaError_t err, const char* call) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + call + ": " + cudaGetErrorString(err));
}
void cublas_check(cublasStatus_t st, const char* call) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS error in ") + call + ": status " +
                             std::to_string(static_cast<int>(st)));
}
#define CUDA_CHECK(call) cuda_check((call), #call)
#define CUBLAS_CHECK(call) cublas_check((call), #call)
// After every launch: a bad configuration is reported at once, by name.
#define LAUNCH_CHECK(name) cuda_check(cudaGetLastError(), name)

constexpr int kThreads = 256;  // every block-per-row kernel uses this many threads
unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

#define GRID_STRIDE(i, n)                                                          \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Sum (or max) of one value per thread over a block of kThreads threads, in a
// fixed tree order; every thread gets the result.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] = op(shared[threadIdx.x], shared[threadIdx.x + stride]);
    __syncthreads();
  }
  const T out = shared[0];
  __syncthreads();
  return out;
}
struct Plus {
  template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
  template <typename T> __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};

// ---------------------------------------------------------------- kernels

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  GRID_STRIDE(i, n) out[i] = value;
}

struct StridedArgs {
  int rank;
  int64_t shape[6], dst_strides[6], src_strides[6];
};

template <typename T>
__global__ void strided_copy_kernel(T* dst, const T* src, StridedArgs a, int64_t n, bool acc) {
  GRID_STRIDE(e, n) {
    int64_t rem = e, d = 0, s = 0;
    for (int k = a.rank - 1; k >= 0; --k) {
      const int64_t idx = rem % a.shape[k];
      rem /= a.shape[k];
      d += idx * a.dst_strides[k];
      s += idx * a.src_strides[k];
    }
    if (acc) dst[d] += src[s];
    else dst[d] = src[s];
  }
}

__device__ inline double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x * M_SQRT1_2)); }
__device__ inline double gelu_grad_d(double x) {
  return 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * exp(-0.5 * x * x) * 0.3989422804014327;
}

template <typename T>
__global__ void unary_kernel(Unary op, const T* x, T* out, int64_t n, T alpha, bool acc) {
  GRID_STRIDE(i, n) {
    const T v = x[i];
    T r;
    switch (op) {
      case Unary::Scale: r = alpha * v; break;
      case Unary::Relu: r = v > T(0) ? v : T(0); break;
      default: r = static_cast<T>(gelu_d(v)); break;  // Gelu
    }
    out[i] = acc ? out[i] + r : r;
  }
}

template <typename T>
__global__ void unary_backward_kernel(Unary op, const T* x, const T* dy, T* dx, int64_t n) {
  GRID_STRIDE(i, n) {
    if (op == Unary::Relu) dx[i] += x[i] > T(0) ? dy[i] : T(0);
    else dx[i] += dy[i] * static_cast<T>(gelu_grad_d(x[i]));
  }
}

template <typename T>
__global__ void binary_kernel(Binary op, const T* a, const T* b, T* out, int64_t n, int64_t K,
                              int64_t I, bool acc) {
  GRID_STRIDE(e, n) {
    const T y = b[(e / I) % K];
    const T r = op == Binary::Add ? a[e] + y : op == Binary::Sub ? a[e] - y : a[e] * y;
    out[e] = acc ? out[e] + r : r;
  }
}

// Long sums run in two stages: chunks summed in parallel into double
// partials, then the partials added in order. The number of chunks depends
// only on the shape, so the order of every addition, and hence every bit of
// the result, is fixed.
//
// Column sums of x (R, C) in R / P-row chunks: one thread per column, so a
// warp reads a contiguous run of a row. P gives a few thousand blocks.
int64_t row_chunks(int64_t R, int64_t C) {
  const int64_t column_blocks = (C + kThreads - 1) / kThreads;
  return std::clamp<int64_t>(std::min((R + 15) / 16, 4096 / column_blocks), 1, R);
}

// Stage 1: partial[p, c] = sum of f(x[r, c]) over the rows r of chunk p.
template <typename T>
__global__ void column_partial_kernel(bool squares, const T* x, double* partial, int64_t R, int64_t C,
                                      int64_t chunk) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (c >= C) return;
  const int64_t r0 = blockIdx.y * chunk, r1 = r0 + chunk < R ? r0 + chunk : R;
  double s = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const double v = x[r * C + c];
    s += squares ? v * v : v;
  }
  partial[blockIdx.y * C + c] = s;
}

// Stage 2: out[c] (+)= the P partials of column c, in order.
template <typename T>
__global__ void column_total_kernel(const double* partial, int64_t P, T* out, int64_t C, bool acc) {
  GRID_STRIDE(c, C) {
    double s = 0;
    for (int64_t p = 0; p < P; ++p) s += partial[p * C + c];
    out[c] = static_cast<T>((acc ? double(out[c]) : 0.0) + s);
  }
}

// The sum of all n elements: block p sums its contiguous chunk (threads
// striding through it) into partial[p]...
template <typename T>
__global__ void flat_partial_kernel(bool squares, const T* x, int64_t n, int64_t chunk, double* partial) {
  __shared__ double shared[kThreads];
  const int64_t e0 = blockIdx.x * chunk, e1 = e0 + chunk < n ? e0 + chunk : n;
  double s = 0;
  for (int64_t e = e0 + threadIdx.x; e < e1; e += kThreads) {
    const double v = x[e];
    s += squares ? v * v : v;
  }
  s = block_reduce(s, Plus{}, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// ...then one block adds the P partials: out[0] (+)= their sum.
template <typename T>
__global__ void flat_total_kernel(const double* partial, int64_t P, T* out, bool acc) {
  __shared__ double shared[kThreads];
  double s = 0;
  for (int64_t p = threadIdx.x; p < P; p += kThreads) s += partial[p];
  s = block_reduce(s, Plus{}, shared);
  if (threadIdx.x == 0) out[0] = static_cast<T>((acc ? double(out[0]) : 0.0) + s);
}

// The general case, out[k] (+)= sum over a, i of f(x[(a*K + k)*I + i]): one
// block per k (the model's reductions take the two paths above).
template <typename T>
__global__ void reduce_kernel(bool squares, const T* x, T* out, int64_t A, int64_t K, int64_t I,
                              bool acc) {
  __shared__ double shared[kThreads];
  const int64_t k = blockIdx.x;
  double s = 0;
  for (int64_t e = threadIdx.x; e < A * I; e += kThreads) {
    const double v = x[((e / I) * K + k) * I + e % I];
    s += squares ? v * v : v;
  }
  s = block_reduce(s, Plus{}, shared);
  if (threadIdx.x == 0) out[k] = static_cast<T>((acc ? double(out[k]) : 0.0) + s);
}

template <typename T>
__global__ void softmax_forward_kernel(const T* x, T* y, int64_t W, BandMask mask) {
  __shared__ double shared[kThreads];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * W;
  T* yr = y + r * W;
  double mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < W; j += kThreads)
    if (mask.visible(r, j)) mx = fmax(mx, double(xr[j]));
  mx = block_reduce(mx, Max{}, shared);
  double sum = 0;
  for (int64_t j = threadIdx.x; j < W; j += kThreads) {
    const T e = mask.visible(r, j) ? static_cast<T>(exp(double(xr[j]) - mx)) : T(0);
    yr[j] = e;
    sum += e;
  }
  sum = block_reduce(sum, Plus{}, shared);
  const T inv = static_cast<T>(1.0 / sum);
  for (int64_t j = threadIdx.x; j < W; j += kThreads) yr[j] *= inv;
}

template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t W, bool accumulate) {
  __shared__ double shared[kThreads];
  const int64_t r = blockIdx.x;
  double dot = 0;
  for (int64_t j = threadIdx.x; j < W; j += kThreads) dot += double(dy[r * W + j]) * y[r * W + j];
  const T d = static_cast<T>(block_reduce(dot, Plus{}, shared));
  for (int64_t j = threadIdx.x; j < W; j += kThreads) {
    const T g = y[r * W + j] * (dy[r * W + j] - d);
    dx[r * W + j] = accumulate ? dx[r * W + j] + g : g;
  }
}

template <typename T>
__global__ void layernorm_forward_kernel(const T* x, const T* w, const T* b, double eps, T* y,
                                         T* mean, T* rstd, int64_t C) {
  __shared__ double shared[kThreads];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * C;
  double m = 0;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) m += xr[c];
  m = block_reduce(m, Plus{}, shared) / C;
  double var = 0;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) var += (xr[c] - m) * (xr[c] - m);
  var = block_reduce(var, Plus{}, shared) / C;
  const double s = 1.0 / sqrt(var + eps);
  if (threadIdx.x == 0) {
    mean[r] = static_cast<T>(m);
    rstd[r] = static_cast<T>(s);
  }
  const T tm = static_cast<T>(m), ts = static_cast<T>(s);
  for (int64_t c = threadIdx.x; c < C; c += kThreads) y[r * C + c] = (xr[c] - tm) * ts * w[c] + b[c];
}

// dx for one row per block: dx = s * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w.
template <typename T>
__global__ void layernorm_backward_dx_kernel(const T* x, const T* w, const T* mean, const T* rstd,
                                             const T* dy, T* dx, int64_t C) {
  __shared__ double shared[kThreads];
  const int64_t r = blockIdx.x;
  const double m = mean[r], s = rstd[r];
  double mg = 0, mgx = 0;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) {
    const double g = double(dy[r * C + c]) * w[c], xhat = (x[r * C + c] - m) * s;
    mg += g;
    mgx += g * xhat;
  }
  mg = block_reduce(mg, Plus{}, shared) / C;
  mgx = block_reduce(mgx, Plus{}, shared) / C;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) {
    const double g = double(dy[r * C + c]) * w[c], xhat = (x[r * C + c] - m) * s;
    dx[r * C + c] += static_cast<T>(s * (g - mg - xhat * mgx));
  }
}

// dw, db are column sums over the rows (dw of dy * xhat, db of dy), in
// two stages like column_partial_kernel's: this is stage 1, and
// column_total_kernel adds the chunks.
template <typename T>
__global__ void layernorm_dw_partial_kernel(const T* x, const T* mean, const T* rstd, const T* dy,
                                            double* partial_w, double* partial_b, int64_t R, int64_t C,
                                            int64_t chunk) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (c >= C) return;
  const int64_t r0 = blockIdx.y * chunk, r1 = r0 + chunk < R ? r0 + chunk : R;
  double sw = 0, sb = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const double g = dy[r * C + c];
    sw += g * (x[r * C + c] - double(mean[r])) * double(rstd[r]);
    sb += g;
  }
  partial_w[blockIdx.y * C + c] = sw;
  partial_b[blockIdx.y * C + c] = sb;
}

template <typename T>
__global__ void embedding_forward_kernel(const T* table, const int64_t* ids, T* out, int64_t R,
                                         int64_t C) {
  GRID_STRIDE(e, R * C) out[e] = table[ids[e / C] * C + e % C];
}

// The embedding's backward adds each row of dout into the table row of its
// token. Without atomics, and in the CPU's order: the row numbers are
// sorted by token (a stable radix sort keeps equal tokens in row order), and
// the block (p, column block) that starts a run of equal tokens in the
// sorted order adds the run's rows, one thread per column, in order.
__global__ void iota_kernel(int32_t* out, int64_t n) { GRID_STRIDE(i, n) out[i] = static_cast<int32_t>(i); }

template <typename T>
__global__ void embedding_backward_kernel(const int64_t* sorted_ids, const int32_t* sorted_rows, const T* dout,
                                          T* dtable, int64_t R, int64_t C) {
  const int64_t p = blockIdx.x, c = blockIdx.y * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (c >= C || (p > 0 && sorted_ids[p] == sorted_ids[p - 1])) return;
  const int64_t id = sorted_ids[p];
  T sum = dtable[id * C + c];
  for (int64_t q = p; q < R && sorted_ids[q] == id; ++q) sum += dout[sorted_rows[q] * C + c];
  dtable[id * C + c] = sum;
}

template <typename T>
__global__ void cross_entropy_forward_kernel(const T* logits, const int64_t* targets,
                                             int64_t ignore, T* loss, T* lse, int64_t V) {
  __shared__ double shared[kThreads];
  const int64_t r = blockIdx.x;
  const T* lr = logits + r * V;
  double mx = -INFINITY;
  for (int64_t v = threadIdx.x; v < V; v += kThreads) mx = fmax(mx, double(lr[v]));
  mx = block_reduce(mx, Max{}, shared);
  double s = 0;
  for (int64_t v = threadIdx.x; v < V; v += kThreads) s += exp(double(lr[v]) - mx);
  s = block_reduce(s, Plus{}, shared);
  if (threadIdx.x == 0) {
    const double l = mx + log(s);
    lse[r] = static_cast<T>(l);
    loss[r] = targets[r] == ignore ? T(0) : static_cast<T>(l - double(lr[targets[r]]));
  }
}

template <typename T>
__global__ void cross_entropy_backward_kernel(const T* logits, const T* lse, const int64_t* targets,
                                              int64_t ignore, const T* dloss, double scale,
                                              T* dlogits, int64_t V, bool accumulate) {
  // dlogits may be logits (accumulate off): each thread reads its element,
  // then writes it, and no thread touches another's.
  const int64_t r = blockIdx.x;
  const bool ignored = targets[r] == ignore;
  if (ignored && accumulate) return;
  const T g = ignored ? T(0) : static_cast<T>(double(dloss[0]) * scale);
  for (int64_t v = threadIdx.x; v < V; v += kThreads) {
    const T d = ignored ? T(0) : g * (exp(logits[r * V + v] - lse[r]) - (v == targets[r] ? T(1) : T(0)));
    if (accumulate) dlogits[r * V + v] += d;
    else dlogits[r * V + v] = d;
  }
}

// The trust ratio from the two squared norms, computed by every thread (two
// loads from the same cache line), in double as on the CPU.
template <typename T>
__global__ void lamb_kernel(T* w, const T* update, const T* norms_sq, int64_t n, double lr) {
  const double wn = fmin(sqrt(double(norms_sq[0])), 10.0), un = sqrt(double(norms_sq[1]));
  const T a = static_cast<T>(-lr * ((wn > 0 && un > 0) ? wn / un : 1.0));
  GRID_STRIDE(i, n) w[i] += a * update[i];
}

// Element i's number comes from RandomKey::bits, the CPU's formula.
template <typename T>
__global__ void random_uniform_kernel(T* out, int64_t n, RandomKey key) {
  GRID_STRIDE(i, n) out[i] = static_cast<T>(philox::uniform(key.bits(i)));
}

// The numbers of elements 4g .. 4g+3 of a tensor drawn with `key`, equal to
// key.bits(4g + k): one Philox block serves all four whenever they share a
// counter block (a flat key, or stream rows whose length is a multiple of
// 4: the model's), else each is drawn on its own.
__device__ void quad_bits(const RandomKey& key, int64_t g, uint32_t out[4]) {
  int64_t e = 4 * g;
  if (key.streams != 0 && key.inner % 4 != 0) {
    for (int k = 0; k < 4; ++k) out[k] = key.bits(e + k);
    return;
  }
  uint32_t stream = 0, slice = 0;
  if (key.streams != 0) {
    const int64_t row = e / key.inner;
    e %= key.inner;
    stream = static_cast<uint32_t>(key.first_stream + row % key.streams);
    slice = static_cast<uint32_t>(row / key.streams);
  }
  const uint64_t block = key.offset + static_cast<uint64_t>(e) / 4;
  const philox::Block b = philox::philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                                stream, slice, static_cast<uint32_t>(key.seed),
                                                static_cast<uint32_t>(key.seed >> 32));
  for (int k = 0; k < 4; ++k) out[k] = b.v[k];
}

// y (+)= x * m, m the multiplier dropout_mask would draw (keep, or 0 with
// probability p), drawn here again instead of stored: the backward
// recomputes it from the key, which costs less than writing and reading a
// mask.
template <typename T>
__global__ void dropout_kernel(const T* x, T* y, int64_t n, float p, T keep, RandomKey key, bool acc) {
  GRID_STRIDE(g, (n + 3) / 4) {
    uint32_t bits[4];
    quad_bits(key, g, bits);
    for (int k = 0; k < 4 && 4 * g + k < n; ++k) {
      const int64_t e = 4 * g + k;
      const T v = x[e] * (philox::uniform(bits[k]) >= p ? keep : T(0));
      y[e] = acc ? y[e] + v : v;
    }
  }
}

// The softmax's gradient through attention dropout, one block per row of
// W: g = dout * m (m drawn again), dx (+)= y * (g - sum_j g_j y_j). Threads
// walk the row by the quads of quad_bits, so each Philox block is computed
// once per pass.
template <typename T>
__global__ void softmax_dropout_backward_kernel(const T* y, const T* dout, T* dx, int64_t W, float p, T keep,
                                                RandomKey key, bool accumulate) {
  __shared__ double shared[kThreads];
  const int64_t e0 = blockIdx.x * W, e1 = e0 + W;
  const int64_t g0 = e0 / 4, g1 = (e1 + 3) / 4;
  double dot = 0;
  for (int64_t g = g0 + threadIdx.x; g < g1; g += kThreads) {
    uint32_t bits[4];
    quad_bits(key, g, bits);
    for (int k = 0; k < 4; ++k) {
      const int64_t e = 4 * g + k;
      if (e < e0 || e >= e1) continue;
      const T gk = dout[e] * (philox::uniform(bits[k]) >= p ? keep : T(0));
      dot += double(gk) * y[e];
    }
  }
  const T d = static_cast<T>(block_reduce(dot, Plus{}, shared));
  for (int64_t g = g0 + threadIdx.x; g < g1; g += kThreads) {
    uint32_t bits[4];
    quad_bits(key, g, bits);
    for (int k = 0; k < 4; ++k) {
      const int64_t e = 4 * g + k;
      if (e < e0 || e >= e1) continue;
      const T gk = dout[e] * (philox::uniform(bits[k]) >= p ? keep : T(0));
      const T v = y[e] * (gk - d);
      dx[e] = accumulate ? dx[e] + v : v;
    }
  }
}

template <typename T>
__global__ void dropout_mask_kernel(T* out, int64_t n, float p, T keep, RandomKey key) {
  GRID_STRIDE(i, n) out[i] = philox::uniform(key.bits(i)) >= p ? keep : T(0);
}

template <typename T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, T* u_out, int64_t n, T b1, T b2, T eps,
                            T wd, T lr, T inv_bc1, T inv_bc2) {
  GRID_STRIDE(i, n) {
    m[i] = b1 * m[i] + (T(1) - b1) * g[i];
    v[i] = b2 * v[i] + (T(1) - b2) * g[i] * g[i];
    const T u = (m[i] * inv_bc1) / (sqrt(v[i] * inv_bc2) + eps) + wd * p[i];
    if (u_out) u_out[i] = u;
    else p[i] -= lr * u;
  }
}

// ---------------------------------------------------------------- dispatch

template <typename F>
void by_float_type(DType t, const char* what, F&& f) {
  if (t == DType::F32) f(float{});
  else if (t == DType::F64) f(double{});
  else throw std::invalid_argument(std::string(what) + ": needs F32 or F64, got " + dtype_name(t));
}

// The profiler's clock on the GPU: a CUDA event recorded on the (default)
// stream per mark, so a mark is passed when the work queued before it has
// finished. Events are created on first use and reused from read to read.
class CudaEventClock final : public profiler::DeviceClock {
 public:
  ~CudaEventClock() override {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }
  int64_t mark() override {
    if (used_ == events_.size()) {
      cudaEvent_t e;
      CUDA_CHECK(cudaEventCreate(&e));
      events_.push_back(e);
    }
    CUDA_CHECK(cudaEventRecord(events_[used_]));
    return static_cast<int64_t>(used_++);
  }
  std::vector<int64_t> read() override {
    std::vector<int64_t> ns(used_, 0);
    if (used_ > 0) CUDA_CHECK(cudaEventSynchronize(events_[used_ - 1]));
    for (size_t i = 1; i < used_; ++i) {
      float ms = 0;  // resolution about half a microsecond
      CUDA_CHECK(cudaEventElapsedTime(&ms, events_[0], events_[i]));
      ns[i] = static_cast<int64_t>(double(ms) * 1e6);
    }
    used_ = 0;
    return ns;
  }

 private:
  std::vector<cudaEvent_t> events_;
  size_t used_ = 0;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend() { CUBLAS_CHECK(cublasCreate(&handle_)); }
  ~CudaBackend() override { cublasDestroy(handle_); }

  Device device() const override { return Device::CUDA; }

  // A caching allocator, like the CPU backend's: a training step asks for the
  // same sizes every time, and cudaMalloc/cudaFree synchronise the device,
  // so freed blocks are kept per size and handed out again. Nothing is
  // returned to the driver; the cache holds at most one step's peak.
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    const size_t rounded = (bytes + 255) / 256 * 256;
    auto it = cache_.find(rounded);
    if (it != cache_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      return p;
    }
    void* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, rounded));
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    if (p) cache_[(bytes + 255) / 256 * 256].push_back(p);
  }

  // TF32 tensor-core math for float32 GEMMs: faster, with a 10-bit mantissa
  // in the products (results differ from strict fp32 around 1e-3 relative).
  void set_tf32(bool on) {
    CUBLAS_CHECK(cublasSetMathMode(handle_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
  }
  void copy_from_host(void* dst, const void* src, size_t n) override {
    CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
  }
  void copy_bytes(void* dst, const void* src, size_t n) override {
    CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice));
  }
  void synchronize() override { CUDA_CHECK(cudaDeviceSynchronize()); }
  std::unique_ptr<profiler::DeviceClock> device_clock() override { return std::make_unique<CudaEventClock>(); }

  void fill(const Tensor& out, double value) override {
    const int64_t n = out.numel();
    if (n == 0) return;
    switch (out.dtype()) {
      case DType::F32: fill_kernel<<<blocks_for(n), kThreads>>>(out.data<float>(), n, float(value)); break;
      case DType::F64: fill_kernel<<<blocks_for(n), kThreads>>>(out.data<double>(), n, value); break;
      case DType::I64:
        fill_kernel<<<blocks_for(n), kThreads>>>(out.data<int64_t>(), n, int64_t(value));
        break;
    }
    LAUNCH_CHECK("fill_kernel");
  }

  void strided_copy(const Tensor& dst, int64_t dst_offset, const Shape& dst_strides,
                    const Tensor& src, int64_t src_offset, const Shape& src_strides,
                    const Shape& shape, bool accumulate) override {
    check(dst.dtype() == src.dtype(), "strided_copy: dtypes differ");
    check(shape.size() == dst_strides.size() && shape.size() == src_strides.size() &&
              !shape.empty() && shape.size() <= 6,
          "strided_copy: shape and strides must have the same rank, 1 to 6");
    StridedArgs a{};
    a.rank = static_cast<int>(shape.size());
    for (int k = 0; k < a.rank; ++k) {
      a.shape[k] = shape[k];
      a.dst_strides[k] = dst_strides[k];
      a.src_strides[k] = src_strides[k];
    }
    const int64_t n = numel_of(shape);
    if (n == 0) return;
    if (dst.dtype() == DType::I64) {
      check(!accumulate, "strided_copy: cannot accumulate I64");
      strided_copy_kernel<<<blocks_for(n), kThreads>>>(dst.data<int64_t>() + dst_offset,
                                                       src.data<int64_t>() + src_offset, a, n, false);
    } else {
      by_float_type(dst.dtype(), "strided_copy", [&](auto zero) {
        using T = decltype(zero);
        strided_copy_kernel<<<blocks_for(n), kThreads>>>(dst.data<T>() + dst_offset,
                                                         src.data<T>() + src_offset, a, n, accumulate);
      });
    }
    LAUNCH_CHECK("strided_copy_kernel");
  }

  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the
  // operands and M/N, keep the flags.
  void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const Matrix& A,
            const Matrix& B, double beta, const Matrix& C, int64_t batch) override {
    const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (C.tensor.dtype() == DType::F32) {
      const float al = float(alpha), be = float(beta);
      CUBLAS_CHECK(cublasSgemmStridedBatched(
          handle_, opb, opa, int(N), int(M), int(K), &al, B.tensor.data<float>() + B.offset,
          int(B.ld), B.batch_stride, A.tensor.data<float>() + A.offset, int(A.ld), A.batch_stride,
          &be, C.tensor.data<float>() + C.offset, int(C.ld), C.batch_stride, int(batch)));
    } else if (C.tensor.dtype() == DType::F64) {
      CUBLAS_CHECK(cublasDgemmStridedBatched(
          handle_, opb, opa, int(N), int(M), int(K), &alpha, B.tensor.data<double>() + B.offset,
          int(B.ld), B.batch_stride, A.tensor.data<double>() + A.offset, int(A.ld),
          A.batch_stride, &beta, C.tensor.data<double>() + C.offset, int(C.ld), C.batch_stride,
          int(batch)));
    } else {
      throw std::invalid_argument("gemm: needs F32 or F64");
    }
  }

  void unary(Unary op, const Tensor& x, const Tensor& out, double alpha, bool acc) override {
    check_same_shape(x, out, "unary");
    const int64_t n = x.numel();
    if (n == 0) return;
    by_float_type(x.dtype(), "unary", [&](auto zero) {
      using T = decltype(zero);
      unary_kernel<<<blocks_for(n), kThreads>>>(op, x.data<T>(), out.data<T>(), n, T(alpha), acc);
    });
    LAUNCH_CHECK("unary_kernel");
  }

  void unary_backward(Unary op, const Tensor& x, const Tensor& dy, const Tensor& dx) override {
    check(op == Unary::Relu || op == Unary::Gelu, "unary_backward: only Relu and Gelu");
    const int64_t n = x.numel();
    if (n == 0) return;
    by_float_type(x.dtype(), "unary_backward", [&](auto zero) {
      using T = decltype(zero);
      unary_backward_kernel<<<blocks_for(n), kThreads>>>(op, x.data<T>(), dy.data<T>(), dx.data<T>(), n);
    });
    LAUNCH_CHECK("unary_backward_kernel");
  }

  void binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
              bool acc) override {
    check_same_shape(a, out, "binary");
    const int64_t K = b.numel(), n = a.numel();
    check(bc.outer * K * bc.inner == n,
          "binary: " + b.describe() + " does not broadcast over " + a.describe());
    if (n == 0) return;
    by_float_type(a.dtype(), "binary", [&](auto zero) {
      using T = decltype(zero);
      binary_kernel<<<blocks_for(n), kThreads>>>(op, a.data<T>(), b.data<T>(), out.data<T>(), n, K,
                                                 bc.inner, acc);
    });
    LAUNCH_CHECK("binary_kernel");
  }

  void reduce(Reduce op, const Tensor& x, const Tensor& out, Broadcast bc, bool acc) override {
    const int64_t K = out.numel();
    check(bc.outer * K * bc.inner == x.numel(),
          "reduce: " + x.describe() + " does not reduce to " + out.describe());
    if (K == 0) return;
    const bool squares = op == Reduce::SumSquares;
    const int64_t n = x.numel();
    by_float_type(x.dtype(), "reduce", [&](auto zero) {
      using T = decltype(zero);
      if (n == 0) {  // an empty sum: out (+)= 0
        if (!acc) fill(out, 0.0);
      } else if (K == 1) {  // everything into one number (a squared norm)
        const int64_t P = std::clamp<int64_t>((n + 16 * kThreads - 1) / (16 * kThreads), 1, 1024);
        Scratch partial(*this, P * sizeof(double));
        flat_partial_kernel<<<static_cast<unsigned>(P), kThreads>>>(squares, x.data<T>(), n, (n + P - 1) / P,
                                                                     partial.as<double>());
        LAUNCH_CHECK("flat_partial_kernel");
        flat_total_kernel<<<1, kThreads>>>(partial.as<double>(), P, out.data<T>(), acc);
        LAUNCH_CHECK("flat_total_kernel");
      } else if (bc.inner == 1) {  // column sums of x (outer, K): a bias's gradient
        const int64_t R = bc.outer, P = row_chunks(R, K);
        Scratch partial(*this, P * K * sizeof(double));
        column_partial_kernel<<<dim3(blocks_for(K), static_cast<unsigned>(P)), kThreads>>>(
            squares, x.data<T>(), partial.as<double>(), R, K, (R + P - 1) / P);
        LAUNCH_CHECK("column_partial_kernel");
        column_total_kernel<<<blocks_for(K), kThreads>>>(partial.as<double>(), P, out.data<T>(), K, acc);
        LAUNCH_CHECK("column_total_kernel");
      } else {
        reduce_kernel<<<static_cast<unsigned>(K), kThreads>>>(squares, x.data<T>(), out.data<T>(), bc.outer, K,
                                                              bc.inner, acc);
        LAUNCH_CHECK("reduce_kernel");
      }
    });
  }

  void softmax_forward(const Tensor& x, const Tensor& y, BandMask mask) override {
    check_same_shape(x, y, "softmax_forward");
    const int64_t W = x.size(-1), R = x.numel() / W;
    if (R == 0) return;
    by_float_type(x.dtype(), "softmax_forward", [&](auto zero) {
      using T = decltype(zero);
      softmax_forward_kernel<<<static_cast<unsigned>(R), kThreads>>>(x.data<T>(), y.data<T>(), W, mask);
    });
    LAUNCH_CHECK("softmax_forward_kernel");
  }

  void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool accumulate) override {
    const int64_t W = y.size(-1), R = y.numel() / W;
    if (R == 0) return;
    by_float_type(y.dtype(), "softmax_backward", [&](auto zero) {
      using T = decltype(zero);
      softmax_backward_kernel<<<static_cast<unsigned>(R), kThreads>>>(y.data<T>(), dy.data<T>(),
                                                                      dx.data<T>(), W, accumulate);
    });
    LAUNCH_CHECK("softmax_backward_kernel");
  }

  void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                         const Tensor& y, const Tensor& mean, const Tensor& rstd) override {
    const int64_t C = x.size(-1), R = x.numel() / C;
    if (R == 0) return;
    by_float_type(x.dtype(), "layernorm_forward", [&](auto zero) {
      using T = decltype(zero);
      layernorm_forward_kernel<<<static_cast<unsigned>(R), kThreads>>>(
          x.data<T>(), w.data<T>(), b.data<T>(), eps, y.data<T>(), mean.data<T>(), rstd.data<T>(), C);
    });
    LAUNCH_CHECK("layernorm_forward_kernel");
  }

  void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                          const Tensor& dy, const Tensor& dx, const Tensor& dw,
                          const Tensor& db) override {
    const int64_t C = x.size(-1), R = x.numel() / C;
    if (R == 0) return;
    by_float_type(x.dtype(), "layernorm_backward", [&](auto zero) {
      using T = decltype(zero);
      layernorm_backward_dx_kernel<<<static_cast<unsigned>(R), kThreads>>>(
          x.data<T>(), w.data<T>(), mean.data<T>(), rstd.data<T>(), dy.data<T>(), dx.data<T>(), C);
      LAUNCH_CHECK("layernorm_backward_dx_kernel");
      const int64_t P = row_chunks(R, C);
      Scratch partial_w(*this, P * C * sizeof(double)), partial_b(*this, P * C * sizeof(double));
      layernorm_dw_partial_kernel<<<dim3(blocks_for(C), static_cast<unsigned>(P)), kThreads>>>(
          x.data<T>(), mean.data<T>(), rstd.data<T>(), dy.data<T>(), partial_w.as<double>(),
          partial_b.as<double>(), R, C, (R + P - 1) / P);
      LAUNCH_CHECK("layernorm_dw_partial_kernel");
      column_total_kernel<<<blocks_for(C), kThreads>>>(partial_w.as<double>(), P, dw.data<T>(), C, true);
      LAUNCH_CHECK("column_total_kernel");
      column_total_kernel<<<blocks_for(C), kThreads>>>(partial_b.as<double>(), P, db.data<T>(), C, true);
      LAUNCH_CHECK("column_total_kernel");
    });
  }

  void embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) override {
    const int64_t C = table.size(1), R = ids.numel();
    check(ids.dtype() == DType::I64 && out.numel() == R * C,
          "embedding_forward: ids must be I64 and out (R, C)");
    if (R == 0) return;
    by_float_type(table.dtype(), "embedding_forward", [&](auto zero) {
      using T = decltype(zero);
      embedding_forward_kernel<<<blocks_for(R * C), kThreads>>>(table.data<T>(), ids.data<int64_t>(),
                                                                out.data<T>(), R, C);
    });
    LAUNCH_CHECK("embedding_forward_kernel");
  }

  void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) override {
    const int64_t C = dtable.size(1), R = ids.numel();
    if (R == 0) return;
    check(R < (int64_t(1) << 31), "embedding_backward: more than 2^31 rows");
    // Sort keys of just enough bits for ids below V.
    int end_bit = 1;
    while (end_bit < 63 && (int64_t(1) << end_bit) < dtable.size(0)) ++end_bit;
    Scratch sorted_ids(*this, R * sizeof(int64_t)), rows(*this, R * sizeof(int32_t)),
        sorted_rows(*this, R * sizeof(int32_t));
    iota_kernel<<<blocks_for(R), kThreads>>>(rows.as<int32_t>(), R);
    LAUNCH_CHECK("iota_kernel");
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids.data<int64_t>(), sorted_ids.as<int64_t>(),
                                               rows.as<int32_t>(), sorted_rows.as<int32_t>(), R, 0, end_bit));
    Scratch temp(*this, temp_bytes);
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, ids.data<int64_t>(),
                                               sorted_ids.as<int64_t>(), rows.as<int32_t>(),
                                               sorted_rows.as<int32_t>(), R, 0, end_bit));
    by_float_type(dtable.dtype(), "embedding_backward", [&](auto zero) {
      using T = decltype(zero);
      embedding_backward_kernel<<<dim3(static_cast<unsigned>(R), blocks_for(C)), kThreads>>>(
          sorted_ids.as<int64_t>(), sorted_rows.as<int32_t>(), dout.data<T>(), dtable.data<T>(), R, C);
    });
    LAUNCH_CHECK("embedding_backward_kernel");
  }

  void cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                             const Tensor& loss, const Tensor& lse) override {
    const int64_t V = logits.size(-1), R = logits.numel() / V;
    if (R == 0) return;
    by_float_type(logits.dtype(), "cross_entropy_forward", [&](auto zero) {
      using T = decltype(zero);
      cross_entropy_forward_kernel<<<static_cast<unsigned>(R), kThreads>>>(
          logits.data<T>(), targets.data<int64_t>(), ignore_index, loss.data<T>(), lse.data<T>(), V);
    });
    LAUNCH_CHECK("cross_entropy_forward_kernel");
  }

  void cross_entropy_backward(const Tensor& logits, const Tensor& lse, const Tensor& targets,
                              int64_t ignore_index, const Tensor& dloss, double scale,
                              const Tensor& dlogits, bool accumulate) override {
    const int64_t V = logits.size(-1), R = logits.numel() / V;
    if (R == 0) return;
    by_float_type(logits.dtype(), "cross_entropy_backward", [&](auto zero) {
      using T = decltype(zero);
      cross_entropy_backward_kernel<<<static_cast<unsigned>(R), kThreads>>>(
          logits.data<T>(), lse.data<T>(), targets.data<int64_t>(), ignore_index, dloss.data<T>(),
          scale, dlogits.data<T>(), V, accumulate);
    });
    LAUNCH_CHECK("cross_entropy_backward_kernel");
  }

  void random_uniform(const Tensor& out, RandomKey key) override {
    const int64_t n = out.numel();
    check(key.fits(n), "random_uniform: the key's streams do not cut " + std::to_string(n) + " numbers");
    if (n == 0) return;
    by_float_type(out.dtype(), "random_uniform", [&](auto zero) {
      using T = decltype(zero);
      random_uniform_kernel<<<blocks_for(n), kThreads>>>(out.data<T>(), n, key);
    });
    LAUNCH_CHECK("random_uniform_kernel");
  }

  void dropout_mask(const Tensor& out, double p, RandomKey key) override {
    check(p >= 0 && p < 1, "dropout_mask: p must be in [0, 1)");
    const int64_t n = out.numel();
    check(key.fits(n), "dropout_mask: the key's streams do not cut " + std::to_string(n) + " numbers");
    if (n == 0) return;
    by_float_type(out.dtype(), "dropout_mask", [&](auto zero) {
      using T = decltype(zero);
      dropout_mask_kernel<<<blocks_for(n), kThreads>>>(out.data<T>(), n, static_cast<float>(p),
                                                       static_cast<T>(1.0 / (1.0 - p)), key);
    });
    LAUNCH_CHECK("dropout_mask_kernel");
  }

  // Dropout keeps no mask on the GPU: the backward draws the multipliers
  // again from the key (one Philox block per four elements), which costs
  // less than writing a mask and reading it back.
  Tensor dropout_forward(const Tensor& x, const Tensor& y, double p, RandomKey key) override {
    dropout(x, y, p, key, false, "dropout_forward");
    return Tensor();
  }
  void dropout_backward(const Tensor& dy, const Tensor&, double p, RandomKey key, const Tensor& dx,
                        bool accumulate) override {
    dropout(dy, dx, p, key, accumulate, "dropout_backward");
  }
  void softmax_dropout_backward(const Tensor& y, const Tensor& dout, const Tensor&, double p, RandomKey key,
                                const Tensor& dx, bool accumulate) override {
    check(p >= 0 && p < 1, "softmax_dropout_backward: p must be in [0, 1)");
    const int64_t W = y.size(-1), R = y.numel() / W;
    check(key.fits(y.numel()), "softmax_dropout_backward: the key's streams do not cut " + y.describe());
    if (R == 0) return;
    by_float_type(y.dtype(), "softmax_dropout_backward", [&](auto zero) {
      using T = decltype(zero);
      softmax_dropout_backward_kernel<<<static_cast<unsigned>(R), kThreads>>>(
          y.data<T>(), dout.data<T>(), dx.data<T>(), W, static_cast<float>(p), static_cast<T>(1.0 / (1.0 - p)), key,
          accumulate);
    });
    LAUNCH_CHECK("softmax_dropout_backward_kernel");
  }

  void lamb_update(const Tensor& w, const Tensor& update, const Tensor& norms_sq, double lr) override {
    check_same_shape(w, update, "lamb_update");
    check(norms_sq.numel() == 2, "lamb_update: norms_sq must hold (||w||^2, ||update||^2)");
    const int64_t n = w.numel();
    if (n == 0) return;
    by_float_type(w.dtype(), "lamb_update", [&](auto zero) {
      using T = decltype(zero);
      lamb_kernel<<<blocks_for(n), kThreads>>>(w.data<T>(), update.data<T>(), norms_sq.data<T>(), n, lr);
    });
    LAUNCH_CHECK("lamb_kernel");
  }

  void adam_update(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                   const AdamStep& s, const Tensor& update) override {
    check_same_shape(p, g, "adam_update");
    const int64_t n = p.numel();
    if (n == 0) return;
    by_float_type(p.dtype(), "adam_update", [&](auto zero) {
      using T = decltype(zero);
      adam_kernel<<<blocks_for(n), kThreads>>>(
          p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(),
          update.defined() ? update.data<T>() : nullptr, n, T(s.beta1), T(s.beta2), T(s.eps),
          T(s.weight_decay), T(s.lr), T(1.0 / s.bias_correction1), T(1.0 / s.bias_correction2));
    });
    LAUNCH_CHECK("adam_kernel");
  }

 private:
  // Scratch memory from the caching allocator, handed back at the end of
  // the scope: the kernels that use it are queued on the one stream ahead of
  // any later work that gets the same memory.
  struct Scratch {
    Scratch(Backend& be, size_t bytes) : be(be), bytes(bytes), p(be.allocate(bytes)) {}
    ~Scratch() { be.deallocate(p, bytes); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <typename T> T* as() const { return static_cast<T*>(p); }
    Backend& be;
    size_t bytes;
    void* p;
  };

  // y (+)= x * m for dropout's multipliers m of (p, key).
  void dropout(const Tensor& x, const Tensor& y, double p, RandomKey key, bool acc, const char* what) {
    check(p >= 0 && p < 1, std::string(what) + ": p must be in [0, 1)");
    check_same_shape(x, y, what);
    const int64_t n = x.numel();
    check(key.fits(n), std::string(what) + ": the key's streams do not cut " + x.describe());
    if (n == 0) return;
    by_float_type(x.dtype(), what, [&](auto zero) {
      using T = decltype(zero);
      dropout_kernel<<<blocks_for((n + 3) / 4), kThreads>>>(x.data<T>(), y.data<T>(), n, static_cast<float>(p),
                                                            static_cast<T>(1.0 / (1.0 - p)), key, acc);
    });
    LAUNCH_CHECK("dropout_kernel");
  }

  cublasHandle_t handle_ = nullptr;
  std::unordered_map<size_t, std::vector<void*>> cache_;
};

}  // namespace

bool cuda_device_visible() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

namespace {
CudaBackend& instance() {
  if (!cuda_device_visible())
    throw std::runtime_error("--device cuda: no CUDA GPU is visible on this machine");
  static CudaBackend backend;
  return backend;
}
}  // namespace

Backend& cuda_backend() { return instance(); }
void cuda_set_tf32(bool on) { instance().set_tf32(on); }

}  // namespace hc
