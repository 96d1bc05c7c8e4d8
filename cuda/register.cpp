// Registers the CUDA backend with the engine (engine/backend.h), so that
// backend(Device::CUDA), cuda_available() and set_tf32() reach cuda/ while
// nothing in engine/ names a CUDA function.
//
// The registration runs as the program starts, from the initialiser of
// `registered` below. A linker copies an object file out of a static library
// only when something already linked refers to one of its symbols, and
// nothing refers to this file: so CMakeLists.txt links the headcount_cuda
// library whole ($<LINK_LIBRARY:WHOLE_ARCHIVE,...>), and this file, with
// the backend it registers, is in every program that links headcount_app.
// A program built without nvcc has no cuda/ at all: nothing registers, and
// backend(Device::CUDA) says that this build has no CUDA backend.
#include "cuda/cuda_backend.h"

namespace hc {
namespace {

[[maybe_unused]] const bool registered = register_device_backend(Device::CUDA, {&cuda_backend, &cuda_device_visible, &cuda_set_tf32});

}  // namespace
}  // namespace hc
