// The CUDA backend. This is the seam only: memory, copies, fill and GEMM
// (cuBLAS, row-major through the column-major transpose identity). The other
// primitives of engine/backend.h are the CUDA backend issue's work; until they
// exist each throws a message naming itself, and the op harness's backend mode
// (run only when a GPU is visible) reports them.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "engine/backend.h"

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

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = value;
}

[[noreturn]] void not_yet(const char* primitive) {
  throw std::runtime_error(std::string("CUDA backend: primitive '") + primitive +
                           "' is not implemented yet");
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() { CUBLAS_CHECK(cublasCreate(&handle_)); }
  ~CudaBackend() override { cublasDestroy(handle_); }

  Device device() const override { return Device::CUDA; }

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    if (bytes) CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  void deallocate(void* p, size_t) override {
    if (p) cudaFree(p);
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

  void fill(const Tensor& out, double value) override {
    const int64_t n = out.numel();
    if (n == 0) return;
    const unsigned blocks = static_cast<unsigned>((n + 255) / 256);
    switch (out.dtype()) {
      case DType::F32: fill_kernel<<<blocks, 256>>>(out.data<float>(), n, float(value)); break;
      case DType::F64: fill_kernel<<<blocks, 256>>>(out.data<double>(), n, value); break;
      case DType::I64: fill_kernel<<<blocks, 256>>>(out.data<int64_t>(), n, int64_t(value)); break;
    }
    CUDA_CHECK(cudaGetLastError());
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

  void strided_copy(const Tensor&, int64_t, const Shape&, const Tensor&, int64_t, const Shape&,
                    const Shape&, bool) override { not_yet("strided_copy"); }
  void unary(Unary, const Tensor&, const Tensor&, double, bool) override { not_yet("unary"); }
  void unary_backward(Unary, const Tensor&, const Tensor&, const Tensor&) override {
    not_yet("unary_backward");
  }
  void binary(Binary, const Tensor&, const Tensor&, const Tensor&, Broadcast, bool) override {
    not_yet("binary");
  }
  void reduce(Reduce, const Tensor&, const Tensor&, Broadcast, bool) override { not_yet("reduce"); }
  void softmax_forward(const Tensor&, const Tensor&, BandMask) override {
    not_yet("softmax_forward");
  }
  void softmax_backward(const Tensor&, const Tensor&, const Tensor&) override {
    not_yet("softmax_backward");
  }
  void layernorm_forward(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&,
                         const Tensor&, const Tensor&) override { not_yet("layernorm_forward"); }
  void layernorm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {
    not_yet("layernorm_backward");
  }
  void embedding_forward(const Tensor&, const Tensor&, const Tensor&) override {
    not_yet("embedding_forward");
  }
  void embedding_backward(const Tensor&, const Tensor&, const Tensor&) override {
    not_yet("embedding_backward");
  }
  void cross_entropy_forward(const Tensor&, const Tensor&, int64_t, const Tensor&,
                             const Tensor&) override { not_yet("cross_entropy_forward"); }
  void cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&, int64_t,
                              const Tensor&, double, const Tensor&) override {
    not_yet("cross_entropy_backward");
  }
  void random_uniform(const Tensor&, RandomKey) override { not_yet("random_uniform"); }
  void dropout_mask(const Tensor&, double, RandomKey) override { not_yet("dropout_mask"); }
  void adam_update(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const AdamStep&,
                   const Tensor&) override { not_yet("adam_update"); }

 private:
  cublasHandle_t handle_ = nullptr;
};

}  // namespace

bool cuda_device_visible() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

Backend& cuda_backend() {
  if (!cuda_device_visible())
    throw std::runtime_error("--device cuda: no CUDA GPU is visible on this machine");
  static CudaBackend instance;
  return instance;
}

}  // namespace hc
