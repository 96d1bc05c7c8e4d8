// The seam between the engine and the hardware: one fixed list of primitives.
//
// Every op in autograd/ is written once in terms of these calls; the CPU
// backend (engine/cpu_backend.cpp, Eigen + OpenMP) and the CUDA backend
// (cuda/) implement the same list. That is what lets the op harness run every
// op on every backend and compare.
//
// Conventions for every primitive:
// - Tensors are contiguous; all operands live on this backend's device.
// - Forward outputs are overwritten. Outputs named d* (gradients) and any
//   call with `accumulate = true` ADD into what is there: backward passes
//   always accumulate, so a value used twice gets both contributions.
// - Broadcasting is one pattern only: a tensor `a` viewed as (A, K, I) and a
//   vector `b` of K elements that repeats over A and I. Bias (A=rows, I=1),
//   per-head scalars (A=B, K=H, I=T*D) and plain same-shape ops (A=I=1) all fit.
// - Nothing allocates or copies behind the caller's back.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/profiler.h"  // DeviceClock
#include "engine/rng.h"  // HC_HOST_DEVICE, and RandomKey's meaning
#include "engine/tensor.h"

namespace hc {

// (A, K, I) view of a tensor for broadcasting and reductions (see above).
struct Broadcast {
  int64_t outer = 1;  // A
  int64_t inner = 1;  // I
};

enum class Unary : uint8_t {
  Scale,   // alpha * x
  Relu,    // max(x, 0)
  Gelu,    // x * Phi(x), the exact (erf) form PyTorch uses by default
};
enum class Binary : uint8_t { Add, Sub, Mul };
enum class Reduce : uint8_t { Sum, SumSquares };

// One operand of a GEMM: element offset into a tensor, leading dimension
// (row stride, row-major), and stride between consecutive batch items.
struct Matrix {
  Tensor tensor;
  int64_t offset = 0;
  int64_t ld = 0;
  int64_t batch_stride = 0;
};

// Which logits a masked softmax may look at. Rows are grouped in blocks of
// `rows` (a query index i = row % rows). The first `ctx_cols` columns are
// context: column j is visible iff i + lo <= j <= i + hi. Columns at and after
// ctx_cols (persistent vectors) are always visible. rows == 0 means no mask.
struct BandMask {
  int64_t rows = 0;
  int64_t ctx_cols = 0;
  int64_t lo = 0;
  int64_t hi = 0;
  HC_HOST_DEVICE bool visible(int64_t row, int64_t col) const {
    if (rows == 0 || col >= ctx_cols) return true;
    const int64_t i = row % rows;
    return col >= i + lo && col <= i + hi;
  }
};

// Counter-based random numbers: a key (the seed) and a counter (the offset)
// give the same numbers on every device; see engine/rng.h.
//
// A key with `streams` > 0 cuts the tensor as (slices, streams, inner):
// element (s, b, j) takes number j of the counter range of stream
// first_stream + b and slice s. Activations are (B, ...) (one slice) or
// (H*B, ...) (H slices), so every batch stream's mask depends only on its
// global index, not on which rank or how many streams share the tensor.
// Such a key advances the offset by (inner + 3) / 4 blocks.
struct RandomKey {
  uint64_t seed = 0;
  uint64_t offset = 0;  // in 4-number blocks; advance by (numel + 3) / 4
  int64_t streams = 0;  // 0: one flat range for the whole tensor
  int64_t inner = 0;    // numbers per (slice, stream)
  int64_t first_stream = 0;

