#include "engine/tensor.h"

#include <atomic>
#include <sstream>
#include <stdexcept>

#include "engine/backend.h"

namespace hc {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out + ")";
}

void check(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  check(a.shape() == b.shape(), std::string(what) + ": shapes differ, " + shape_str(a.shape()) +
                                    " vs " + shape_str(b.shape()));
}

namespace {
std::atomic<int64_t> g_live_storages{0}, g_live_bytes{0};
}  // namespace

StorageStats storage_stats() { return {g_live_storages.load(), g_live_bytes.load()}; }

Storage::Storage(Device device, size_t bytes) : device(device), bytes(bytes) {
  ptr = backend(device).allocate(bytes);
  ++g_live_storages;
  g_live_bytes += static_cast<int64_t>(bytes);
}

Storage::~Storage() {
  backend(device).deallocate(ptr, bytes);
  --g_live_storages;
  g_live_bytes -= static_cast<int64_t>(bytes);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) check(d >= 0, "Tensor::empty: negative size in " + shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(device, static_cast<size_t>(numel_of(shape)) *
                                                     dtype_size(dtype));
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype) {
  check(static_cast<int64_t>(values.size()) == numel_of(shape),
        "Tensor::from_vector: " + std::to_string(values.size()) + " values for shape " +
            shape_str(shape));
  Tensor t = empty(shape, dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::F32: t.data<float>()[i] = static_cast<float>(values[i]); break;
      case DType::F64: t.data<double>()[i] = values[i]; break;
      case DType::I64: t.data<int64_t>()[i] = static_cast<int64_t>(values[i]); break;
    }
  }
  return t;
}

Tensor Tensor::from_ids(const Shape& shape, const std::vector<int64_t>& ids) {
  check(static_cast<int64_t>(ids.size()) == numel_of(shape), "Tensor::from_ids: size mismatch");
  Tensor t = empty(shape, DType::I64);
  std::copy(ids.begin(), ids.end(), t.data<int64_t>());
  return t;
}

int64_t Tensor::size(int64_t axis) const {
  if (axis < 0) axis += dim();
  check(axis >= 0 && axis < dim(), "Tensor::size: axis out of range for " + describe());
  return shape_[axis];
}

void* Tensor::raw() const {
  return static_cast<char*>(storage_->ptr) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      check(infer < 0, "reshape: more than one -1 in " + shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    check(known > 0 && numel() % known == 0,
          "reshape: cannot infer -1 in " + shape_str(shape) + " from " + describe());
    s[infer] = numel() / known;
  }
  check(numel_of(s) == numel(), "reshape: " + describe() + " cannot become " + shape_str(s));
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  check(dim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
        "slice_rows: [" + std::to_string(begin) + "," + std::to_string(end) + ") out of range for " +
            describe());
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_ += begin * (numel() / std::max<int64_t>(shape_[0], 1));
  return t;
}

Tensor Tensor::row(int64_t i) const {
  Tensor t = slice_rows(i, i + 1);
  t.shape_.erase(t.shape_.begin());
  return t;
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::to(Device target) const {
  Tensor t = empty(shape_, dtype_, target);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to_dtype(DType target) const {
  check(device() == Device::CPU, "to_dtype: only on the CPU, got " + describe());
  return from_vector(shape_, to_vector(), target);
}

std::vector<double> Tensor::to_vector() const {
  const Tensor host = device() == Device::CPU ? *this : to(Device::CPU);
  std::vector<double> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::F32: out[i] = host.data<float>()[i]; break;
      case DType::F64: out[i] = host.data<double>()[i]; break;
      case DType::I64: out[i] = static_cast<double>(host.data<int64_t>()[i]); break;
    }
  }
  return out;
}

std::vector<int64_t> Tensor::to_ids() const {
  check(dtype_ == DType::I64, "to_ids: expected I64, got " + describe());
  const Tensor host = device() == Device::CPU ? *this : to(Device::CPU);
  return std::vector<int64_t>(host.data<int64_t>(), host.data<int64_t>() + numel());
}

double Tensor::item() const {
  check(numel() == 1, "item: expected one element, got " + describe());
  return to_vector()[0];
}

void Tensor::fill_(double value) const { backend_of(*this).fill(*this, value); }

void Tensor::copy_from(const Tensor& src) const {
  check(numel() == src.numel() && dtype_ == src.dtype_,
        "copy_from: " + src.describe() + " into " + describe());
  const size_t n = nbytes();
  if (n == 0) return;
  if (device() == src.device()) {
    backend_of(*this).copy_bytes(raw(), src.raw(), n);
  } else if (src.device() == Device::CPU) {
    backend_of(*this).copy_from_host(raw(), src.raw(), n);
  } else if (device() == Device::CPU) {
    backend_of(src).copy_to_host(raw(), src.raw(), n);
  } else {
    throw std::invalid_argument("copy_from: no path from " + src.describe() + " to " + describe());
  }
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_name(device());
}

}  // namespace hc
