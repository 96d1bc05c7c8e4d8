// Which backend runs which device. The CPU backend is always here; the CUDA
// backend is linked in only when the build found nvcc (HEADCOUNT_HAVE_CUDA).
#include <stdexcept>

#include "engine/backend.h"

namespace hc {

Backend& cpu_backend();  // engine/cpu_backend.cpp
#ifdef HEADCOUNT_HAVE_CUDA
Backend& cuda_backend();     // cuda/cuda_backend.cu; throws when no GPU is visible
bool cuda_device_visible();  // cuda/cuda_backend.cu
void cuda_set_tf32(bool on);  // cuda/cuda_backend.cu
#endif

Backend& backend(Device device) {
  if (device == Device::CPU) return cpu_backend();
#ifdef HEADCOUNT_HAVE_CUDA
  return cuda_backend();
#else
  throw std::runtime_error("this build of headcount has no CUDA backend (nvcc was not found)");
#endif
}

void set_tf32(bool on) {
#ifdef HEADCOUNT_HAVE_CUDA
  cuda_set_tf32(on);
#else
  if (on) throw std::runtime_error("--tf32: this build of headcount has no CUDA backend");
#endif
}

void Backend::gemm_pair(const GemmCall& first, const GemmCall& second) {
  gemm_call(first);
  gemm_call(second);
}

void Backend::gemm_bias(const GemmCall& call, const Tensor& bias) {
  check(call.batch == 1 && call.beta == 0.0 && bias.numel() == call.N,
        "gemm_bias: one product with beta = 0 and a bias of N numbers");
  strided_copy(call.C.tensor, call.C.offset, {call.C.ld, 1}, bias, 0, {0, 1}, {call.M, call.N}, false);  // every row = bias
  GemmCall onto_bias = call;
  onto_bias.beta = 1.0;
  gemm_call(onto_bias);
}

void Backend::gemm_heads(const GemmCall& call, int64_t heads, HeadStrides strides) {
  GemmCall head = call;
  for (int64_t h = 0; h < heads; ++h) {
    head.A.offset = call.A.offset + h * strides.a;
    head.B.offset = call.B.offset + h * strides.b;
    head.C.offset = call.C.offset + h * strides.c;
    gemm_call(head);
  }
}

Tensor Backend::dropout_forward(const Tensor& x, const Tensor& y, double p, RandomKey key) {
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  dropout_mask(mask, p, key);
  binary(Binary::Mul, x, mask, y, Broadcast{}, false);
  return mask;
}

void Backend::dropout_backward(const Tensor& dy, const Tensor& kept, double, RandomKey, const Tensor& dx,
                               bool accumulate) {
  binary(Binary::Mul, dy, kept, dx, Broadcast{}, accumulate);
}

void Backend::softmax_dropout_backward(const Tensor& y, const Tensor& dout, const Tensor& kept, double p,
                                       RandomKey key, const Tensor& dx, bool accumulate) {
  Tensor g = Tensor::empty(dout.shape(), dout.dtype(), dout.device());
  dropout_backward(dout, kept, p, key, g, false);
  softmax_backward(y, g, dx, accumulate);
}

bool cuda_available() {
#ifdef HEADCOUNT_HAVE_CUDA
  return cuda_device_visible();
#else
  return false;
#endif
}

}  // namespace hc