  // Whether a tensor of `numel` elements cuts into whole (slice, stream) rows.
  bool fits(int64_t numel) const { return streams == 0 || (inner > 0 && numel % (streams * inner) == 0); }
  // Number `index` of the tensor drawn with this key (engine/rng.h).
  HC_HOST_DEVICE uint32_t bits(int64_t index) const {
    if (streams == 0) return philox::bits(seed, offset, static_cast<uint64_t>(index));
    const int64_t row = index / inner;
    return philox::bits(seed, offset, static_cast<uint64_t>(index % inner),
                        static_cast<uint32_t>(first_stream + row % streams), static_cast<uint32_t>(row / streams));
  }
};

// One Adam / LAMB step for one parameter (see autograd/optim.h for the math).
struct AdamStep {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // decoupled (AdamW / LAMB style)
  double bias_correction1 = 1.0;  // 1 - beta1^t, or 1 when switched off
  double bias_correction2 = 1.0;  // 1 - beta2^t, or 1 when switched off
};

// One call of All-attention over every head of a batch (docs/spec.md
// section 2), in the layouts of models/allatt_layer.cpp: q (B,T,H*D) the
// queries, k and v (B,S,H*D) the keys and values over [memory ; current], r
// (S,H*D) the projected relative-position rows (row c <-> distance S-1-c), u
// and vb (H,D) the content and position biases, pk and pv (H,N,D) the
// persistent keys and values (undefined when N = 0); S = M + T, and head h is
// the column window h*D..h*D+D-1 of every token-major row. Query i of head h
// sees the context columns j = i..i+M (the same-length mask) and every
// persistent column:
//   a_ij    = alpha ((q_i + u)·k_j + (q_i + vb)·r_{j+T-1-i})
//   a_i,S+n = q_i·pk_n
//   p       = softmax of a over the visible columns
//   z       = p m, m the multipliers dropout_mask would draw with (dropout_p,
//             key) for the (H*B, T, S+N) probabilities (masked columns count)
//   out_i   = sum_j z_ij v_j + pv_scale sum_n z_i,S+n pv_n     out (B,T,H*D)
struct AttentionCall {
  Tensor q, k, v, r, u, vb, pk, pv;
  double alpha = 1.0, pv_scale = 1.0, dropout_p = 0.0;
  RandomKey key;

  struct Dims {
    int64_t B, T, M, S, H, D, N;
  };
  // The call's dimensions, every operand's shape and dtype checked against
  // them (throws naming the operand).
  Dims dims() const;
};
// What attention_forward keeps for attention_backward, in a form that is the
// backend's own business (the CPU: each row's log-sum-exp and the dropout
// bits; Backend's default: the probabilities and dropout's record).
struct AttentionRecord {
  std::vector<Tensor> saved;
};
// A gradient a backward writes (accumulate = false) or adds to; an undefined
// tensor when that gradient is not wanted.
struct GradTarget {
  Tensor t;
  bool accumulate = false;
};
struct AttentionGrads {
  GradTarget q, k, v, r, u, vb, pk, pv;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // ---- memory ----
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  // Bytes this backend's allocator holds from the system (in use or cached
  // for reuse); 0 where it does not count them.
  virtual int64_t held_bytes() const { return 0; }
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_bytes(void* dst, const void* src, size_t bytes) = 0;  // on this device
  virtual void synchronize() = 0;
  // A clock for the op profiler that times work where it runs (see
  // engine/profiler.h); nullptr where host wall time is the work's time.
  virtual std::unique_ptr<profiler::DeviceClock> device_clock() { return nullptr; }

  // ---- fill / copy ----
  virtual void fill(const Tensor& out, double value) = 0;
  // dst[dst_offset + sum_d i_d * dst_strides[d]] (+)= src[src_offset + sum_d i_d * src_strides[d]]
  // for every index i over `shape` (at most 6 dims). Permute, slice, concat and
  // the Transformer-XL relative shift are all this one primitive. The
  // destination view must not repeat an element (so backends may write all
  // elements in parallel); the source view may.
  virtual void strided_copy(const Tensor& dst, int64_t dst_offset, const Shape& dst_strides,
                            const Tensor& src, int64_t src_offset, const Shape& src_strides,
                            const Shape& shape, bool accumulate) = 0;

  // ---- dense algebra ----
  // C = alpha * op(A) op(B) + beta * C for each of `batch` items, row-major;
  // op(X) = X^T when the trans flag is set. op(A) is (M,K), op(B) is (K,N).
  virtual void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                    const Matrix& A, const Matrix& B, double beta, const Matrix& C,
                    int64_t batch) = 0;

