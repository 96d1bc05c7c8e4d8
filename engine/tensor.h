// Tensor: a contiguous n-d array on one device, a view into shared Storage.
//
// A Tensor is (storage, offset, shape, dtype). It is always contiguous in
// row-major order, so a "view" can only be something that keeps the elements
// in the same order: a reshape, or a slice of whole rows along the first
// axis. Anything else (a permute, a column slice) is an explicit copy that
// the caller asks for through the backend's strided copy. Copies the caller did not ask
// for never happen.
//
// Dtypes: F32 is the working type, F64 exists on the CPU for finite-difference
// gradient checks, I64 holds token ids and targets.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace hc {

enum class DType : uint8_t { F32, F64, I64 };
enum class Device : uint8_t { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "F32", "F64", "I64": the safetensors spelling
const char* device_name(Device d);

using Shape = std::vector<int64_t>;
int64_t numel_of(const Shape& s);
std::string shape_str(const Shape& s);  // "(2,3,4)"

// Raw bytes owned on one device. Freed through the device's backend.
struct Storage {
  Device device;
  size_t bytes;
  void* ptr;
  Storage(Device device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// How many storages are alive, on every device together, and their bytes:
// counters the machine's speed cannot move, so a test can tell a leak (a
// count that grows step after step) from a slow neighbour.
struct StorageStats {
  int64_t live = 0;
  int64_t live_bytes = 0;
};
StorageStats storage_stats();

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false

  // Allocate (uninitialised) / allocate and fill.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::CPU);
  // Copy host values in (CPU destination; cast to dtype).
  static Tensor from_vector(const Shape& shape, const std::vector<double>& values,
                            DType dtype = DType::F32);
  static Tensor from_ids(const Shape& shape, const std::vector<int64_t>& ids);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t axis) const;  // negative axis counts from the end
  int64_t numel() const { return numel_of(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  int64_t offset() const { return offset_; }  // in elements

  void* raw() const;  // pointer to the first element (device memory for CUDA)
  template <typename T> T* data() const { return static_cast<T*>(raw()); }

  // Views: share storage, never copy.
  Tensor reshape(const Shape& shape) const;        // one -1 entry is inferred
  Tensor slice_rows(int64_t begin, int64_t end) const;  // [begin, end) along axis 0
  Tensor row(int64_t i) const;                     // axis 0 index i, that axis dropped

  // Explicit copies.
  Tensor clone() const;                            // same device, new storage
  Tensor to(Device device) const;                  // copy to a device (same device: clone)
  Tensor to_dtype(DType dtype) const;              // CPU only: cast copy
  std::vector<double> to_vector() const;           // copy out as doubles (any device)
  std::vector<int64_t> to_ids() const;             // copy out an I64 tensor
  double item() const;                             // the single element, as a double

  void fill_(double value) const;
  void copy_from(const Tensor& src) const;         // same numel and dtype, any devices

  std::string describe() const;                    // "F32(2,3) cpu"

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::F32;
};

// Throw std::invalid_argument with a message when a condition fails. Used for
// shape and dtype checks that the caller's input can violate.
void check(bool ok, const std::string& message);
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);

}  // namespace hc
