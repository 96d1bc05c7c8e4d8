// Which backend runs which device: the CPU backend (engine/cpu_backend.cpp)
// always; any other, such as the CUDA backend, when it has registered (see
// register_device_backend in engine/backend.h).
#include <stdexcept>

#include "engine/cpu_backend.h"

namespace hc {

namespace {
// The registered backend of each device other than the CPU, by Device value.
// A function's static, not a global: registrations run from other files'
// static initialisers, which may come before this file's.
DeviceBackend& registered(Device device) {
  static DeviceBackend table[static_cast<int>(Device::CUDA) + 1];
  return table[static_cast<int>(device)];
}
}  // namespace

bool register_device_backend(Device device, DeviceBackend entry) {
  check(device != Device::CPU && entry.get && entry.available && entry.set_tf32,
        "register_device_backend: a device other than the CPU, with all three functions");
  registered(device) = entry;
  return true;
}

Backend& backend(Device device) {
  if (device == Device::CPU) return cpu_backend();
  const DeviceBackend& entry = registered(device);
  if (!entry.get) throw std::runtime_error("this build of headcount has no CUDA backend (nvcc was not found)");
  return entry.get();
}

void set_tf32(bool on) {
  const DeviceBackend& entry = registered(Device::CUDA);
  if (entry.set_tf32) entry.set_tf32(on);
  else if (on) throw std::runtime_error("--tf32: this build of headcount has no CUDA backend");
}

bool cuda_available() {
  const DeviceBackend& entry = registered(Device::CUDA);
  return entry.available && entry.available();
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

}  // namespace hc
