// `headcount bench`: does pruning buy speed? Times the evaluation forward
// pass (one segment of B streams x T tokens, memory of M carried, as `eval`
// runs it) of a dense model and of its pruned versions, at several batch
// sizes: ms per segment, tokens/s, the measured speedup, and the ideal one,
// dense FLOPs / pruned FLOPs from the ops' analytic counts (the embedding,
// output layer and LayerNorms do not shrink with heads, so the ideal is
// below the ratio of heads).
//
// The speedup is paired: after warm-up, the dense and the pruned model run
// in turns, pass by pass (dense, pruned, dense, pruned, ...), each pair gives
// one ratio t_dense / t_pruned, and the speedup is the median of those
// ratios with a distribution-free 95% interval (app/bench_stats.h). A
// machine that slows down for a while slows both sides of the pairs it
// touches, so the ratio survives what separate medians would not.
//
// A speedup whose whole interval lies above the FLOP-ideal is possible: the
// work that heads remove (attention's small products, softmax, copies) can
// run at a lower FLOP rate than the work that stays (the projections and the
// output layer), so it is a larger share of the time than of the FLOPs. Such
// a row is flagged, and the op profiler's per-part times and FLOPs (regions
// of engine/profiler.h) say which parts explain it.
//
// The models: a checkpoint (--from) against a compacted one (--pruned), or
// against its own compaction when it is a gated checkpoint; or, for a config
// (--config), fresh weights (timing does not depend on them) against copies
// that keep each --keep fraction of the heads in every layer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "app/bench_stats.h"
#include "app/commands.h"
#include "app/run.h"
#include "engine/backend.h"
#include "engine/profiler.h"
#include "models/compaction.h"

