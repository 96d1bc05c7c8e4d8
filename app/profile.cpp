// `headcount profile`: what every head costs, on paper and on the clock.
//
//   1. Analytic: each layer's parts (models/head_cost.h), forward and
//      backward FLOPs and bytes, per head and for the head-independent parts.
//   2. Measured: training steps (forward + backward) and inference forwards
//      run with the op profiler on; every op's wall time is summed by the
//      region it ran in (layer{i}/{part}, embedding, output_layer, ...;
//      backward ops by the region of the forward op they differentiate).
//   3. Marginal: each layer swept from 0 to H heads, the others fixed; a
//      straight line time = a + b * heads fitted per layer, for training and
//      for inference: b is what one more head of that layer costs.
//   4. Prediction: for a head mask (a gated or compacted checkpoint, or
//      --mask), the time the fits predict next to the time measured on a
//      model with exactly those heads.
// Writes report.md, costs.csv, costs.json, trace.json (one training step,
// for chrome://tracing or Perfetto) and two SVG charts into --out DIR.
#include "app/profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "app/commands.h"
#include "app/progress.h"
#include "app/run.h"
#include "app/svg_plot.h"
#include "engine/profiler.h"
#include "engine/safetensors.h"
#include "models/head_cost.h"
#include "models/pruning.h"

namespace hc {

LinearFit fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  check(x.size() == y.size() && x.size() >= 2, "fit_line: need at least two points");
  const double n = double(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < x.size(); ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  LinearFit f;
  f.b = sxx > 0 ? sxy / sxx : 0;
  f.a = my - f.b * mx;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - (f.a + f.b * x[i]);
    f.rms_residual += r * r / n;
    f.max_rel_residual = std::max(f.max_rel_residual, std::fabs(r) / std::max(std::fabs(y[i]), 1e-30));
  }
  f.rms_residual = std::sqrt(f.rms_residual);
  return f;
}

std::vector<LayerSweep> sweep_heads(const AllAttConfig& c, const std::function<double(const AllAttConfig&)>& time_of,
                                    const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<LayerSweep> sweeps(c.layers);
  int64_t total = 0, done = 0;
  for (int64_t l = 0; l < c.layers; ++l) total += c.heads_in(l) + 1;
  for (int64_t l = 0; l < c.layers; ++l) {
    for (int64_t h = 0; h <= c.heads_in(l); ++h) {
      AllAttConfig v = c;
      v.heads_per_layer.clear();
      for (int64_t k = 0; k < c.layers; ++k) v.heads_per_layer.push_back(k == l ? h : c.heads_in(k));
      sweeps[l].heads.push_back(double(h));
      sweeps[l].seconds.push_back(time_of(v));
      if (progress) progress(++done, total);
    }
    sweeps[l].fit = fit_line(sweeps[l].heads, sweeps[l].seconds);
  }
  return sweeps;
}