  // The arguments of one gemm call, for gemm_pair.
  struct GemmCall {
    bool trans_a = false, trans_b = false;
    int64_t M = 0, N = 0, K = 0;
    double alpha = 1.0;
    Matrix A, B;
    double beta = 0.0;
    Matrix C;
    int64_t batch = 1;
  };
  // gemm with its arguments in one struct.
  void gemm_call(const GemmCall& g) {
    gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, g.alpha, g.A, g.B, g.beta, g.C, g.batch);
  }
  // C = alpha op(A) op(B) + bias, the N numbers of `bias` added to every row
  // of C (one product, beta 0: a linear layer's forward). The default fills
  // C's rows with the bias and runs gemm with beta = 1; the CPU adds it as
  // it stores each tile of C.
  virtual void gemm_bias(const GemmCall& call, const Tensor& bias);
  // gemm over a two-level batch: `heads` x `call.batch` items, item (h, g)
  // with every operand X offset by h * X_stride + g * X.batch_stride.
  // Attention's per-head products on token-major (B, ., H*D) tensors: a head
  // is a column window (stride D), a sequence a block of rows (the batch
  // stride), and neither order is one uniform stride. The default makes one
  // gemm call per head; a backend may run all items at once.
  struct HeadStrides {
    int64_t a = 0, b = 0, c = 0;
  };
  virtual void gemm_heads(const GemmCall& call, int64_t heads, HeadStrides strides);
  // Two products, as if by gemm(first) then gemm(second): the two gradients
  // of one product's backward (dx and dw of a linear layer). When neither
  // writes a tensor the other touches, the CPU backend runs them side by
  // side, each on part of the threads; this default runs them in turn.
  virtual void gemm_pair(const GemmCall& first, const GemmCall& second);

  // ---- elementwise ----
  // out (+)= op(x); `alpha` is the Scale factor.
  virtual void unary(Unary op, const Tensor& x, const Tensor& out, double alpha,
                     bool accumulate) = 0;
  // dx += dy * op'(x) for Relu and Gelu.
  virtual void unary_backward(Unary op, const Tensor& x, const Tensor& dy, const Tensor& dx) = 0;
  // out (+)= a op b, with b (K) broadcast over a viewed as (A, K, I).
  virtual void binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out,
                      Broadcast bc, bool accumulate) = 0;
  // out (K) (+)= sum over A and I of f(x), x viewed as (A, K, I).
  virtual void reduce(Reduce op, const Tensor& x, const Tensor& out, Broadcast bc,
                      bool accumulate) = 0;

  // ---- fused nn primitives ----
  // y = softmax over each row of x (R, W), masked entries exactly 0.
  virtual void softmax_forward(const Tensor& x, const Tensor& y, BandMask mask) = 0;
  // dx (+)= y * (dy - sum_j dy_j y_j), row by row.
  virtual void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool accumulate) = 0;
  // The gradient through a softmax y and then a dropout whose record `kept`
  // dropout_forward(y, out, p, key) returned (attention's probabilities):
  // g = dout * m, dx (+)= y * (g - sum_j g_j y_j). The default runs
  // dropout_backward and softmax_backward in turn; the CPU and CUDA do both
  // in one kernel, row by row.
  virtual void softmax_dropout_backward(const Tensor& y, const Tensor& dout, const Tensor& kept, double p,
                                        RandomKey key, const Tensor& dx, bool accumulate);
  // y = (x - mean) * rstd * w + b over rows of x (R, C); saves mean and rstd (R).
  virtual void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                                 const Tensor& y, const Tensor& mean, const Tensor& rstd) = 0;
  // dx, dw, db += the layernorm gradients.
  virtual void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                  const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                  const Tensor& dw, const Tensor& db) = 0;
  // out (R, C) = table (V, C) rows picked by ids (R, I64).
  virtual void embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
  // dtable += scatter of dout rows by ids, summed in a fixed order (deterministic).
  virtual void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) = 0;
  // Per row r of logits (R, V): lse[r] = log sum exp logits[r], loss[r] =
  // lse[r] - logits[r, target[r]]; rows whose target is ignore_index get loss 0.
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& targets,
                                     int64_t ignore_index, const Tensor& loss,
                                     const Tensor& lse) = 0;
  // dlogits (+)= dloss[0] * scale * (softmax(logits) - onehot(target)); ignored rows get
  // nothing (zeros when not accumulating). Without accumulate, dlogits may be logits
  // itself: each element is read before it is overwritten.
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& lse,
                                      const Tensor& targets, int64_t ignore_index,
                                      const Tensor& dloss, double scale,
                                      const Tensor& dlogits, bool accumulate) = 0;

  // ---- randomness (identical numbers on every backend) ----
  // out = uniform numbers in (0, 1), element e from Philox block offset + e/4, lane e%4.
  virtual void random_uniform(const Tensor& out, RandomKey key) = 0;
  // out = 0 with probability p, else 1/(1-p): an inverted-dropout multiplier.
  virtual void dropout_mask(const Tensor& out, double p, RandomKey key) = 0;
  // y = x * m for the multipliers m that dropout_mask(m, p, key) would draw.
  // Returns the backward's record of m, in a form that is this backend's
  // own business: the default keeps m itself; the CPU keeps one bit per
  // element; CUDA keeps nothing (an undefined tensor) and draws m again in
  // the backward. Pass it back, unchanged, to dropout_backward.
  virtual Tensor dropout_forward(const Tensor& x, const Tensor& y, double p, RandomKey key);
  // dx (+)= dy * m, for the m that dropout_forward(x, y, p, key) drew and recorded in `kept`.
  virtual void dropout_backward(const Tensor& dy, const Tensor& kept, double p, RandomKey key,
                                const Tensor& dx, bool accumulate);

  // ---- attention ----
  // out (B,T,H*D) = All-attention of the call (AttentionCall above), every
  // head in one primitive; returns what the backward needs. The default runs
  // the unfused computation on this list's primitives and keeps the
  // probabilities; the CPU runs it fused, tile by tile, keeping only each
  // row's log-sum-exp and the dropout bits (engine/cpu_attention.h).
  virtual AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out);
  // The gradients of attention_forward's out, given dout (B,T,H*D), the
  // forward's out and record, into the targets that are defined.
  virtual void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                                  const AttentionRecord& record, const AttentionGrads& grads);

  // ---- optimizer ----
  // m, v updated with g; u = m_hat / (sqrt(v_hat) + eps) + weight_decay * p.
  // If `update` is defined, u is written there and p is left alone (LAMB
  // scales it by a trust ratio first); otherwise p -= lr * u (AdamW).
  virtual void adam_update(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                           const AdamStep& step, const Tensor& update) = 0;
  // LAMB's trust-ratio step: w -= lr * r * update, r = min(||w||, 10) / ||update||
  // (1 when either norm is 0), with norms_sq = (||w||^2, ||update||^2) already on
  // the device (two SumSquares reductions): the ratio never visits the host, so
  // a GPU step does not wait on one read-back per parameter.
  virtual void lamb_update(const Tensor& w, const Tensor& update, const Tensor& norms_sq, double lr) = 0;
};