namespace hc {

namespace {

struct Model {
  std::string name;
  const AllAttLM* model;
};

// One model's evaluation forward at batch B, with its own tokens, memory
// and random stream, so that two models can be timed in turns.
class Runner {
 public:
  Runner(const AllAttLM& model, int64_t B, Device device)
      : model_(model), device_(device), mem_(model.initial_memory(B)) {
    const int64_t T = model.config().seg_len, V = model.config().vocab;
    std::vector<int64_t> ids(static_cast<size_t>(B * T));
    for (int64_t i = 0; i < B * T; ++i) ids[static_cast<size_t>(i)] = (i * 7919) % V;  // any tokens will do
    x_ = Tensor::from_ids({B, T}, ids).to(device);
  }
  // One pass, untimed (warm-up, or under the profiler).
  void pass() {
    NoGrad no_grad;
    model_.logits(x_, mem_, false, rng_);
  }
  // FLOPs of one pass, from the ops' analytic counts (the profiler's): what
  // timed_pass times, no more (a gated model's gates are not applied).
  double flops() {
    profiler::clear();
    profiler::enable(true);
    pass();
    profiler::enable(false);
    double total = 0;
    for (const profiler::Event& e : profiler::events()) total += e.cost.flops;
    profiler::clear();
    return total;
  }
  // Wall time of one pass in ms. The GPU is synchronised around it, so the
  // time is the kernels' and not the launch queue's.
  double timed_pass() {
    Backend& be = backend(device_);
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    be.synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  const AllAttLM& model_;
  Device device_;
  Memory mem_;
  RngStream rng_{0, 0};
  Tensor x_;
};

double median(std::vector<double> v) { return median_interval(std::move(v)).median; }

int64_t heads_of(const AllAttLM& model) {
  int64_t heads = 0;
  for (const AllAttLayer& l : model.layers()) heads += l.shape().H;
  return heads;
}

// A copy of `dense` (with gates added) that keeps the first round(f H) heads of every layer.
std::unique_ptr<AllAttLM> keep_fraction(AllAttLM& gated, double fraction) {
  for (const Variable& g : gated.gate_logits()) {
    const int64_t H = g.numel(), open = std::llround(fraction * double(H));
    std::vector<double> logits(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) logits[static_cast<size_t>(h)] = h < open ? 1.0 : -1.0;
    g.value().copy_from(Tensor::from_vector({H}, logits, g.value().dtype()));
  }
  return compact(gated, false);
}

// The part of the model a profiled op belongs to: its region without the
// layer number ("layer2/content" -> "content"), so that parts add up over
// layers; ops of a layer outside its named parts (the residual add) are
// "layer, other".
std::string part_of(const std::string& region) {
  if (region.empty()) return "other";
  if (region.rfind("layer", 0) == 0) {
    const size_t slash = region.find('/');
    return slash == std::string::npos ? "layer, other" : region.substr(slash + 1);
  }
  return region.substr(0, region.find('/'));
}

struct PartCost {
  double ms = 0, flops = 0;
};

// Per part: the time (each part at its fastest of `passes` profiled passes,
// dense and pruned in turns) and the FLOPs of one pass, for both models. On
// a GPU the op times come from the device's own clock (events in its queue).
std::map<std::string, std::pair<PartCost, PartCost>> profile_parts(Runner& dense, Runner& pruned, int passes,
                                                                   Device device) {
  profiler::use_device_clock(backend(device).device_clock());
  std::map<std::string, std::pair<PartCost, PartCost>> parts;
  auto record = [&](Runner& r, bool is_dense, bool first) {
    profiler::clear();
    profiler::enable(true);
    r.pass();
    profiler::enable(false);
    std::map<std::string, PartCost> pass;
    for (const profiler::Event& e : profiler::events()) {
      PartCost& p = pass[part_of(e.region)];
      p.ms += double(e.end_ns - e.start_ns) * 1e-6;
      p.flops += e.cost.flops;
    }
    profiler::clear();
    for (const auto& [name, cost] : pass) {
      PartCost& slot = is_dense ? parts[name].first : parts[name].second;
      slot.flops = cost.flops;
      slot.ms = first ? cost.ms : std::min(slot.ms, cost.ms);
    }
  };
  for (int i = 0; i < passes; ++i) {
    record(dense, true, i == 0);
    record(pruned, false, i == 0);
  }
  profiler::use_device_clock(nullptr);
  return parts;
}

// The profiler's account of a speedup: FLOPs and time per part, and the
// FLOP rates of the parts that shrink with heads and of those that do not.
nlohmann::json explain(const std::map<std::string, std::pair<PartCost, PartCost>>& parts) {
  double fd = 0, fp = 0, td = 0, tp = 0, shrink_f = 0, shrink_t = 0, fixed_f = 0, fixed_t = 0;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [name, c] : parts) {
    const auto& [d, p] = c;
    fd += d.flops, fp += p.flops, td += d.ms, tp += p.ms;
    const bool shrinks = p.flops < d.flops * (1 - 1e-9);
    (shrinks ? shrink_f : fixed_f) += d.flops;
    (shrinks ? shrink_t : fixed_t) += d.ms;
    rows.push_back({{"part", name}, {"dense_ms", d.ms}, {"pruned_ms", p.ms}, {"dense_flops", d.flops},
                    {"pruned_flops", p.flops}, {"shrinks", shrinks}});
  }
  std::sort(rows.begin(), rows.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["dense_ms"].get<double>() - a["pruned_ms"].get<double>() >
           b["dense_ms"].get<double>() - b["pruned_ms"].get<double>();
  });
  auto rate = [](double flops, double ms) { return ms > 0 ? flops / (ms * 1e-3) * 1e-9 : 0.0; };
  return {{"flops_removed", fd > 0 ? (fd - fp) / fd : 0.0},
          {"time_removed", td > 0 ? (td - tp) / td : 0.0},
          {"profiled_speedup", tp > 0 ? td / tp : 0.0},
          {"shrinking_parts_gflops", rate(shrink_f, shrink_t)},
          {"fixed_parts_gflops", rate(fixed_f, fixed_t)},
          {"parts", rows}};
}

void print_explanation(const nlohmann::json& e) {
  std::printf("           the profiler (each part at its fastest of the profiled passes): heads remove %.0f%% of the "
              "FLOPs but %.0f%% of the time;\n"
              "           the parts that shrink with heads run at %.1f GFLOP/s in the dense model, the parts that do "
              "not at %.1f GFLOP/s\n",
              100 * e["flops_removed"].get<double>(), 100 * e["time_removed"].get<double>(),
              e["shrinking_parts_gflops"].get<double>(), e["fixed_parts_gflops"].get<double>());
  std::printf("           %-16s %10s %10s %10s %10s %10s\n", "part", "dense ms", "pruned ms", "time x", "FLOPs x",
              "GFLOP/s");
  // "a / b" as text: "-" when the part has none of it, "gone" when pruning removed it all.
  auto ratio = [](double a, double b) {
    char text[32] = "-";
    if (b > 0) std::snprintf(text, sizeof text, "%.2fx", a / b);
    else if (a > 0) std::snprintf(text, sizeof text, "gone");
    return std::string(text);
  };
  for (const nlohmann::json& p : e["parts"]) {
    const double dm = p["dense_ms"], pm = p["pruned_ms"], df = p["dense_flops"], pf = p["pruned_flops"];
    std::printf("           %-16s %10.3f %10.3f %10s %10s %10.1f\n", p["part"].get<std::string>().c_str(), dm, pm,
                ratio(dm, pm).c_str(), ratio(df, pf).c_str(), dm > 0 ? df / (dm * 1e-3) * 1e-9 : 0.0);
  }
}

}  // namespace

