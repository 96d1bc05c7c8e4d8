// Benchmark: one training step (forward, backward, optimizer) of the
// All-attention model at a config's sizes, on random tokens, or with --infer
// one evaluation forward pass (no dropout, no gradient, the memory carried
// from segment to segment, as `headcount eval` runs it). Prints ms/step,
// tokens/s, achieved GFLOP/s (from the profiler's analytic op FLOPs), the
// MFU against the two ceilings measured beside the steps (the machine's FMA
// peak, engine/fma_peak.h, and a raw Eigen SGEMM) and, with --profile, the per-op table (each op at its fastest of --steps
// profiled steps). bench/train_step.sh runs PyTorch beside it.
// The step time is the fastest of --steps, as the PyTorch peer reports it: on
// a shared VM other tenants only ever slow a step down.
//
// usage: bench_train_step CONFIG.json [--vocab V] [--steps N] [--batch B] [--device cpu|cuda]
//                        [--tf32] [--infer] [--profile] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "app/config.h"
#include "autograd/optim.h"
#include "engine/bandwidth.h"
#include "engine/fma_peak.h"
#include "engine/profiler.h"
#include "models/allatt_lm.h"

using namespace hc;

namespace {

// What a roofline of the step needs (--profile --json): each op's fastest
// totals over the profiled steps (analytic FLOPs and bytes, measured time)
// and the memory bandwidth measured now, beside the FMA peak of the MFU
// pairs (engine/bandwidth.h).
nlohmann::json roofline_json(const std::vector<std::vector<profiler::Event>>& profiled, int threads) {
  nlohmann::json ops = nlohmann::json::array();
  for (const profiler::OpTotal& op : profiler::totals(profiled))
    ops.push_back({{"op", op.name}, {"calls", op.calls}, {"ms", op.ns * 1e-6}, {"flops", op.flops}, {"bytes", op.bytes}});
  const Bandwidth bw = measure_bandwidth(threads);
  return {{"ops", ops}, {"bandwidth_gbs_best", bw.gbs}, {"bandwidth_kernel", "triad, 3 x 128 MiB float32"}};
}

const char* kUsage =
    "usage: bench_train_step CONFIG.json [--vocab V] [--steps N] [--batch B] [--device cpu|cuda]\n"
    "                        [--tf32] [--infer] [--profile] [--json]\n"
    "Times training steps (forward, backward, clip, Adam) of CONFIG's model on random tokens,\n"
    "or with --infer evaluation forward passes (no dropout, no gradient, memory carried):\n"
    "ms/step (the fastest of --steps), tokens/s, GFLOP/s; on the CPU also the MFU: --steps more\n"
    "steps, each set against the FMA peak (all threads) and a raw Eigen SGEMM timed right after\n"
    "it, the median of each ratio. --profile\n"
    "adds the per-op table, each op at its fastest of --steps more steps, profiled; with --json\n"
    "on the CPU, those ops' FLOPs, bytes and times and the memory bandwidth (a roofline). Defaults:\n"
    "--vocab 86, --steps 10, --batch from the config.\n";

int run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  if (argc < 2 || argv[1][0] == '-') {
    std::fputs(kUsage, stderr);
    return 2;
  }
  int64_t vocab = 86, steps = 10, batch = 0;
  bool profile = false, as_json = false, tf32 = false, infer = false;
  Device device = Device::CPU;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) device = std::strcmp(argv[++i], "cuda") ? Device::CPU : Device::CUDA;
    else if (!std::strcmp(argv[i], "--tf32")) tf32 = true;
    else if (!std::strcmp(argv[i], "--infer")) infer = true;
    else if (!std::strcmp(argv[i], "--profile")) profile = true;
    else if (!std::strcmp(argv[i], "--json")) as_json = true;
    else {
      std::fprintf(stderr, "bench_train_step: unknown argument %s\n%s", argv[i], kUsage);
      return 2;
    }
  }
  const RunConfig cfg = load_config(argv[1], {});
  AllAttConfig mc = cfg.model;
  mc.vocab = vocab;
  if (tf32) set_tf32(true);
  AllAttLM model(mc, 1, DType::F32, device);
  const std::vector<Variable> params = model.parameters();
  // Adam with PyTorch's defaults, whatever the config trains with (the
  // paper's LAMB for wt103-all-16l): the peer runs torch.optim.Adam.
  Optimizer opt({ParamGroup{params, 1.0, 0.0}}, OptimizerConfig{});
  const int64_t B = batch > 0 ? batch : cfg.batch, T = mc.seg_len;
  std::vector<int64_t> ids(B * T), next(B * T);
  for (int64_t i = 0; i < B * T; ++i) {
    ids[i] = (i * 7919) % vocab;
    next[i] = (i * 104729 + 3) % vocab;
  }
  const Tensor x = Tensor::from_ids({B, T}, ids), y = Tensor::from_ids({B, T}, next);
  Memory mem = model.initial_memory(B);
  RngStream rng{1, 0};
  auto step = [&] {
    if (infer) {
      NoGrad no_grad;
      model.logits(x, mem, false, rng);
    } else {
      model.loss(x, y, mem, true, rng).backward();
      clip_grad_norm(params, cfg.grad_clip);
      opt.step(1e-4);
      opt.zero_grad();
    }
    backend(device).synchronize();  // GPU work is asynchronous: time it to the end
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocations, memory filled
  // FLOPs of one step, from the ops' analytic counts.
  profiler::use_device_clock(backend(device).device_clock());  // GPU: op times from CUDA events
  // With --profile, every op at its fastest of --steps profiled steps (one
  // profiled step is at the mercy of whatever else the machine was doing).
  std::vector<std::vector<profiler::Event>> profiled;
  for (int64_t i = 0; i < (profile ? steps : 1); ++i) {
    profiler::clear();
    profiler::enable(true);
    step();
    profiler::enable(false);
    profiled.push_back(profiler::events());
  }
  double flops = 0;
  for (const auto& e : profiled[0]) flops += e.cost.flops;
  const std::string table = profiler::table(profiled);
  profiler::use_device_clock(nullptr);
  std::vector<double> ms;
  const size_t scopes_per_step = profiled[0].size();
  // What a profiler scope costs when profiling is off: the same branch every
  // op takes, timed over ten million scopes.
  double off_ns = 0;
  {
    const int64_t n = 10000000;
    volatile int64_t sink = 0;
    const auto a = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) {
      profiler::Scope scope("x", [&] { return profiler::Cost{"", double(i), 0}; });
      sink = sink + 1;
    }
    off_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - a).count() / n;
  }
  for (int64_t i = 0; i < steps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  // MFU: --steps more steps, each followed by the two ceilings: the FMA peak
  // on all threads (engine/fma_peak.h, fastest of three ~5 ms runs) and the
  // SGEMM (fastest of three), raw Eigen on all threads, (R, C) x (C, C)^T at
  // R = 4096, C = 512 (bench_linear's largest linear layer). This VM's speed
  // wanders by up to 2x within seconds, so each step is set against the
  // ceilings of the same moment; the median of those ratios is the MFU least
  // disturbed by the wandering.
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Mat sx = Mat::Random(4096, 512), sw = Mat::Random(512, 512);
  Mat sy(4096, 512);
  const double sgemm_flops = 2.0 * 4096 * 512 * 512;
  std::vector<double> sgemm_gflops, mfu, fma_gflops, mfu_fma;
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  for (int64_t i = 0; i < (device == Device::CPU ? steps : 0); ++i) {
    const auto a = std::chrono::steady_clock::now();
    step();
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    double sgemm_s = 1e30;  // the fastest of three back to back: warm caches, as bench_linear times it
    for (int k = 0; k < 3; ++k) {
      const auto b = std::chrono::steady_clock::now();
      sy.noalias() = sx * sw.transpose();
      sgemm_s = std::min(sgemm_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - b).count());
    }
    sgemm_gflops.push_back(sgemm_flops / sgemm_s * 1e-9);
    mfu.push_back(flops / step_s * 1e-9 / sgemm_gflops.back());
    fma_gflops.push_back(measure_fma_peak(threads, 3, 0.005).gflops);
    mfu_fma.push_back(flops / step_s * 1e-9 / fma_gflops.back());
  }
  auto middle = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  auto largest = [](const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); };
  const double median_mfu = middle(mfu), best_sgemm = largest(sgemm_gflops), median_mfu_fma = middle(mfu_fma),
               best_fma = largest(fma_gflops);
  const double best = *std::min_element(ms.begin(), ms.end()), tok_s = B * T / (best * 1e-3), gflops = flops / (best * 1e-3) * 1e-9;
  if (as_json) {
    nlohmann::json j{{"config", argv[1]}, {"threads", threads}, {"batch", B},
                     {"mode", infer ? "infer" : "train"},
                     {"device", device_name(device)}, {"tf32", tf32}, {"ms_per_step", best},
                     {"tok_s", tok_s}, {"gflops", gflops}, {"flops_per_step", flops},
                     {"parameters", model.parameter_count(true)},
                     {"profiler_off_ns_per_scope", off_ns},
                     {"sgemm_gflops_best", best_sgemm}, {"mfu_paired_median", median_mfu},
                     {"fma_kernel", fma_kernel_name()}, {"fma_peak_gflops_best", best_fma},
                     {"mfu_fma_paired_median", median_mfu_fma},
                     {"scopes_per_step", scopes_per_step}};
    if (profile && device == Device::CPU) j["roofline"] = roofline_json(profiled, threads);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %s, B=%lld T=%lld, %d threads: %.1f ms/step, %.0f tok/s, %.1f GFLOP/s (%.2f GFLOP/step)\n",
                argv[1], infer ? "evaluation forward" : "training step", static_cast<long long>(B),
                static_cast<long long>(T), threads, best, tok_s, gflops, flops * 1e-9);
    if (!mfu.empty())
      std::printf("SGEMM (4096x512)x(512x512) beside each step: best %.1f GFLOP/s; step/SGEMM rate, median of %zu "
                  "pairs: %.1f%%\n",
                  best_sgemm, mfu.size(), 100.0 * median_mfu);
    if (!mfu_fma.empty())
      std::printf("FMA peak (%s, %d threads) beside each step: best %.1f GFLOP/s; step/peak rate, median of %zu "
                  "pairs: %.1f%%\n",
                  fma_kernel_name(), threads, best_fma, mfu_fma.size(), 100.0 * median_mfu_fma);
    std::printf("profiler off: %.2f ns per op scope x %zu scopes per step = %.5f%% of a step\n", off_ns,
                scopes_per_step, 100.0 * off_ns * 1e-6 * static_cast<double>(scopes_per_step) / best);
    if (profile) std::printf("%s", table.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 1;
  }
}
