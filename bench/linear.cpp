// Benchmark: a linear layer's forward + backward (the three GEMMs of
// training), raw Eigen SGEMM (the CPU ceiling) against the engine's `linear`
// through autograd, at transformer shapes. PyTorch runs beside it from
// bench/linear.sh; this program prints a table, or JSON with --json.
//
// FLOPs per iteration: forward y = x W^T is 2 R C OC; backward dx = dy W and
// dW = dy^T x are 2 R C OC each: 6 R C OC in all (the bias adds R OC, ignored).
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/ops.h"
#include "bench/bench_flags.h"

using namespace hc;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

// The fastest of `reps` runs of f, in seconds, after `warmup` untimed runs.
// The fastest, not the median: on a shared VM other tenants only ever slow a
// run down, so the fastest run is the one closest to what the code can do
// (bench/linear_torch.py times the peer the same way).
template <typename F>
double fastest_seconds(F&& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  return *std::min_element(t.begin(), t.end());
}

}  // namespace

const char* const kUsage =
    "usage: bench_linear [--json] [--quick]\n"
    "Times a linear layer's forward + backward at C in {128, 256, 512} and R = B*T in\n"
    "{1024, 4096}: raw Eigen SGEMM (the CPU ceiling) against the engine's linear through\n"
    "autograd, the fastest of 30 runs each, on OMP_NUM_THREADS threads. Prints a table,\n"
    "or one JSON array with --json. bench/linear.sh runs PyTorch beside it. --quick: C = 128,\n"
    "R = 1024 only, the fastest of 5 after 2 warm-up runs (make results QUICK=1).\n";

int main(int argc, char** argv) {
  BenchFlags flags;
  if (const int status = parse_bench_flags(argc, argv, "bench_linear", kUsage, flags); status >= 0) return status;
  const bool as_json = flags.json, quick = flags.quick;
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  nlohmann::json rows = nlohmann::json::array();
  if (!as_json)
    std::printf("threads %d (Eigen uses %d)\n%6s %6s %14s %14s %8s\n", threads, Eigen::nbThreads(), "C",
                "R", "Eigen GF/s", "engine GF/s", "ratio");
  const std::vector<int64_t> rows_list = quick ? std::vector<int64_t>{1024} : std::vector<int64_t>{1024, 4096},
                              widths = quick ? std::vector<int64_t>{128} : std::vector<int64_t>{128, 256, 512};
  const int warmup = quick ? 2 : 20, reps = quick ? 5 : 30;
  for (int64_t R : rows_list)
    for (int64_t C : widths) {
      const int64_t OC = C;
      const double flops = 6.0 * R * C * OC;
      // Raw Eigen: the three products, written into preallocated matrices.
      Mat x = Mat::Random(R, C), w = Mat::Random(OC, C), dy = Mat::Random(R, OC);
      Mat y(R, OC), dx(R, C), dw(OC, C);
      const double eigen_s = fastest_seconds([&] {
        y.noalias() = x * w.transpose();
        dx.noalias() = dy * w;
        dw.noalias() = dy.transpose() * x;
      }, warmup, reps);
      // The engine: Variables, the graph, backward. Each run starts from
      // fresh leaves (sharing the same values), so the gradients are
      // written, not added onto zero-filled buffers: the same work as the
      // peer, which sets its gradients to None before each run, and as an
      // activation's gradient in a model.
      const Tensor x_value = Tensor::empty({R, C}), w_value = Tensor::empty({OC, C}), b_value = Tensor::zeros({OC});
      std::memcpy(x_value.raw(), x.data(), R * C * sizeof(float));
      std::memcpy(w_value.raw(), w.data(), OC * C * sizeof(float));
      const Tensor seed = Tensor::full({R, OC}, 0.01);
      const double engine_s = fastest_seconds([&] {
        const Variable xv(x_value, true, "x"), wv(w_value, true, "w"), bv(b_value, true, "b");
        linear(xv, wv, bv).backward(seed);
      }, warmup, reps);
      const double eigen_gf = flops / eigen_s * 1e-9, engine_gf = flops / engine_s * 1e-9;
      rows.push_back({{"C", C}, {"R", R}, {"threads", threads}, {"eigen_gflops", eigen_gf},
                      {"engine_gflops", engine_gf}, {"engine_ms", engine_s * 1e3}});
      if (!as_json)
        std::printf("%6lld %6lld %14.1f %14.1f %7.1f%%\n", static_cast<long long>(C),
                    static_cast<long long>(R), eigen_gf, engine_gf, 100 * engine_gf / eigen_gf);
    }
  if (as_json) std::printf("%s\n", rows.dump().c_str());
  return 0;
}