namespace {

// The models a bench times, the dense one first, and what keeps them alive.
struct Lineup {
  std::vector<std::unique_ptr<AllAttLM>> owned;
  std::vector<LoadedModel> loaded;
  std::vector<Model> models;
};

// A gated checkpoint is timed as its compaction (gates ignored in the dense run).
const AllAttLM* compacted(Lineup& l, const LoadedModel& m) {
  l.owned.push_back(compact(*m.model, m.checkpoint.config.prune.output_scaling));
  return l.owned.back().get();
}

// --from CKPT [--pruned CKPT2]: the checkpoint against the other one, or a
// gated checkpoint against its own compaction.
void lineup_from_checkpoints(Lineup& l, const CommandLine& cl) {
  check(!cl.has("keep"), "--keep goes with --config; with --from, give --pruned CKPT");
  l.loaded.push_back(load_model(cl.from, cl.device, cl.sets));
  const AllAttLM& first = *l.loaded[0].model;
  const bool gated = !first.gate_logits().empty();
  if (!cl.has("pruned")) {
    l.models.push_back({gated ? "dense" : "model", &first});
    if (gated) l.models.push_back({"pruned", compacted(l, l.loaded[0])});
    return;
  }
  l.loaded.push_back(load_model(cl.get("pruned", ""), cl.device, cl.sets));
  const AllAttConfig &a = first.config(), &b = l.loaded[1].model->config();
  check(a.vocab == b.vocab && a.layers == b.layers && a.d_model == b.d_model && a.seg_len == b.seg_len &&
            a.mem_len == b.mem_len,
        "--pruned " + cl.get("pruned", "") + " is not a pruned version of " + cl.from +
            " (vocabulary, layers, width or segment lengths differ)");
  l.models.push_back({"dense", &first});
  const AllAttLM& second = *l.loaded[1].model;
  l.models.push_back({"pruned", second.gate_logits().empty() ? &second : compacted(l, l.loaded[1])});
}

// --config FILE: the model's config (its vocabulary from the corpus) and the seed of its fresh weights.
std::pair<AllAttConfig, uint64_t> fresh_model(const CommandLine& cl) {
  const RunConfig cfg = load_config(cl.config, cl.sets);
  const RunData data = load_data(cfg);
  return {model_config(cfg, data.tokenizer.size()), uint64_t(cfg.seed)};
}

// --config FILE: fresh weights against copies keeping each --keep fraction.
void lineup_from_config(Lineup& l, const CommandLine& cl) {
  const auto [mc, seed] = fresh_model(cl);
  l.owned.push_back(std::make_unique<AllAttLM>(mc, seed, DType::F32, cl.device));
  l.models.push_back({"dense", l.owned[0].get()});
  AllAttLM gated(mc, seed, DType::F32, cl.device);
  gated.add_gates(1.0);
  for (const std::string& f : cl.items("keep")) {  // fractions in (0, 1], checked by the parser
    l.owned.push_back(keep_fraction(gated, std::stod(f)));
    l.models.push_back({"keep " + f, l.owned.back().get()});
  }
}

// --config FILE --unfused: the op-by-op attention path (the reference,
// first) against the fused op, the same weights: the speedup is what fusion
// buys. (The fused op computes only the scores a row can see, so it counts
// fewer FLOPs than the op-by-op path, which computes all S+N and masks.)
void lineup_attention_paths(Lineup& l, const CommandLine& cl) {
  check(!cl.has("keep"), "--keep and --unfused are two different lineups: give one");
  auto [mc, seed] = fresh_model(cl);
  for (const bool fused : {false, true}) {
    mc.fused_attention = fused;
    l.owned.push_back(std::make_unique<AllAttLM>(mc, seed, DType::F32, cl.device));
    l.models.push_back({fused ? "fused" : "unfused", l.owned.back().get()});
  }
}

// One row of the table (and of --json), printed unless `quiet`.
nlohmann::json table_row(const Model& m, int64_t B, double ms, double flops, const MedianInterval& s, double ideal,
                         bool quiet) {
  const double tok_s = double(B * m.model->config().seg_len) / (ms * 1e-3);
  nlohmann::json r = {{"model", m.name},     {"heads", heads_of(*m.model)},  {"batch", B},
                      {"ms", ms},            {"tok_s", tok_s},               {"flops", flops},
                      {"speedup", s.median}, {"speedup_lo", s.lo},           {"speedup_hi", s.hi},
                      {"interval_coverage", s.coverage}, {"pairs", s.n},     {"ideal", ideal},
                      {"above_ideal", s.lo > ideal}};
  if (!quiet)
    std::printf("%-10s %6lld %6lld %10.3f %10.0f %8.2fx   [%5.2fx, %5.2fx] %7.2fx %8.0f%%\n", m.name.c_str(),
                static_cast<long long>(r["heads"].get<int64_t>()), static_cast<long long>(B), ms, tok_s, s.median,
                s.lo, s.hi, ideal, 100 * s.median / ideal);
  return r;
}

// What one pruned model's pairs gave, kept until the dense row (which pools
// the dense passes of every pairing) is printed first.
struct Paired {
  double ms, flops, ideal;
  MedianInterval speedup;
  nlohmann::json explanation;  // the profiler's per-part account
};

// Dense and one pruned model at batch B, in turns: `reps` pairs after warm-up.
Paired time_pair(Runner& dense, double dense_flops, const Model& m, int64_t B, int reps, Device device,
                 std::vector<double>& dense_ms) {
  Runner pruned(*m.model, B, device);
  for (int i = 0; i < 3; ++i) dense.pass(), pruned.pass();  // warm-up: allocations, memory filled
  std::vector<double> ratios, pruned_ms;
  for (int i = 0; i < reps; ++i) {
    const double a = dense.timed_pass(), b = pruned.timed_pass();
    dense_ms.push_back(a);
    pruned_ms.push_back(b);
    ratios.push_back(a / b);
  }
  const double flops = pruned.flops();
  return {median(pruned_ms), flops, dense_flops / flops, median_interval(ratios),
          explain(profile_parts(dense, pruned, 5, device))};
}

// Every model of the lineup at batch B: the rows, dense first.
void bench_batch(const std::vector<Model>& models, int64_t B, int reps, Device device, bool quiet,
                 nlohmann::json& rows) {
  Runner dense(*models[0].model, B, device);
  const double dense_flops = dense.flops();
  std::vector<double> dense_ms;  // every dense pass, over all pairings
  std::vector<Paired> paired;
  for (size_t k = 1; k < models.size(); ++k)
    paired.push_back(time_pair(dense, dense_flops, models[k], B, reps, device, dense_ms));
  if (models.size() == 1) {  // a model alone: its own passes
    for (int i = 0; i < 3; ++i) dense.pass();
    for (int i = 0; i < reps; ++i) dense_ms.push_back(dense.timed_pass());
  }
  MedianInterval one;  // dense against itself: a speedup of exactly 1
  one.median = one.lo = one.hi = one.coverage = 1;
  one.n = dense_ms.size();
  rows.push_back(table_row(models[0], B, median(dense_ms), dense_flops, one, 1.0, quiet));
  for (size_t k = 1; k < models.size(); ++k) {
    const Paired& p = paired[k - 1];
    nlohmann::json r = table_row(models[k], B, p.ms, p.flops, p.speedup, p.ideal, quiet);
    r["explain"] = p.explanation;
    // Above the ideal says something only when heads were removed.
    if (!quiet && r["above_ideal"].get<bool>() && heads_of(*models[k].model) != heads_of(*models[0].model)) {
      std::printf("  note: above the FLOP-ideal speedup (the whole interval is above %.2fx): heads remove work "
                  "that runs below the model's average FLOP rate\n",
                  p.ideal);
      print_explanation(p.explanation);
    }
    rows.push_back(r);
  }
}

// --cost-model: the cost model of the inference forward at each batch of
// `batches` it serves (its own batch), keyed by the dense model's shape;
// refused with the reason when it serves none.
std::map<int64_t, CostModel> cost_models(const CommandLine& cl, const AllAttConfig& dense,
                                         const std::vector<int64_t>& batches) {
  std::map<int64_t, CostModel> out;
  if (!cl.has("cost-model")) return out;
  std::string why;
  for (const int64_t B : batches) {
    try {
      out.emplace(B, read_cost_model(cl.get("cost-model", ""), run_cost_key(dense, cl.device, B, "infer")));
    } catch (const std::invalid_argument& e) {
      why = e.what();
    }
  }
  check(!out.empty(), why + " (bench times the batches of --batches)");
  return out;
}

// Heads per layer of a timed model (a gated one's gates are ignored: all heads).
std::vector<int64_t> heads_per_layer(const AllAttLM& model) {
  std::vector<int64_t> heads;
  for (const AllAttLayer& l : model.layers()) heads.push_back(l.shape().H);
  return heads;
}

// Each row at a batch with a cost model gains predicted_ms and
// predicted_error (predicted / measured - 1). rows hold, batch by batch,
// one row per model in lineup order.
void add_predictions(const std::vector<Model>& models, const std::map<int64_t, CostModel>& costs,
                     nlohmann::json& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    nlohmann::json& r = rows[i];
    const auto found = costs.find(r["batch"].get<int64_t>());
    if (found == costs.end()) continue;
    const double predicted = found->second.predict(heads_per_layer(*models[i % models.size()].model)) * 1e3;
    r["predicted_ms"] = predicted;
    r["predicted_error"] = predicted / r["ms"].get<double>() - 1;
  }
}