// The backend that runs tensors on `device`. Throws if that backend is not
// built in (CUDA without nvcc) or has no device (CUDA without a GPU).
Backend& backend(Device device);
inline Backend& backend_of(const Tensor& t) { return backend(t.device()); }
bool cuda_available();  // built with CUDA and a GPU is visible
// Let float32 GEMMs on the GPU use TF32 tensor cores (an explicit opt-in:
// 10-bit mantissa products, about 1e-3 relative difference from fp32).
void set_tf32(bool on);

// ---- backends that live outside engine/ ----
// The engine names the CPU backend only. A GPU backend (cuda/) registers
// itself here, so that nothing in engine/ names a CUDA function and the
// engine links without cuda/: engine/ depends on nothing above it, and cuda/
// on engine/'s headers only. cuda/register.cpp registers the CUDA backend as
// the program starts; CMakeLists.txt says how that file is kept in the link.
struct DeviceBackend {
  Backend& (*get)() = nullptr;       // the backend; throws when no device is visible
  bool (*available)() = nullptr;     // whether a device is visible
  void (*set_tf32)(bool) = nullptr;  // TF32 tensor cores for float32 GEMMs on or off
};
// Makes `entry` the backend of `device` (not Device::CPU). Returns true, so
// that a file can register from a namespace-scope initialiser.
bool register_device_backend(Device device, DeviceBackend entry);

}  // namespace hc