namespace {

using json = nlohmann::json;

// Random token ids (B,T) and targets: timing does not depend on their values.
struct Batch {
  Tensor inputs, targets;
};
Batch random_batch(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<int64_t> a(B * T), b(B * T);
  for (auto* v : {&a, &b})
    for (int64_t& id : *v) id = static_cast<int64_t>(gen() % uint64_t(V));
  return {Tensor::from_ids({B, T}, a), Tensor::from_ids({B, T}, b)};
}

// The fastest of `reps` calls after one warm-up call: on a shared machine
// the least disturbed run is the best estimate of what the work costs. The
// device is synchronised before the clock stops: GPU work is asynchronous.
double fastest_seconds(Device device, int reps, const std::function<void()>& run) {
  run();
  backend(device).synchronize();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    backend(device).synchronize();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return *std::min_element(t.begin(), t.end());
}

// One training step's work: forward with the deterministic gates (if any),
// backward, gradients zeroed (no optimizer).
void train_step(const AllAttLM& model, const Batch& batch, Memory& mem, RngStream& rng) {
  const std::vector<Variable> gates =
      model.gate_logits().empty() ? std::vector<Variable>{} : layer_gates(model, rng, false, true);
  model.loss(batch.inputs, batch.targets, mem, true, rng, gates).backward();
  for (const Variable& p : model.parameters()) p.zero_grad();
}

struct Timers {
  double train = 0, infer = 0;  // seconds per step / per forward
};

// A training step (forward + backward, gradients zeroed) and an inference
// forward of `model` at batch B, with memory carried.
Timers time_model(const AllAttLM& model, Device device, int64_t B, int reps) {
  const Batch batch = random_batch(B, model.config().seg_len, model.config().vocab, 17);
  Memory mem = model.initial_memory(B);
  RngStream rng{1, 0};
  const bool gated = !model.gate_logits().empty();
  Timers t;
  t.train = fastest_seconds(device, reps, [&] { train_step(model, batch, mem, rng); });
  t.infer = fastest_seconds(device, reps, [&] {
    NoGrad no_grad;
    const std::vector<Variable> gates = gated ? layer_gates(model, rng, false, true) : std::vector<Variable>{};
    model.logits(batch.inputs, mem, false, rng, gates);
  });
  return t;
}

// Wall time by region and direction over the recorded events, in seconds
// per step: key "layer2/content" -> {forward, backward}.
std::map<std::string, std::pair<double, double>> time_by_region(int steps) {
  std::map<std::string, std::pair<double, double>> out;
  for (const profiler::Event& e : profiler::events()) {
    const bool backward = e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, ".backward") == 0;
    const double s = double(e.end_ns - e.start_ns) * 1e-9 / steps;
    auto& slot = out[e.region.empty() ? "other" : e.region];
    (backward ? slot.second : slot.first) += s;
  }
  return out;
}

std::vector<int64_t> parse_mask(const std::string& text, int64_t layers) {
  std::vector<int64_t> mask;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    check(end && *end == '\0' && !item.empty() && v >= 0, "--mask: expected head counts like 2,2,1,1, got '" + text + "'");
    mask.push_back(v);
  }
  check(static_cast<int64_t>(mask.size()) == layers, "--mask has " + std::to_string(mask.size()) +
                                                         " entries for a model of " + std::to_string(layers) + " layers");
  return mask;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