// The rows with a prediction, predicted and measured ms side by side.
void print_predictions(const nlohmann::json& rows) {
  std::printf("\ncost model (inference forward): predicted against measured ms/seg\n%-10s %6s %6s %12s %12s %8s\n",
              "model", "heads", "batch", "predicted", "measured", "error");
  for (const nlohmann::json& r : rows)
    if (r.contains("predicted_ms"))
      std::printf("%-10s %6lld %6lld %12.3f %12.3f %+7.1f%%\n", r["model"].get<std::string>().c_str(),
                  static_cast<long long>(r["heads"].get<int64_t>()), static_cast<long long>(r["batch"].get<int64_t>()),
                  r["predicted_ms"].get<double>(), r["ms"].get<double>(), 100 * r["predicted_error"].get<double>());
}

}  // namespace

int bench_command(const CommandLine& cl) {
  check(cl.from.empty() != cl.config.empty(), "headcount bench: give --from CKPT or --config FILE (one of them)");
  // Ranges checked by the parser (app/commands.cpp).
  const std::vector<int64_t> batches = cl.integers("batches");
  const int reps = static_cast<int>(cl.integer("reps"));

  Lineup lineup;
  check(!cl.has("unfused") || !cl.config.empty(), "--unfused goes with --config");
  if (!cl.from.empty()) lineup_from_checkpoints(lineup, cl);
  else if (cl.has("unfused")) lineup_attention_paths(lineup, cl);
  else lineup_from_config(lineup, cl);
  const AllAttConfig& mc = lineup.models[0].model->config();
  const std::map<int64_t, CostModel> costs = cost_models(cl, mc, batches);
  const bool as_json = cl.has("json");
  if (!as_json) {
    std::printf("evaluation forward, T=%lld tokens with M=%lld of memory, %s; %d passes of each model, the first "
                "and each other in turns;\nms/seg: median pass; speedup: median of the paired ratios, [95%% interval]\n",
                static_cast<long long>(mc.seg_len), static_cast<long long>(mc.mem_len),
                cl.device == Device::CUDA ? "cuda" : "cpu", reps);
    std::printf("%-10s %6s %6s %10s %10s %9s %19s %8s %9s\n", "model", "heads", "batch", "ms/seg", "tok/s", "speedup",
                "95% interval", "ideal", "achieved");
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const int64_t B : batches) bench_batch(lineup.models, B, reps, cl.device, as_json, rows);
  add_predictions(lineup.models, costs, rows);
  if (!as_json && !costs.empty()) print_predictions(rows);
  if (as_json) std::printf("%s\n", rows.dump(1).c_str());
  return 0;
}

}  // namespace hc
