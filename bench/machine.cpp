// Benchmark: the machine's two ceilings, measured now. The FMA peak
// (engine/fma_peak.h: independent FMA chains in registers, the physical
// limit) and the SGEMM rate (raw Eigen, (4096 x 512) x (512 x 512)^T, the
// largest linear layer of bench_linear: what a well-blocked GEMM reaches
// here), each on one core and on all threads. Every stage of `make results`
// records this block beside its figures (tools/results/meta.py), because on
// this project's shared VMs the ceilings move from minute to minute.
//
// usage: bench_machine [--json] [--quick]
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench/bench_flags.h"
#include "engine/fma_peak.h"

using namespace hc;

namespace {

// A field of /proc/cpuinfo's first processor ("model name", "cpu family"), or "".
std::string cpuinfo(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name == key) return colon + 2 <= line.size() ? line.substr(colon + 2) : "";
  }
  return "";
}

// Eigen's SGEMM rate on `threads` threads: the fastest of `reps` products
// after two warm-up ones (fastest, not median: other tenants of the VM only
// ever slow a product down).
double sgemm_gflops(int threads, int reps) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::setNbThreads(threads);
  const Mat x = Mat::Random(4096, 512), w = Mat::Random(512, 512);
  Mat y(4096, 512);
  double best = 1e30;
  for (int i = 0; i < reps + 2; ++i) {
    const auto a = std::chrono::steady_clock::now();
    y.noalias() = x * w.transpose();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    if (i >= 2) best = std::min(best, s);
  }
  Eigen::setNbThreads(0);
  return 2.0 * 4096 * 512 * 512 / best * 1e-9;
}

}  // namespace

const char* const kUsage =
    "usage: bench_machine [--json] [--quick]\n"
    "Measures this machine's FMA peak (independent float32 FMA chains in registers,\n"
    "fastest of 5 runs of ~20 ms) and Eigen's SGEMM rate ((4096x512)x(512x512)^T,\n"
    "fastest of 10), each on one core and on OMP_NUM_THREADS threads. --quick: fewer,\n"
    "shorter runs. Prints a table, or one JSON object with --json.\n";

int main(int argc, char** argv) {
  BenchFlags flags;
  if (const int status = parse_bench_flags(argc, argv, "bench_machine", kUsage, flags); status >= 0) return status;
  const bool as_json = flags.json, quick = flags.quick;
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const int reps = quick ? 2 : 5, sgemm_reps = quick ? 3 : 10;
  const double rep_seconds = quick ? 0.005 : 0.02;
  const FmaPeak one = measure_fma_peak(1, reps, rep_seconds), all = measure_fma_peak(threads, reps, rep_seconds);
  const double sgemm_one = sgemm_gflops(1, sgemm_reps), sgemm_all = sgemm_gflops(threads, sgemm_reps);
  const std::string family = cpuinfo("cpu family"), model = cpuinfo("model");
  const nlohmann::json m = {
      {"cpu", cpuinfo("model name")},
      {"cpu_id", cpuinfo("vendor_id") + " family " + family + " model " + model},
      {"cores", std::thread::hardware_concurrency()},
      {"threads", threads},
      {"fma_kernel", fma_kernel_name()},
      {"fma_peak_gflops", {{"one_core", one.gflops}, {"all_cores", all.gflops}}},
      {"sgemm_gflops", {{"one_core", sgemm_one}, {"all_cores", sgemm_all}}},
      {"sgemm", "Eigen, (4096 x 512) x (512 x 512)^T"}};
  if (as_json) {
    std::printf("%s\n", m.dump().c_str());
  } else {
    std::printf("%s (%s), %u logical CPUs, %d threads\n", m["cpu"].get<std::string>().c_str(),
                m["cpu_id"].get<std::string>().c_str(), std::thread::hardware_concurrency(), threads);
    std::printf("FMA peak (%s kernel): %.1f GFLOP/s on one core, %.1f on %d threads\n", fma_kernel_name(), one.gflops,
                all.gflops, all.threads);
    std::printf("Eigen SGEMM (4096x512)x(512x512)^T: %.1f GFLOP/s on one core, %.1f on %d threads\n", sgemm_one,
                sgemm_all, threads);
  }
  return 0;
}
