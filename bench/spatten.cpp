// Benchmark: SpAtten's runtime cascade (models/methods/spatten.h) against a
// static choice of heads at the same budget, on a dense checkpoint, neither
// retrained. For each budget (a fraction of all heads, as `headcount compare`
// takes them):
//   loss   the mean next-token loss over the first --segments segments of
//          the validation split, read as --batch streams with memory
//          carried, of the dense model, the static model (the --static
//          method's K best heads, compacted, no output scaling, as SpAtten
//          has none) and SpAtten (each stream choosing its own heads);
//   speed  evaluation passes at batch 1 (SpAtten's setting: each sequence
//          its own heads) over consecutive validation segments, memory
//          carried, the three models in turns (dense, static, spatten,
//          dense, ...): each round gives the paired ratios t_dense/t_static,
//          t_dense/t_spatten and t_static/t_spatten, reported as medians with
//          a distribution-free 95% interval (app/bench_stats.h), beside the
//          FLOP-ideal ratios from the profiler's analytic op counts.
// The two models run the same number of heads in all (K); SpAtten spends
// them as cascade_schedule does (every head in the first layer), the static
// method wherever its scores put them.
//
// usage: bench_spatten --from CKPT --budgets F[,F...] [--static METHOD]
//                      [--segments N] [--batch B] [--reps R] [--json]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>

#include "app/bench_stats.h"
#include "app/run.h"
#include "data/batcher.h"
#include "engine/profiler.h"
#include "models/compaction.h"
#include "models/methods/spatten.h"
#include "models/pruning_method.h"

using namespace hc;

namespace {

const char* kUsage =
    "usage: bench_spatten --from CKPT --budgets F[,F...] [--static METHOD] [--segments N] [--batch B]\n"
    "                     [--reps R] [--json]\n"
    "SpAtten's runtime cascade against a static choice of heads (a scored method: magnitude by\n"
    "default, or taylor, random) at each budget F (a fraction of all heads, at least one layer's\n"
    "worth), neither retrained: validation loss over the first --segments segments (default 40)\n"
    "of --batch streams (default 8), and --reps (default 100) evaluation passes of each model at\n"
    "batch 1, dense, static and spatten in turns: median paired time ratios with 95% intervals.\n";

struct Options {
  std::string from, static_method = "magnitude";
  std::vector<double> budgets;
  int64_t segments = 40, batch = 8, reps = 100;
  bool json = false;
};

std::vector<double> fractions(const std::string& list) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    out.push_back(std::stod(list.substr(start, comma - start)));
    start = comma + 1;
  }
  return out;
}

// argv -> options; throws std::invalid_argument naming what is wrong.
Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      check(i + 1 < argc, a + " needs a value");
      return argv[++i];
    };
    if (a == "--from") o.from = value();
    else if (a == "--budgets") o.budgets = fractions(value());
    else if (a == "--static") o.static_method = value();
    else if (a == "--segments") o.segments = std::stoll(value());
    else if (a == "--batch") o.batch = std::stoll(value());
    else if (a == "--reps") o.reps = std::stoll(value());
    else if (a == "--json") o.json = true;
    else check(false, "unknown argument " + a);
  }
  check(!o.from.empty(), "--from CKPT is required");
  check(!o.budgets.empty(), "spatten needs a budget: --budgets F[,F...], fractions of the model's heads");
  for (const double f : o.budgets) check(f > 0, "--budgets: a fraction must be positive");
  check(o.segments > 0 && o.batch > 0 && o.reps >= 1, "--segments, --batch and --reps must be positive");
  check(find_method(o.static_method).score != nullptr, "--static " + o.static_method + " is not a scored method");
  return o;
}

// The static model: the dense one compacted to the K best heads by `method`'s
// scores (taylor's probe batches come from the training split).
std::unique_ptr<AllAttLM> static_model(const AllAttLM& dense, const RunData& data, const std::string& method,
                                       int64_t K) {
  AllAttLM gated(dense.config(), 0, DType::F32, dense.pos.value().device());
  const std::vector<Variable> from = dense.parameters(), to = gated.parameters();
  for (size_t i = 0; i < from.size(); ++i) to[i].value().copy_from(from[i].value());
  gated.add_gates(0.0);
  Batcher probe(data.train, 8, dense.config().seg_len);
  Memory mem = gated.initial_memory(8);
  RngStream rng{0, 0};
  const ScoreInputs inputs{gated, 0, 8, [&](const std::vector<Variable>& gates) {
                             const Batcher::Batch b = probe.next();
                             return gated.loss(b.inputs, b.targets, mem, false, rng, gates);
                           }};
  const HeadMask keep = top_heads(find_method(method).score(inputs), K);
  for (size_t l = 0; l < keep.keep.size(); ++l) {
    std::vector<double> logits;
    for (const bool k : keep.keep[l]) logits.push_back(k ? 1.0 : -1.0);
    gated.gate_logits()[l].value().copy_from(Tensor::from_vector({int64_t(logits.size())}, logits, DType::F32));
  }
  return compact(gated, false);
}

// One model's evaluation at a time: dense and static through AllAttLM, spatten through its own path.
using Pass = std::function<Variable(const Tensor& x, const Tensor& y, Memory& mem)>;

Pass plain(const AllAttLM& model) {
  return [&model](const Tensor& x, const Tensor& y, Memory& mem) {
    RngStream rng{0, 0};
    return model.loss(x, y, mem, false, rng);
  };
}

