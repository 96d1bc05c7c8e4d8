// Benchmark: does pruning buy speed? Evaluation forward passes (memory
// carried, T = M as configured) of a dense model and of compacted models that
// keep a fraction of the heads, at batch 1, 4 and 16: ms per segment, tokens/s,
// the measured speedup, and the ideal one (dense FLOPs / pruned FLOPs, from
// the ops' analytic counts).
//
// usage: bench_infer CONFIG.json [--vocab V] [--keep F,F,...] [--json]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/config.h"
#include "engine/profiler.h"
#include "models/pruning.h"

using namespace hc;

namespace {

struct Timing {
  double ms, flops;
};

Timing time_forward(const AllAttLM& model, int64_t B) {
  NoGrad no_grad;
  RngStream rng{0, 0};
  Memory mem = model.initial_memory(B);
  const int64_t T = model.config().seg_len, V = model.config().vocab;
  std::vector<int64_t> ids(B * T);
  for (int64_t i = 0; i < B * T; ++i) ids[i] = (i * 7919) % V;
  const Tensor x = Tensor::from_ids({B, T}, ids);
  for (int i = 0; i < 3; ++i) model.logits(x, mem, false, rng);  // warm-up, memory filled
  profiler::clear();
  profiler::enable(true);
  model.logits(x, mem, false, rng);
  profiler::enable(false);
  double flops = 0;
  for (const auto& e : profiler::events()) flops += e.cost.flops;
  std::vector<double> ms;
  for (int i = 0; i < 15; ++i) {
    const auto a = std::chrono::steady_clock::now();
    model.logits(x, mem, false, rng);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], flops};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_infer CONFIG.json [--vocab V] [--keep F,F,...] [--json]\n");
    return 2;
  }
  int64_t vocab = 86;
  std::vector<double> keep{0.75, 0.57, 0.4};
  bool as_json = false;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--json")) as_json = true;
    else if (!std::strcmp(argv[i], "--keep") && i + 1 < argc) {
      keep.clear();
      std::stringstream s(argv[++i]);
      for (std::string f; std::getline(s, f, ',');) keep.push_back(std::stod(f));
    }
  }
  const RunConfig cfg = load_config(argv[1], {});
  AllAttConfig mc = cfg.model;
  mc.vocab = vocab;
  AllAttLM dense(mc, 1);
  dense.add_gates(1.0);  // all open
  int64_t total = 0;
  for (const Variable& g : dense.gate_logits()) total += g.numel();
  nlohmann::json rows = nlohmann::json::array();
  if (!as_json)
    std::printf("%-6s %5s %7s %10s %10s %9s %9s %9s\n", "keep", "heads", "batch", "ms/seg", "tok/s", "speedup", "ideal",
                "achieved");
  for (double fraction : keep) {
    // Close the same share of heads in every layer (head order within a
    // layer does not change the cost).
    for (const Variable& g : dense.gate_logits()) {
      const int64_t H = g.numel(), open = std::llround(fraction * double(H));
      std::vector<double> la(H);
      for (int64_t h = 0; h < H; ++h) la[h] = h < open ? 1.0 : -1.0;
      g.value().copy_from(Tensor::from_vector({H}, la));
    }
    const std::unique_ptr<AllAttLM> pruned = compact(dense, true);
    int64_t heads = 0;
    for (int64_t h : pruned->config().heads_per_layer) heads += h;
    AllAttLM plain(mc, 1);  // the dense model without gates, as eval runs it
    for (int64_t B : {1, 4, 16}) {
      const Timing d = time_forward(plain, B), p = time_forward(*pruned, B);
      const double speedup = d.ms / p.ms, ideal = d.flops / p.flops;
      rows.push_back({{"keep", fraction}, {"heads", heads}, {"total_heads", total}, {"batch", B},
                      {"dense_ms", d.ms}, {"pruned_ms", p.ms}, {"speedup", speedup}, {"ideal", ideal},
                      {"tok_s", B * mc.seg_len / (p.ms * 1e-3)}});
      if (!as_json)
        std::printf("%-6.2f %5lld %7lld %10.2f %10.0f %8.2fx %8.2fx %8.0f%%\n", fraction, static_cast<long long>(heads),
                    static_cast<long long>(B), p.ms, B * mc.seg_len / (p.ms * 1e-3), speedup, ideal,
                    100 * speedup / ideal);
    }
  }
  if (as_json) std::printf("%s\n", rows.dump().c_str());
  return 0;
}
