// The CUDA backend's three entry points (cuda/cuda_backend.cu), which
// cuda/register.cpp hands to the engine's registry. Nothing outside cuda/
// calls them by name: the engine reaches them through backend(Device::CUDA),
// cuda_available() and set_tf32() (engine/backend.h).
#pragma once

#include "engine/backend.h"

namespace hc {

// The process's one CUDA backend, made on first use; throws when no GPU is visible.
Backend& cuda_backend();
// Whether the CUDA runtime sees at least one GPU.
bool cuda_device_visible();
// TF32 tensor-core math for float32 GEMMs on (cuBLAS's TF32 mode) or off.
void cuda_set_tf32(bool on);

}  // namespace hc