int profile_command(const CommandLine& cl) {
  const std::string out = cl.get("out", "");
  check(!out.empty(), "headcount profile: --out DIR is required");
  check(!cl.from.empty() || !cl.config.empty(), "headcount profile: --from CKPT or --config FILE is required");
  const int reps = static_cast<int>(cl.number("reps", 5));
  check(reps >= 1, "--reps must be >= 1");

  // The model: a checkpoint's (dense, gated or compacted), or a fresh one of a config.
  std::unique_ptr<AllAttLM> fresh;
  LoadedModel loaded;
  RunConfig cfg;
  if (!cl.from.empty()) {
    loaded = load_model(cl.from, cl.device, cl.sets);
    cfg = loaded.checkpoint.config;
  } else {
    cfg = load_config(cl.config, cl.sets);
    const RunData data = load_data(cfg);
    fresh = std::make_unique<AllAttLM>(model_config(cfg, data.tokenizer.size()), uint64_t(cfg.seed), DType::F32, cl.device);
  }
  const AllAttLM& model = fresh ? *fresh : *loaded.model;
  const AllAttConfig& mc = model.config();
  const int64_t B = static_cast<int64_t>(cl.number("batch", double(cfg.batch)));
  check(B >= 1, "--batch must be >= 1");
  std::vector<int64_t> mask;
  if (cl.has("mask")) mask = parse_mask(cl.get("mask", ""), mc.layers);
  else if (!model.gate_logits().empty())
    for (const auto& k : kept_heads(model)) mask.push_back(std::count(k.begin(), k.end(), true));
  std::filesystem::create_directories(out);

  // 1. Analytic.
  json analytic = json::array();
  for (int64_t l = 0; l < mc.layers; ++l)
    for (const PartCost& p : layer_cost(mc, l, B))
      analytic.push_back({{"layer", l}, {"part", p.part}, {"per_head", p.per_head}, {"heads", mc.heads_in(l)},
                          {"forward_flops", p.forward_flops}, {"backward_flops", p.backward_flops},
                          {"forward_bytes", p.forward_bytes}});
  for (const PartCost& p : outside_cost(mc, B))
    analytic.push_back({{"layer", -1}, {"part", p.part}, {"per_head", false}, {"heads", 0},
                        {"forward_flops", p.forward_flops}, {"backward_flops", p.backward_flops},
                        {"forward_bytes", p.forward_bytes}});

  // 2. Measured, by region: `reps` training steps with the profiler on.
  {
    const Batch batch = random_batch(B, mc.seg_len, mc.vocab, 17);
    Memory mem = model.initial_memory(B);
    RngStream rng{1, 0};
    auto step = [&] { train_step(model, batch, mem, rng); };
    step();  // warm-up, unrecorded
    // On a GPU, ops are timed by the device's clock (CUDA events), not by
    // the host, which only sees the launches.
    profiler::use_device_clock(backend(cl.device).device_clock());
    profiler::enable(true);
    profiler::clear();
    step();
    profiler::write_chrome_trace(out + "/trace.json");
    profiler::clear();
    for (int r = 0; r < reps; ++r) step();
    profiler::enable(false);
  }
  const auto measured = time_by_region(reps);
  profiler::use_device_clock(nullptr);
  profiler::clear();

  // 3. Marginal cost per head: per-layer sweeps, training and inference.
  // Every configuration the sweeps and the prediction need is listed first,
  // then all of them are timed in turn, in `rounds` rounds, each keeping its
  // fastest run. A shared machine's speed drifts over seconds (the 2-core
  // Xeon VM by up to 2x); timed one configuration after another, a slow
  // stretch lands on a few head counts and bends the fitted lines.
  std::map<std::string, Timers> cache;  // by heads per layer, "2,2,1,1,"
  std::vector<AllAttConfig> plan;
  auto key_of = [](const AllAttConfig& v) {
    std::string key;
    for (int64_t l = 0; l < v.layers; ++l) key += std::to_string(v.heads_in(l)) + ",";
    return key;
  };
  auto timers_of = [&](const AllAttConfig& v) -> const Timers& {
    const std::string key = key_of(v);
    auto it = cache.find(key);
    if (it == cache.end()) {
      const double never = std::numeric_limits<double>::infinity();
      it = cache.emplace(key, Timers{never, never}).first;
      plan.push_back(v);
    }
    return it->second;
  };
  AllAttConfig base = mc;
  base.heads_per_layer.clear();
  for (int64_t l = 0; l < mc.layers; ++l) base.heads_per_layer.push_back(mc.heads_in(l));
  int64_t max_heads = 0;
  for (int64_t l = 0; l < mc.layers; ++l) max_heads = std::max(max_heads, base.heads_in(l));
  // Every layer at min(h, its heads): the joint sweep's configuration h.
  auto joint_config = [&](int64_t h) {
    AllAttConfig v = base;
    for (int64_t l = 0; l < mc.layers; ++l) v.heads_per_layer[l] = std::min(h, base.heads_in(l));
    return v;
  };
  AllAttConfig masked = base;
  if (!mask.empty()) {
    for (int64_t l = 0; l < mc.layers; ++l)
      check(mask[l] <= base.heads_per_layer[l], "--mask: layer " + std::to_string(l) + " has only " +
                                                    std::to_string(base.heads_per_layer[l]) + " heads");
    masked.heads_per_layer = mask;
  }
  sweep_heads(base, [&](const AllAttConfig& v) { return timers_of(v).train; }, {});  // lists them
  for (int64_t h = 0; h <= max_heads; ++h) timers_of(joint_config(h));
  timers_of(base);
  if (!mask.empty()) timers_of(masked);
  const int rounds = std::min(reps, 3), reps_per_round = (reps + rounds - 1) / rounds;
  const int64_t configurations = static_cast<int64_t>(plan.size());
  // Redrawn on a terminal; in a log, a line per round.
  Progress bar("profile sweep", rounds * configurations, configurations);
  for (int round = 0; round < rounds; ++round)
    for (size_t i = 0; i < plan.size(); ++i) {
      const int64_t done = round * configurations + static_cast<int64_t>(i);
      // The rate counts the tokens of the timed training steps.
      bar.update(done, double(done) * reps_per_round * B * mc.seg_len,
                 "round " + std::to_string(round + 1) + "/" + std::to_string(rounds));
      const AllAttLM m(plan[i], 3, DType::F32, cl.device);
      const Timers t = time_model(m, cl.device, B, reps_per_round);
      Timers& best = cache.at(key_of(plan[i]));
      best.train = std::min(best.train, t.train);
      best.infer = std::min(best.infer, t.infer);
    }
  bar.update(rounds * configurations, double(rounds * configurations) * reps_per_round * B * mc.seg_len, "done");
  bar.finish();
  const auto train_sweep = sweep_heads(base, [&](const AllAttConfig& v) { return timers_of(v).train; }, {});
  const auto infer_sweep = sweep_heads(base, [&](const AllAttConfig& v) { return timers_of(v).infer; }, {});
  // The joint sweep: every layer at h heads together, h = 0..H, fitted
  // against the total head count. It sees what removing heads from all
  // layers at once does to the overheads, which one-layer sweeps miss.
  std::vector<double> joint_heads, joint_train, joint_infer;
  for (int64_t h = 0; h <= max_heads; ++h) {
    const AllAttConfig v = joint_config(h);
    double total = 0;
    for (int64_t l = 0; l < mc.layers; ++l) total += double(v.heads_in(l));
    joint_heads.push_back(total);
    joint_train.push_back(timers_of(v).train);
    joint_infer.push_back(timers_of(v).infer);
  }
  const LinearFit joint_train_fit = fit_line(joint_heads, joint_train), joint_infer_fit = fit_line(joint_heads, joint_infer);
  const Timers full = timers_of(base);

  // 4. Prediction for the mask, against a model with exactly those heads.
  json prediction;
  if (!mask.empty()) {
    double train = full.train, infer = full.infer;
    for (int64_t l = 0; l < mc.layers; ++l) {
      train += train_sweep[l].fit.b * double(mask[l] - base.heads_per_layer[l]);
      infer += infer_sweep[l].fit.b * double(mask[l] - base.heads_per_layer[l]);
    }
    const Timers actual = timers_of(masked);
    double kept = 0;
    for (int64_t h : mask) kept += double(h);
    prediction = {{"mask", mask},
                  {"train_predicted_s", train}, {"train_measured_s", actual.train},
                  {"infer_predicted_s", infer}, {"infer_measured_s", actual.infer},
                  {"train_predicted_joint_s", joint_train_fit.a + joint_train_fit.b * kept},
                  {"infer_predicted_joint_s", joint_infer_fit.a + joint_infer_fit.b * kept}};
  }

  // ---- outputs ----
  json costs = {{"batch", B}, {"seg_len", mc.seg_len}, {"mem_len", mc.mem_len}, {"persist", mc.persist},
                {"analytic", analytic}, {"measured", json::array()}, {"sweep", json::array()},
                {"full_train_s", full.train}, {"full_infer_s", full.infer}, {"prediction", prediction},
                {"joint_sweep", {{"total_heads", joint_heads}, {"train_s", joint_train}, {"infer_s", joint_infer},
                                 {"train_fit", {{"a", joint_train_fit.a}, {"b", joint_train_fit.b},
                                                {"max_rel_residual", joint_train_fit.max_rel_residual}}},
                                 {"infer_fit", {{"a", joint_infer_fit.a}, {"b", joint_infer_fit.b},
                                                {"max_rel_residual", joint_infer_fit.max_rel_residual}}}}}};
  for (const auto& [region, t] : measured)
    costs["measured"].push_back({{"region", region}, {"forward_s", t.first}, {"backward_s", t.second}});
  for (int64_t l = 0; l < mc.layers; ++l)
    costs["sweep"].push_back({{"layer", l}, {"heads", train_sweep[l].heads},
                              {"train_s", train_sweep[l].seconds}, {"infer_s", infer_sweep[l].seconds},
                              {"train_fit", {{"a", train_sweep[l].fit.a}, {"b", train_sweep[l].fit.b},
                                             {"max_rel_residual", train_sweep[l].fit.max_rel_residual}}},
                              {"infer_fit", {{"a", infer_sweep[l].fit.a}, {"b", infer_sweep[l].fit.b},
                                             {"max_rel_residual", infer_sweep[l].fit.max_rel_residual}}}});
  safetensors::write_file_atomically(out + "/costs.json", costs.dump(2) + "\n");

  std::ostringstream csv, md;
  csv << "layer,part,per_head,forward_gflop,backward_gflop,forward_mb,measured_forward_ms,measured_backward_ms\n";
  md << "# headcount profile\n\nModel: " << mc.layers << " layers, heads per layer";
  for (int64_t l = 0; l < mc.layers; ++l) md << " " << mc.heads_in(l);
  md << ", C=" << mc.d_model << ", D=" << mc.d_head << ", N=" << mc.persist << ", F=" << mc.d_ffn << "; B=" << B
     << ", T=" << mc.seg_len << ", M=" << mc.mem_len << ", V=" << mc.vocab << ". Times: each part, the mean of " << reps
     << " profiled steps; the sweeps and the prediction, the fastest of " << rounds * reps_per_round << " runs ("
     << rounds << " rounds over all " << plan.size() << " configurations).\n\n## Each part: analytic work and measured time per training step\n\n"
     << "| layer | part | scales with heads | fwd GFLOP | bwd GFLOP | fwd MB | fwd ms | bwd ms |\n"
     << "|---|---|---|---:|---:|---:|---:|---:|\n";
  std::vector<std::string> bar_names, part_names{"layernorm", "qkv", "position", "content", "persistent",
                                                 "softmax", "weighted_sum", "output", "ffn"};
  std::vector<std::vector<double>> bar_values;
  for (const json& a : analytic) {
    const int64_t l = a["layer"];
    const std::string region = l < 0 ? a["part"].get<std::string>() : "layer" + std::to_string(l) + "/" + a["part"].get<std::string>();
    const auto it = measured.find(region);
    const double f = it == measured.end() ? 0 : it->second.first * 1e3, b = it == measured.end() ? 0 : it->second.second * 1e3;
    const std::string layer = l < 0 ? "-" : std::to_string(l);
    csv << layer << "," << a["part"].get<std::string>() << "," << (a["per_head"].get<bool>() ? 1 : 0) << ","
        << a["forward_flops"].get<double>() * 1e-9 << "," << a["backward_flops"].get<double>() * 1e-9 << ","
        << a["forward_bytes"].get<double>() * 1e-6 << "," << f << "," << b << "\n";
    md << "| " << layer << " | " << a["part"].get<std::string>() << " | " << (a["per_head"].get<bool>() ? "yes" : "no")
       << " | " << fmt("%.4f", a["forward_flops"].get<double>() * 1e-9) << " | "
       << fmt("%.4f", a["backward_flops"].get<double>() * 1e-9) << " | " << fmt("%.2f", a["forward_bytes"].get<double>() * 1e-6)
       << " | " << fmt("%.3f", f) << " | " << fmt("%.3f", b) << " |\n";
  }
  double accounted = 0, step_total = 0;
  for (const auto& [region, t] : measured) step_total += t.first + t.second;
  for (int64_t l = 0; l < mc.layers; ++l) {
    bar_names.push_back("layer " + std::to_string(l));
    std::vector<double> v;
    for (const std::string& p : part_names) {
      const auto it = measured.find("layer" + std::to_string(l) + "/" + p);
      v.push_back(it == measured.end() ? 0 : (it->second.first + it->second.second) * 1e3);
      accounted += v.back();
    }
    bar_values.push_back(v);
  }
  md << "\nOutside the layers (embedding, output layer and loss, memory update, anything unregioned):";
  for (const auto& [region, t] : measured)
    if (region.rfind("layer", 0) != 0 || region.find('/') == std::string::npos)
      md << " " << region << " " << fmt("%.3f", (t.first + t.second) * 1e3) << " ms;";
  md << " layers " << fmt("%.3f", accounted) << " ms of " << fmt("%.3f", step_total * 1e3)
     << " ms per profiled step.\n\n## Marginal cost of a head (each layer swept from 0 to H heads)\n\n"
     << "| layer | train: fixed ms | train: ms per head | max residual | infer: fixed ms | infer: ms per head | max residual |\n"
     << "|---|---:|---:|---:|---:|---:|---:|\n";
  std::vector<Series> train_series;
  for (int64_t l = 0; l < mc.layers; ++l) {
    const LinearFit& t = train_sweep[l].fit;
    const LinearFit& i = infer_sweep[l].fit;
    md << "| " << l << " | " << fmt("%.3f", t.a * 1e3) << " | " << fmt("%.3f", t.b * 1e3) << " | "
       << fmt("%.1f%%", 100 * t.max_rel_residual) << " | " << fmt("%.3f", i.a * 1e3) << " | " << fmt("%.3f", i.b * 1e3)
       << " | " << fmt("%.1f%%", 100 * i.max_rel_residual) << " |\n";
    Series s{"layer " + std::to_string(l) + " (train step)", {}};
    for (size_t k = 0; k < train_sweep[l].heads.size(); ++k)
      s.points.push_back({train_sweep[l].heads[k], train_sweep[l].seconds[k] * 1e3});
    train_series.push_back(s);
  }
  md << "| all layers together | " << fmt("%.3f", joint_train_fit.a * 1e3) << " | "
     << fmt("%.3f", joint_train_fit.b * 1e3) << " | " << fmt("%.1f%%", 100 * joint_train_fit.max_rel_residual) << " | "
     << fmt("%.3f", joint_infer_fit.a * 1e3) << " | " << fmt("%.3f", joint_infer_fit.b * 1e3) << " | "
     << fmt("%.1f%%", 100 * joint_infer_fit.max_rel_residual) << " |\n";
  md << "\nWhole model, every head: training step " << fmt("%.3f", full.train * 1e3) << " ms, inference forward "
     << fmt("%.3f", full.infer * 1e3) << " ms (" << cache.size() << " configurations timed).\n";
  if (!prediction.is_null()) {
    md << "\n## Prediction for heads per layer";
    for (int64_t h : mask) md << " " << h;
    md << "\n\n| | measured ms | predicted from the per-layer fits | error | predicted from the joint fit | error |\n"
       << "|---|---:|---:|---:|---:|---:|\n";
    for (const std::string kind : {"train", "infer"}) {
      const double m = prediction[kind + "_measured_s"], p1 = prediction[kind + "_predicted_s"],
                   p2 = prediction[kind + "_predicted_joint_s"];
      md << "| " << (kind == "train" ? "training step" : "inference forward") << " | " << fmt("%.3f", m * 1e3) << " | "
         << fmt("%.3f", p1 * 1e3) << " | " << fmt("%+.1f%%", 100 * (p1 - m) / m) << " | " << fmt("%.3f", p2 * 1e3) << " | "
         << fmt("%+.1f%%", 100 * (p2 - m) / m) << " |\n";
    }
  }
  // Each head's marginal training cost (its layer's slope); removed or
  // closed heads crossed out. For a gated checkpoint, also P(open).
  std::vector<std::vector<double>> head_cost, open;
  const std::vector<std::vector<bool>> kept = model.gate_logits().empty() ? std::vector<std::vector<bool>>{} : kept_heads(model);
  for (int64_t l = 0; l < mc.layers; ++l) {
    std::vector<double> row;
    for (int64_t h = 0; h < mc.heads_in(l); ++h)
      row.push_back(!kept.empty() && !kept[l][h] ? -1.0 : train_sweep[l].fit.b * 1e3);
    head_cost.push_back(row);
    if (!model.gate_logits().empty()) open.push_back(open_probability(model.gate_logits()[l].value()));
  }
  safetensors::write_file_atomically(out + "/cost_heatmap.svg",
                                     head_grid("marginal training cost of each head", head_cost, "ms per step"));
  if (!open.empty())
    safetensors::write_file_atomically(out + "/gates_heatmap.svg", head_grid("P(gate open) of each head", open, ""));
  md << "\nFiles: costs.csv, costs.json, trace.json (one training step), sweep.svg, parts.svg, cost_heatmap.svg"
     << (open.empty() ? "" : ", gates_heatmap.svg") << ".\n";
  safetensors::write_file_atomically(out + "/costs.csv", csv.str());
  safetensors::write_file_atomically(out + "/report.md", md.str());
  safetensors::write_file_atomically(
      out + "/sweep.svg", line_plot("training step time as one layer's heads go from 0 to H", "heads in the swept layer",
                                    "ms per training step", train_series));
  safetensors::write_file_atomically(
      out + "/parts.svg", stacked_bars("measured time of each part, forward + backward, per training step",
                                       "ms per step", bar_names, part_names, bar_values));
  std::fputs(md.str().c_str(), stdout);
  return 0;
}

}  // namespace hc
