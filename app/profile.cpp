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
//   4. Prediction: for heads per layer (a gated or compacted checkpoint's, or
//      --heads-per-layer), the time the fits predict next to the time measured on a
//      model with exactly those heads.
//   5. Cost model: the forms of models/cost_model.h fitted on 2L + H + 1 of the
//      configurations above and as many random mixed ones (app/profile_validate.h);
//      with --validate K, judged on K other random pruned
//      configurations (app/profile_validate.h). costs.json's "cost_model"
//      is what `prune` reads for a time budget.
// Writes report.md, costs.csv, costs.json, trace.json (one training step,
// for chrome://tracing or Perfetto) and SVG charts into --out DIR.
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
#include "app/profile_timing.h"
#include "app/profile_validate.h"
#include "app/run.h"
#include "app/svg_heatmap.h"
#include "app/svg_plot.h"
#include "engine/profiler.h"
#include "engine/safetensors.h"
#include "models/head_cost.h"
#include "models/gates.h"

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

// A fused layer's one "layer{l}/attention" region shared out among the parts
// it does the work of (models/head_cost.h, fused_attention_shares), so that
// the report lists the same parts whichever path ran.
void split_fused_attention(std::map<std::string, std::pair<double, double>>& measured, const AllAttConfig& c,
                           int64_t B) {
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string layer = "layer" + std::to_string(l) + "/";
    const auto it = measured.find(layer + "attention");
    if (it == measured.end()) continue;
    const std::pair<double, double> fused = it->second;
    measured.erase(it);
    for (const PartShare& s : fused_attention_shares(c, l, B)) {
      auto& slot = measured[layer + s.part];
      slot.first += s.forward * fused.first;
      slot.second += s.backward * fused.second;
    }
  }
}

