// Small helpers shared by the CPU backend's files (engine/cpu_backend.cpp and
// engine/cpu_tuned/): which float type a call works in, typed data pointers,
// and how many OpenMP threads a loop started here would get.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/tensor.h"

namespace hc::cpu {

// Run f(T{}) with T = float or double according to the dtype `t`.
template <typename F>
void by_float_type(DType t, const char* what, F&& f) {
  if (t == DType::F32) {
    f(float{});
  } else if (t == DType::F64) {
    f(double{});
  } else {
    throw std::invalid_argument(std::string(what) + ": needs F32 or F64, got " + dtype_name(t));
  }
}

// The data of `t` as T*. Every primitive works in one dtype, chosen from its
// first operand; an operand of another dtype (an op mixing float32 and
// float64) would be read as the wrong type, and past its end, so it is
// refused here.
template <typename T>
T* ptr(const Tensor& t) {
  constexpr DType expected = std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I64;
  if (t.dtype() != expected)
    throw std::invalid_argument("cpu backend: an operand is " + t.describe() + ", the operation works in " +
                                dtype_name(expected));
  return t.data<T>();
}

// How many threads a parallel region started here would get: all of
// OpenMP's, or 1 from inside a region that is already running.
inline int free_threads() {
#ifdef _OPENMP
  if (!omp_in_parallel()) return omp_get_max_threads();
#endif
  return 1;
}

// This thread's number in the enclosing parallel region (0 outside one).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace hc::cpu