// Mean validation loss of the three passes over the same segments (B streams).
std::vector<double> losses(const std::vector<Pass>& passes, const AllAttLM& dense, const RunData& data,
                           const Options& o) {
  Batcher batches(data.valid, o.batch, dense.config().seg_len);
  std::vector<Memory> mem(passes.size(), dense.initial_memory(o.batch));
  std::vector<double> sum(passes.size(), 0.0);
  NoGrad no_grad;
  for (int64_t s = 0; s < o.segments; ++s) {
    const Batcher::Batch b = batches.next();
    for (size_t m = 0; m < passes.size(); ++m) sum[m] += passes[m](b.inputs, b.targets, mem[m]).value().item();
  }
  for (double& v : sum) v /= double(o.segments);
  return sum;
}

// Batch-1 passes of the three models in turns over consecutive validation
// segments: per model the ms of each pass and the FLOPs of its last one.
struct Timing {
  std::vector<std::vector<double>> ms;
  std::vector<double> flops;
};

Timing time_in_turns(const std::vector<Pass>& passes, const AllAttLM& dense, const RunData& data, const Options& o) {
  Batcher batches(data.valid, 1, dense.config().seg_len);
  std::vector<Memory> mem(passes.size(), dense.initial_memory(1));
  Timing t{std::vector<std::vector<double>>(passes.size()), std::vector<double>(passes.size(), 0.0)};
  NoGrad no_grad;
  for (int64_t r = -3; r < o.reps + 1; ++r) {  // 3 rounds of warm-up, then the timed ones, then one profiled
    const Batcher::Batch b = batches.next();
    for (size_t m = 0; m < passes.size(); ++m) {
      if (r == o.reps) {
        profiler::clear();
        profiler::enable(true);
      }
      const auto t0 = std::chrono::steady_clock::now();
      passes[m](b.inputs, b.targets, mem[m]);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r >= 0 && r < o.reps) t.ms[m].push_back(ms);
      if (r == o.reps) {
        profiler::enable(false);
        for (const profiler::Event& e : profiler::events()) t.flops[m] += e.cost.flops;
        profiler::clear();
      }
    }
  }
  return t;
}

// The ratio of paired times a/b, median and interval, with the FLOP-ideal one.
nlohmann::json paired(const Timing& t, size_t a, size_t b) {
  std::vector<double> ratios;
  for (size_t i = 0; i < t.ms[a].size(); ++i) ratios.push_back(t.ms[a][i] / t.ms[b][i]);
  const MedianInterval s = median_interval(ratios);
  return {{"median", s.median}, {"lo", s.lo}, {"hi", s.hi}, {"pairs", s.n}, {"ideal", t.flops[a] / t.flops[b]}};
}

nlohmann::json bench_budget(const AllAttLM& dense, const RunData& data, const Options& o, double fraction) {
  PruneConfig budget;
  budget.target_fraction = fraction;
  const int64_t K = budget_heads(dense.config(), budget);
  Spatten spatten(dense, K);
  const std::unique_ptr<AllAttLM> fixed = static_model(dense, data, o.static_method, K);
  const std::vector<Pass> passes = {plain(dense), plain(*fixed), [&spatten](const Tensor& x, const Tensor& y, Memory& mem) {
                                      return spatten.loss(x, y, mem);
                                    }};
  const std::vector<double> loss = losses(passes, dense, data, o);
  const Timing t = time_in_turns(passes, dense, data, o);
  return {{"fraction", fraction},
          {"heads", K},
          {"static_heads_per_layer", fixed->config().heads_per_layer},
          {"spatten_heads_per_layer", spatten.schedule()},
          {"loss", {{"dense", loss[0]}, {"static", loss[1]}, {"spatten", loss[2]}}},
          {"dense_over_static", paired(t, 0, 1)},
          {"dense_over_spatten", paired(t, 0, 2)},
          {"static_over_spatten", paired(t, 1, 2)}};
}

void print_row(const nlohmann::json& r, const std::string& static_method) {
  auto ratio = [](const nlohmann::json& s) {
    char text[64];
    std::snprintf(text, sizeof text, "%.2fx [%.2f, %.2f] (ideal %.2f)", s["median"].get<double>(),
                  s["lo"].get<double>(), s["hi"].get<double>(), s["ideal"].get<double>());
    return std::string(text);
  };
  std::printf("budget %.2f: %lld heads; static (%s) per layer %s, spatten %s\n", r["fraction"].get<double>(),
              static_cast<long long>(r["heads"].get<int64_t>()), static_method.c_str(),
              r["static_heads_per_layer"].dump().c_str(), r["spatten_heads_per_layer"].dump().c_str());
  std::printf("  valid loss (nats): dense %.4f, static %.4f, spatten %.4f\n", r["loss"]["dense"].get<double>(),
              r["loss"]["static"].get<double>(), r["loss"]["spatten"].get<double>());
  std::printf("  time ratios, median of pairs [95%% interval]: dense/static %s\n", ratio(r["dense_over_static"]).c_str());
  std::printf("                                             dense/spatten %s\n", ratio(r["dense_over_spatten"]).c_str());
  std::printf("                                           static/spatten %s\n", ratio(r["static_over_spatten"]).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) return std::fputs(kUsage, stdout), 0;
  try {
    const Options o = parse(argc, argv);
    LoadedModel m = load_model(o.from, Device::CPU, {});
    check(m.model->gate_logits().empty(), "bench_spatten: " + o.from + " is a pruning checkpoint; give a dense one");
    const RunData data = load_data(m.checkpoint.config, &m.tokenizer);
    nlohmann::json rows = nlohmann::json::array();
    for (const double f : o.budgets) {
      rows.push_back(bench_budget(*m.model, data, o, f));
      if (!o.json) print_row(rows.back(), o.static_method);
    }
    if (o.json) std::printf("%s\n", rows.dump(1).c_str());
    return 0;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "bench_spatten: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_spatten: %s\n", e.what());
    return 1;
  }
}