// --heads-per-layer (each a count >= 0, checked by the parser): one per layer.
std::vector<int64_t> head_counts(const std::vector<int64_t>& counts, int64_t layers) {
  check(static_cast<int64_t>(counts.size()) == layers, "--heads-per-layer has " + std::to_string(counts.size()) +
                                                           " entries for a model of " + std::to_string(layers) + " layers");
  return counts;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// What is profiled: the model, the batch, and the head counts to predict.
struct Target {
  std::unique_ptr<AllAttLM> fresh;
  LoadedModel loaded;
  const AllAttLM* model = nullptr;
  int64_t B = 0;
  int reps = 0;
  std::vector<int64_t> counts;  // heads per layer to predict; empty: none
};

// A checkpoint's model (dense, gated or compacted), or a fresh one of a config.
Target load_target(const CommandLine& cl) {
  check(!cl.from.empty() || !cl.config.empty(), "headcount profile: --from CKPT or --config FILE is required");
  Target t;
  t.reps = static_cast<int>(cl.integer("reps"));  // ranges checked by the parser (app/commands.cpp)
  RunConfig cfg;
  if (!cl.from.empty()) {
    t.loaded = load_model(cl.from, cl.device, cl.sets);
    cfg = t.loaded.checkpoint.config;
    t.model = t.loaded.model.get();
  } else {
    cfg = load_config(cl.config, cl.sets);
    const RunData data = load_data(cfg);
    t.fresh = std::make_unique<AllAttLM>(model_config(cfg, data.tokenizer.size()), uint64_t(cfg.seed), DType::F32, cl.device);
    t.model = t.fresh.get();
  }
  t.B = cl.has("batch") ? cl.integer("batch") : cfg.batch;
  const AllAttConfig& mc = t.model->config();
  if (cl.has("heads-per-layer")) t.counts = head_counts(cl.integers("heads-per-layer"), mc.layers);
  else if (!t.model->gate_logits().empty())
    t.counts = kept_heads(*t.model).per_layer();
  for (size_t l = 0; l < t.counts.size(); ++l)
    check(t.counts[l] <= mc.heads_in(int64_t(l)), "--heads-per-layer: layer " + std::to_string(l) + " has only " +
                                                       std::to_string(mc.heads_in(int64_t(l))) + " heads");
  return t;
}

// 1. Analytic: every part of every layer, and the parts outside the layers.
json analytic_costs(const AllAttConfig& mc, int64_t B) {
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
  return analytic;
}

// 2. Measured, by region: `reps` training steps with the profiler on (and
// one more written as a Chrome trace). On a GPU, ops are timed by the
// device's clock (CUDA events), not by the host, which only sees the launches.
std::map<std::string, std::pair<double, double>> measure_parts(const Target& t, Device device, const std::string& out) {
  const AllAttLM& model = *t.model;
  const Batch batch = random_batch(t.B, model.config().seg_len, model.config().vocab, 17);
  Memory mem = model.initial_memory(t.B);
  RngStream rng{1, 0};
  auto step = [&] { train_step(model, batch, mem, rng); };
  step();  // warm-up, unrecorded
  profiler::use_device_clock(backend(device).device_clock());
  profiler::enable(true);
  profiler::clear();
  step();
  profiler::write_chrome_trace(out + "/trace.json");
  profiler::clear();
  for (int r = 0; r < t.reps; ++r) step();
  profiler::enable(false);
  auto measured = time_by_region(t.reps);
  split_fused_attention(measured, model.config(), t.B);
  profiler::use_device_clock(nullptr);
  profiler::clear();
  return measured;
}

// The fits: one line per layer (its heads swept, the others kept), and the
// joint line (every layer at h heads together, h = 0..H, against the total
// head count), which sees what removing heads from all layers at once does
// to the overheads, and which one-layer sweeps miss.
struct Sweeps {
  std::vector<LayerSweep> train, infer;
  std::vector<double> joint_heads, joint_train, joint_infer;
  LinearFit joint_train_fit, joint_infer_fit;
  Timers full, predicted_model;
  size_t configurations = 0;
  int runs_each = 0, rounds = 0;
};

// Every layer at min(h, its heads): the joint sweep's configuration h.
AllAttConfig joint_config(const AllAttConfig& base, int64_t h) {
  AllAttConfig v = base;
  for (int64_t l = 0; l < base.layers; ++l) v.heads_per_layer[l] = std::min(h, base.heads_in(l));
  return v;
}

// The profiled model's config with its heads per layer listed.
AllAttConfig listed_heads(const AllAttConfig& mc) {
  AllAttConfig base = mc;
  base.heads_per_layer.clear();
  for (int64_t l = 0; l < mc.layers; ++l) base.heads_per_layer.push_back(mc.heads_in(l));
  return base;
}

// Lists the sweeps' configurations in `timer` (beside any listed before),
// times them all, and reads the sweeps out.
Sweeps run_sweeps(const Target& t, Device device, ConfigTimer& timer) {
  const AllAttConfig& mc = t.model->config();
  const AllAttConfig base = listed_heads(mc);
  int64_t max_heads = 0;
  for (int64_t l = 0; l < mc.layers; ++l) max_heads = std::max(max_heads, mc.heads_in(l));
  AllAttConfig predicted = base;
  if (!t.counts.empty()) predicted.heads_per_layer = t.counts;
  sweep_heads(base, [&](const AllAttConfig& v) { return timer.of(v).train; }, {});  // lists them
  for (int64_t h = 0; h <= max_heads; ++h) timer.of(joint_config(base, h));
  timer.of(base);
  if (!t.counts.empty()) timer.of(predicted);
  timer.run(device, t.B, t.reps);
  Sweeps s;
  s.train = sweep_heads(base, [&](const AllAttConfig& v) { return timer.of(v).train; }, {});
  s.infer = sweep_heads(base, [&](const AllAttConfig& v) { return timer.of(v).infer; }, {});
  for (int64_t h = 0; h <= max_heads; ++h) {
    const AllAttConfig v = joint_config(base, h);
    double total = 0;
    for (int64_t l = 0; l < mc.layers; ++l) total += double(v.heads_in(l));
    s.joint_heads.push_back(total);
    s.joint_train.push_back(timer.of(v).train);
    s.joint_infer.push_back(timer.of(v).infer);
  }
  s.joint_train_fit = fit_line(s.joint_heads, s.joint_train);
  s.joint_infer_fit = fit_line(s.joint_heads, s.joint_infer);
  s.full = timer.of(base);
  s.predicted_model = timer.of(predicted);
  s.configurations = timer.slots();
  s.runs_each = timer.runs_each();
  s.rounds = timer.rounds();
  return s;
}

// 4. Prediction for the target's head counts, against a model with exactly those heads.
json predict(const Target& t, const Sweeps& s) {
  if (t.counts.empty()) return json();
  double train = s.full.train, infer = s.full.infer, kept = 0;
  for (size_t l = 0; l < t.counts.size(); ++l) {
    const double removed = double(t.counts[l]) - s.train[l].heads.back();
    train += s.train[l].fit.b * removed;
    infer += s.infer[l].fit.b * removed;
    kept += double(t.counts[l]);
  }
  return {{"heads_per_layer", t.counts},
          {"train_predicted_s", train}, {"train_measured_s", s.predicted_model.train},
          {"infer_predicted_s", infer}, {"infer_measured_s", s.predicted_model.infer},
          {"train_predicted_joint_s", s.joint_train_fit.a + s.joint_train_fit.b * kept},
          {"infer_predicted_joint_s", s.joint_infer_fit.a + s.joint_infer_fit.b * kept}};
}

json fit_json(const LinearFit& f) { return {{"a", f.a}, {"b", f.b}, {"max_rel_residual", f.max_rel_residual}}; }

// costs.json: everything above, as numbers.
json costs_json(const Target& t, const json& analytic, const std::map<std::string, std::pair<double, double>>& measured,
                const Sweeps& s, const json& prediction) {
  const AllAttConfig& mc = t.model->config();
  json costs = {{"batch", t.B}, {"seg_len", mc.seg_len}, {"mem_len", mc.mem_len}, {"persist", mc.persist},
                {"analytic", analytic}, {"measured", json::array()}, {"sweep", json::array()},
                {"full_train_s", s.full.train}, {"full_infer_s", s.full.infer}, {"prediction", prediction},
                {"joint_sweep", {{"total_heads", s.joint_heads}, {"train_s", s.joint_train}, {"infer_s", s.joint_infer},
                                 {"train_fit", fit_json(s.joint_train_fit)}, {"infer_fit", fit_json(s.joint_infer_fit)}}}};
  for (const auto& [region, m] : measured)
    costs["measured"].push_back({{"region", region}, {"forward_s", m.first}, {"backward_s", m.second}});
  for (int64_t l = 0; l < mc.layers; ++l)
    costs["sweep"].push_back({{"layer", l}, {"heads", s.train[l].heads}, {"train_s", s.train[l].seconds},
                              {"infer_s", s.infer[l].seconds}, {"train_fit", fit_json(s.train[l].fit)},
                              {"infer_fit", fit_json(s.infer[l].fit)}});
  return costs;
}

const std::vector<std::string> kLayerParts{"layernorm", "qkv", "position", "content", "persistent",
                                           "softmax", "weighted_sum", "output", "ffn"};

// costs.csv and the report's first table: each part's analytic work and measured time.
void parts_tables(const json& analytic, const std::map<std::string, std::pair<double, double>>& measured,
                  std::ostringstream& csv, std::ostringstream& md) {
  csv << "layer,part,per_head,forward_gflop,backward_gflop,forward_mb,measured_forward_ms,measured_backward_ms\n";
  md << "| layer | part | scales with heads | fwd GFLOP | bwd GFLOP | fwd MB | fwd ms | bwd ms |\n"
     << "|---|---|---|---:|---:|---:|---:|---:|\n";
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
}

// The parts of each layer as stacked bars, and the report's line on the time outside the layers.
void parts_chart(int64_t layers, const std::map<std::string, std::pair<double, double>>& measured, std::ostringstream& md,
                 const std::string& out) {
  std::vector<std::string> bar_names;
  std::vector<std::vector<double>> bar_values;
  double accounted = 0, step_total = 0;
  for (const auto& [region, t] : measured) step_total += t.first + t.second;
  for (int64_t l = 0; l < layers; ++l) {
    bar_names.push_back("layer " + std::to_string(l));
    std::vector<double> v;
    for (const std::string& p : kLayerParts) {
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
  md << " layers " << fmt("%.3f", accounted) << " ms of " << fmt("%.3f", step_total * 1e3) << " ms per profiled step.\n";
  safetensors::write_file_atomically(
      out + "/parts.svg", stacked_bars("measured time of each part, forward + backward, per training step",
                                       "ms per step", bar_names, kLayerParts, bar_values));
}

// The marginal-cost table and the sweep chart.
void marginal_table(const Sweeps& s, std::ostringstream& md, const std::string& out) {
  md << "\n## Marginal cost of a head (each layer swept from 0 to H heads)\n\n"
     << "| layer | train: fixed ms | train: ms per head | max residual | infer: fixed ms | infer: ms per head | max residual |\n"
     << "|---|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const std::string& name, const LinearFit& t, const LinearFit& i) {
    md << "| " << name << " | " << fmt("%.3f", t.a * 1e3) << " | " << fmt("%.3f", t.b * 1e3) << " | "
       << fmt("%.1f%%", 100 * t.max_rel_residual) << " | " << fmt("%.3f", i.a * 1e3) << " | " << fmt("%.3f", i.b * 1e3)
       << " | " << fmt("%.1f%%", 100 * i.max_rel_residual) << " |\n";
  };
  std::vector<Series> train_series;
  for (size_t l = 0; l < s.train.size(); ++l) {
    row(std::to_string(l), s.train[l].fit, s.infer[l].fit);
    Series series{"layer " + std::to_string(l) + " (train step)", {}};
    for (size_t k = 0; k < s.train[l].heads.size(); ++k)
      series.points.push_back({s.train[l].heads[k], s.train[l].seconds[k] * 1e3});
    train_series.push_back(series);
  }
  row("all layers together", s.joint_train_fit, s.joint_infer_fit);
  md << "\nWhole model, every head: training step " << fmt("%.3f", s.full.train * 1e3) << " ms, inference forward "
     << fmt("%.3f", s.full.infer * 1e3) << " ms (" << s.configurations << " configurations timed).\n";
  safetensors::write_file_atomically(
      out + "/sweep.svg", line_plot("training step time as one layer's heads go from 0 to H", "heads in the swept layer",
                                    "ms per training step", train_series, /*integer_x=*/true));
}

void prediction_table(const json& prediction, std::ostringstream& md) {
  if (prediction.is_null()) return;
  md << "\n## Prediction for heads per layer";
  for (int64_t h : prediction["heads_per_layer"]) md << " " << h;
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

// Each head's marginal training cost (its layer's slope), removed or closed
// heads crossed out; for a gated checkpoint, also P(open). Returns whether
// the gate heatmap was written.
bool heatmaps(const AllAttLM& model, const Sweeps& s, const std::string& out) {
  const AllAttConfig& mc = model.config();
  std::vector<std::vector<double>> head_cost;
  const HeadMask kept = model.gate_logits().empty() ? HeadMask{} : kept_heads(model);
  for (int64_t l = 0; l < mc.layers; ++l) {
    std::vector<double> row;
    for (int64_t h = 0; h < mc.heads_in(l); ++h)
      row.push_back(!kept.keep.empty() && !kept.keep[l][h] ? std::nan("") : s.train[l].fit.b * 1e3);
    head_cost.push_back(row);
  }
  safetensors::write_file_atomically(out + "/cost_heatmap.svg",
                                     head_grid("marginal training cost of each head", head_cost, "ms per step"));
  if (model.gate_logits().empty()) return false;
  safetensors::write_file_atomically(out + "/gates_heatmap.svg",
                                     head_grid("P(gate open) of each head", open_probabilities(model), "P(open)", 1.0));
  return true;
}

}  // namespace

int profile_command(const CommandLine& cl) {
  const std::string out = cl.get("out", "");
  check(!out.empty(), "headcount profile: --out DIR is required");
  const Target t = load_target(cl);
  const AllAttConfig& mc = t.model->config();
  std::filesystem::create_directories(out);
  const json analytic = analytic_costs(mc, t.B);
  const auto measured = measure_parts(t, cl.device, out);
  // The cost models' calibration and validation configurations are timed
  // in the same rounds as the sweeps.
  const AllAttConfig dense = listed_heads(mc);
  const std::vector<HeadCounts> calibration = calibration_with_mixed(dense);
  const std::vector<HeadCounts> validation = random_heads(
      dense, cl.integer("validate"), uint64_t(cl.integer("validate-seed")), {calibration.begin(), calibration.end()});
  ConfigTimer timer(dense);
  for (const HeadCounts& h : calibration) timer.of(with_heads(dense, h));
  for (const HeadCounts& h : validation) timer.of(with_heads(dense, h), kFirstSlot), timer.of(with_heads(dense, h), kSecondSlot);
  const Sweeps sweeps = run_sweeps(t, cl.device, timer);
  const ModeValidation train = validate_mode("train", dense, timer, calibration, validation),
                       infer = validate_mode("infer", dense, timer, calibration, validation);
  double calibration_seconds = 0;
  for (const HeadCounts& h : calibration) calibration_seconds += timer.spent(with_heads(dense, h));
  const json prediction = predict(t, sweeps);
  json costs = costs_json(t, analytic, measured, sweeps, prediction);
  costs["cost_model"] = cost_model_json(cost_key(dense, cl.device, t.B, ""), train, infer, calibration_seconds);
  safetensors::write_file_atomically(out + "/costs.json", costs.dump(2) + "\n");
  if (!validation.empty())
    safetensors::write_file_atomically(out + "/validation.json", validation_json(train, infer).dump(2) + "\n");

  std::ostringstream csv, md;
  md << "# headcount profile\n\nModel: " << mc.layers << " layers, heads per layer";
  for (int64_t l = 0; l < mc.layers; ++l) md << " " << mc.heads_in(l);
  md << ", C=" << mc.d_model << ", D=" << mc.d_head << ", N=" << mc.persist << ", F=" << mc.d_ffn << "; B=" << t.B
     << ", T=" << mc.seg_len << ", M=" << mc.mem_len << ", V=" << mc.vocab << ". Times: each part, the mean of " << t.reps
     << " profiled steps; the sweeps and the prediction, " << sweeps.runs_each << " runs each (" << sweeps.rounds
     << " rounds over all " << sweeps.configurations << " configurations), each run followed by one of the whole "
     << "model: the median of those ratios times the whole model's fastest run.\n\n"
     << "## Each part: analytic work and measured time per training step\n\n";
  parts_tables(analytic, measured, csv, md);
  parts_chart(mc.layers, measured, md, out);
  marginal_table(sweeps, md, out);
  prediction_table(prediction, md);
  if (!validation.empty()) md << validation_report(train, infer, calibration_seconds, out);
  const bool gated = heatmaps(*t.model, sweeps, out);
  md << "\nFiles: costs.csv, costs.json, trace.json (one training step), sweep.svg, parts.svg, cost_heatmap.svg"
     << (gated ? ", gates_heatmap.svg" : "") << (validation.empty() ? "" : ", validation.json, validate.svg") << ".\n";
  safetensors::write_file_atomically(out + "/costs.csv", csv.str());
  safetensors::write_file_atomically(out + "/report.md", md.str());
  std::fputs(md.str().c_str(), stdout);
  return 0;
}

}  // namespace hc
