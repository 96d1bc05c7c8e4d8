// `headcount compare`: the head-pruning bake-off in one command. For every
// dense model (an All-attention model and its Transformer-XL baseline, each
// given as one checkpoint or as one checkpoint per seed), every method and
// every budget (a fraction of the heads kept), and every pruning seed, it
// runs `headcount prune` with the same pruning config, compacts the result,
// and measures the compacted model: heads, non-embedding parameters,
// validation loss, and what choosing the heads cost (choose_s, select_s);
// then times every model of the grid together, interleaved (time_rows). Writes results.csv (a row per seed
// and a summary row per cell: the mean and the min-max range over seeds),
// results.json, report.md and two SVG plots with the ranges as error bars.
// Each run lives in OUT/<model>-<method>-<budget>-s<seed>/; a finished run is
// not repeated and an interrupted one resumes, so Ctrl-C and the same
// command continue the grid.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/commands.h"
#include "app/run.h"
#include "app/svg_plot.h"
#include "engine/safetensors.h"
#include "models/compaction.h"

namespace hc {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Heads, non-embedding parameters and validation loss of a model without
// gates (dense or compacted). Its speed is measured later, in time_rows.
json measure(const AllAttLM& model, const RunData& data, int64_t batch) {
  json r;
  int64_t heads = 0;
  for (const AllAttLayer& l : model.layers()) heads += l.shape().H;
  r["heads"] = heads;
  r["parameters"] = model.parameter_count(false);
  r["valid_loss"] = evaluate_loss(model, data.valid, batch, 0, false);
  return r;
}

// A model of the grid loaded again for timing (dense as saved, pruned
// compacted from its gated checkpoint), with its training batch and its
// model's validation split (loaded once per model label, into `valid`).
struct TimedModel {
  std::unique_ptr<AllAttLM> model;
  int64_t batch;
  const std::vector<int64_t>* valid;
};

TimedModel load_for_timing(const CommandLine& cl, const json& row,
                           std::map<std::string, std::vector<int64_t>>& valid) {
  LoadedModel m = load_model(row["checkpoint"].get<std::string>(), cl.device, {});
  const RunConfig& c = m.checkpoint.config;
  const std::string label = row["model"].get<std::string>();
  if (!valid.count(label)) valid[label] = load_data(c, &m.tokenizer).valid;
  std::unique_ptr<AllAttLM> model =
      row["method"] == "dense" ? std::move(m.model) : compact(*m.model, c.prune.output_scaling);
  return {std::move(model), c.batch, &valid[label]};
}

// Inference speed (tok_s) of every model of the grid, measured together at
// the end of the command: a grid runs for hours beside other work, its
// finished runs are reused, and so every invocation times all of its models
// again under one condition (rerun the same command on a quiet machine for
// figures to quote). Each model runs forward passes over the first 20
// segments of its validation split at its training batch, after a warm-up;
// three rounds go over all models in turn, and each keeps its fastest.
void time_rows(const CommandLine& cl, json& rows) {
  const int64_t segments = 20, rounds = 3;
  std::map<std::string, std::vector<int64_t>> valid;
  std::vector<TimedModel> models;
  for (const json& r : rows) {
    models.push_back(load_for_timing(cl, r, valid));
    evaluate_loss(*models.back().model, *models.back().valid, models.back().batch, 2, false);  // warm-up
  }
  std::fprintf(stderr, "compare: timing %zu models, %lld rounds in turn\n", models.size(), static_cast<long long>(rounds));
  std::vector<double> best(models.size(), 1e30);
  for (int64_t round = 0; round < rounds; ++round)
    for (size_t i = 0; i < models.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      evaluate_loss(*models[i].model, *models[i].valid, models[i].batch, segments, false);
      best[i] = std::min(best[i], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  for (size_t i = 0; i < models.size(); ++i)
    rows[i]["tok_s"] = double(segments * models[i].batch * models[i].model->config().seg_len) / best[i];
}

// One dense model of the comparison: its checkpoints (one, or one per seed).
struct DenseModel {
  std::string label;                     // allatt, txl, allatt2, ...
  std::vector<std::string> checkpoints;  // paired with the seeds in order
};

// The model keys of a checkpoint's config, with the seed left out: two
// checkpoints with the same keys are seeds of one model.
std::string model_identity(const RunConfig& c) {
  json keys = with_model_of(c).to_json();
  return keys.dump();
}

// --dense, grouped into models: checkpoints of the same model config are its seeds.
std::vector<DenseModel> group_dense(const std::vector<std::string>& paths, size_t seeds) {
  std::vector<DenseModel> models;
  std::vector<std::string> identities;
  std::map<std::string, int> label_count;
  for (const std::string& path : paths) {
    const Checkpoint c = load_checkpoint(path);
    check(!c.tensors.count("layers.0.attn.gate.log_alpha"), "headcount compare: " + path + " has gates; give dense checkpoints");
    const std::string id = model_identity(c.config);
    const auto at = std::find(identities.begin(), identities.end(), id);
    if (at != identities.end()) {
      models[static_cast<size_t>(at - identities.begin())].checkpoints.push_back(path);
      continue;
    }
    std::string label = c.config.model.d_ffn > 0 ? "txl" : "allatt";
    if (label_count[label]++ > 0) label += std::to_string(label_count[label]);
    identities.push_back(id);
    models.push_back({label, {path}});
  }
  for (const DenseModel& m : models)
    check(m.checkpoints.size() == 1 || m.checkpoints.size() == seeds,
          "headcount compare: model " + m.label + " has " + std::to_string(m.checkpoints.size()) +
              " dense checkpoints for " + std::to_string(seeds) + " seeds: give one, or one per seed");
  return models;
}

// What choosing the heads cost a finished run: choose_s, the seconds of the
// one-shot choice before the first step (a scored or searching method's
// scoring, sampling or search; choose.json), and select_s, the seconds of
// the selection phase's steps (metrics.jsonl: each step's tokens over its
// tok_s, validation and checkpoints left out), during which a learned
// method's choice moves and a scored method already fine-tunes.
json choice_cost(const std::string& cell, const RunConfig& c) {
  json cost = {{"choose_s", 0.0}, {"select_s", 0.0}};
  if (fs::exists(cell + "/choose.json"))
    cost["choose_s"] = json::parse(std::ifstream(cell + "/choose.json")).value("choose_seconds", 0.0);
  const double tokens = double(c.accum * c.batch * c.model.seg_len);
  double seconds = 0;
  std::ifstream metrics(cell + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const json m = json::parse(line);
    if (m.value("step", int64_t{0}) <= c.steps && m.value("tok_s", 0.0) > 0) seconds += tokens / m["tok_s"].get<double>();
  }
  cost["select_s"] = seconds;
  return cost;
}

// The training step of the dense checkpoint at `path` (its sidecar's).
int64_t checkpoint_step(const std::string& path) {
  const std::string side = sidecar_of(path);
  std::ifstream in(side);
  check(in.good(), "headcount compare: cannot open the sidecar " + side);
  std::stringstream text;
  text << in.rdbuf();
  return parse_sidecar(text.str(), side).step;
}

// A cell records the step of the dense checkpoint it was pruned from
// (CELL/dense.json, written before its first step). If that checkpoint has
// moved on since (its run was lengthened and its best checkpoint replaced),
// the cell's result belongs to an older model: refuse to reuse or resume it
// rather than mix the two. (Cells written before this record existed have
// none, and are taken as they are.)
void check_origin(const std::string& dense, const std::string& cell) {
  const std::string origin = cell + "/dense.json";
  const int64_t now = checkpoint_step(dense);
  if (fs::exists(origin)) {
    const int64_t was = json::parse(std::ifstream(origin)).at("step").get<int64_t>();
    check(was == now, "headcount compare: " + cell + " was pruned from " + dense + " at step " + std::to_string(was) +
                          ", which is now at step " + std::to_string(now) + "; remove " + cell +
                          " (or give another --out) to prune it again");
  } else if (!fs::exists(cell + "/last.json") && !fs::exists(cell + "/result.json")) {
    fs::create_directories(cell);
    safetensors::write_file_atomically(origin, json{{"dense", dense}, {"step", now}}.dump(2) + "\n");
  }
}

// One pruning run of the grid, resumed if interrupted, measured once done.
// Returns the exit status of prune (0, or 130 when interrupted).
int run_cell(const CommandLine& cl, const std::string& dense, const std::string& cell, const std::string& method,
             double budget, int64_t seed, json& row) {
  const std::string result = cell + "/result.json";
  check_origin(dense, cell);
  if (fs::exists(result)) {
    row = json::parse(std::ifstream(result));
    return 0;
  }
  CommandLine prune = cl;
  prune.command = "prune";
  prune.from = dense;
  prune.flags.clear();
  for (const std::string& s : {"out_dir=" + cell, "prune_method=" + method, std::string("target_heads=0"),
                               "target_fraction=" + std::to_string(budget), "seed=" + std::to_string(seed)})
    prune.sets.push_back(s);
  if (fs::exists(cell + "/last.json")) prune.flags["resume"] = "1";
  const int rc = prune_command(prune);
  if (rc != 0) return rc;  // interrupted (130) or failed: the same command continues
  LoadedModel gated = load_model(cell + "/last.safetensors", cl.device, {});
  const RunData data = load_data(gated.checkpoint.config, &gated.tokenizer);
  const std::unique_ptr<AllAttLM> small = compact(*gated.model, gated.checkpoint.config.prune.output_scaling);
  row = measure(*small, data, gated.checkpoint.config.batch);
  row.update(choice_cost(cell, gated.checkpoint.config));
  row.update({{"method", method}, {"budget", budget}, {"seed", seed}, {"dense", dense},
              {"checkpoint", cell + "/last.safetensors"}});
  safetensors::write_file_atomically(result, row.dump(2) + "\n");
  return 0;
}

// Each dense checkpoint of a model, measured.
json dense_rows(const CommandLine& cl, const DenseModel& m) {
  json rows = json::array();
  for (const std::string& path : m.checkpoints) {
    LoadedModel d = load_model(path, cl.device, {});
    const RunData data = load_data(d.checkpoint.config, &d.tokenizer);
    json row = measure(*d.model, data, d.checkpoint.config.batch);
    row.update({{"model", m.label}, {"method", "dense"}, {"budget", 1.0}, {"seed", d.checkpoint.config.seed},
                {"checkpoint", path}, {"choose_s", 0.0}, {"select_s", 0.0}});
    rows.push_back(row);
  }
  return rows;
}

// One summary row per (model, method, budget): means, and the range of the
// validation loss over seeds.
json summarize(const json& rows) {
  std::map<std::tuple<std::string, std::string, double>, std::vector<json>> cells;
  std::vector<std::tuple<std::string, std::string, double>> order;
  for (const json& r : rows) {
    const auto key = std::make_tuple(r["model"].get<std::string>(), r["method"].get<std::string>(), r["budget"].get<double>());
    if (!cells.count(key)) order.push_back(key);
    cells[key].push_back(r);
  }
  json out = json::array();
  for (const auto& key : order) {
    const std::vector<json>& runs = cells[key];
    double loss = 0, lo = 1e300, hi = -1e300, heads = 0, params = 0, tok_s = 0, choose_s = 0, select_s = 0;
    for (const json& r : runs) {
      const double v = r["valid_loss"].get<double>();
      loss += v, lo = std::min(lo, v), hi = std::max(hi, v);
      heads += r["heads"].get<double>(), params += r["parameters"].get<double>(), tok_s += r["tok_s"].get<double>();
      choose_s += r.value("choose_s", 0.0), select_s += r.value("select_s", 0.0);  // rows of older runs lack them
    }
    const double n = double(runs.size());
    out.push_back({{"model", std::get<0>(key)}, {"method", std::get<1>(key)}, {"budget", std::get<2>(key)},
                   {"seeds", runs.size()}, {"heads", heads / n}, {"parameters", params / n}, {"valid_loss", loss / n},
                   {"valid_loss_min", lo}, {"valid_loss_max", hi}, {"tok_s", tok_s / n}, {"choose_s", choose_s / n},
                   {"select_s", select_s / n}});
  }
  return out;
}

// results.csv: a row per seed, then the summary rows (seed "mean", with the
// min and max of the validation bits over seeds).
std::string csv_text(const json& rows, const json& summary) {
  std::ostringstream csv;
  csv << "model,method,budget,seed,heads,parameters,valid_loss,valid_bits,valid_bits_min,valid_bits_max,tok_s,choose_s,"
         "select_s\n";
  char line[320];
  const double ln2 = std::log(2.0);
  for (const json& r : rows) {
    const double bits = r["valid_loss"].get<double>() / ln2;
    std::snprintf(line, sizeof line, "%s,%s,%.2f,%lld,%lld,%lld,%.5f,%.5f,%.5f,%.5f,%.0f,%.3f,%.3f\n",
                  r["model"].get<std::string>().c_str(), r["method"].get<std::string>().c_str(), r["budget"].get<double>(),
                  static_cast<long long>(r["seed"].get<int64_t>()), static_cast<long long>(r["heads"].get<int64_t>()),
                  static_cast<long long>(r["parameters"].get<int64_t>()), r["valid_loss"].get<double>(), bits, bits, bits,
                  r["tok_s"].get<double>(), r.value("choose_s", 0.0), r.value("select_s", 0.0));
    csv << line;
  }
  for (const json& s : summary) {
    std::snprintf(line, sizeof line, "%s,%s,%.2f,mean,%.2f,%.0f,%.5f,%.5f,%.5f,%.5f,%.0f,%.3f,%.3f\n",
                  s["model"].get<std::string>().c_str(), s["method"].get<std::string>().c_str(), s["budget"].get<double>(),
                  s["heads"].get<double>(), s["parameters"].get<double>(), s["valid_loss"].get<double>(),
                  s["valid_loss"].get<double>() / ln2, s["valid_loss_min"].get<double>() / ln2,
                  s["valid_loss_max"].get<double>() / ln2, s["tok_s"].get<double>(), s["choose_s"].get<double>(),
                  s["select_s"].get<double>());
    csv << line;
  }
  return csv.str();
}

// report.md: the summary, the mean with its range over seeds.
std::string report_text(const json& summary) {
  std::ostringstream md;
  md << "# headcount compare\n\n"
     << "| model | method | budget | seeds | heads | non-embedding parameters | valid bits/token, mean (min-max) | "
        "inference tok/s | choosing s (one-shot + selection steps) |\n|---|---|---|---|---|---|---|---|---|\n";
  const double ln2 = std::log(2.0);
  char line[320];
  for (const json& s : summary) {
    std::snprintf(line, sizeof line, "| %s | %s | %.2f | %lld | %.1f | %.0f | %.4f (%.4f-%.4f) | %.0f | %.2f + %.2f |\n",
                  s["model"].get<std::string>().c_str(), s["method"].get<std::string>().c_str(), s["budget"].get<double>(),
                  static_cast<long long>(s["seeds"].get<int64_t>()), s["heads"].get<double>(), s["parameters"].get<double>(),
                  s["valid_loss"].get<double>() / ln2, s["valid_loss_min"].get<double>() / ln2,
                  s["valid_loss_max"].get<double>() / ln2, s["tok_s"].get<double>(), s["choose_s"].get<double>(),
                  s["select_s"].get<double>());
    md << line;
  }
  return md.str();
}

// One curve per model and method from the summary, starting at that
// model's dense point; x is parameters or ms per 1000 tokens.
std::vector<Series> curves(const json& summary, bool by_time) {
  std::map<std::string, Series> by_key;
  const double ln2 = std::log(2.0);
  auto point = [&](const json& s) {
    const double x = by_time ? 1e6 / s["tok_s"].get<double>() : s["parameters"].get<double>();
    return Point(x, s["valid_loss"].get<double>() / ln2, s["valid_loss_min"].get<double>() / ln2,
                 s["valid_loss_max"].get<double>() / ln2);
  };
  for (const json& s : summary) {
    if (s["method"] == "dense") continue;
    const std::string key = s["model"].get<std::string>() + " " + s["method"].get<std::string>();
    by_key[key].name = key;
    by_key[key].points.push_back(point(s));
  }
  for (const json& d : summary) {
    if (d["method"] != "dense") continue;
    for (auto& [key, series] : by_key)
      if (key.rfind(d["model"].get<std::string>() + " ", 0) == 0) series.points.push_back(point(d));
  }
  std::vector<Series> out;
  for (const auto& [key, series] : by_key) out.push_back(series);
  return out;
}

}  // namespace

int compare_command(const CommandLine& cl) {
  const std::vector<std::string> dense = split_list(cl.get("dense", ""));
  const std::string out = cl.get("out", "");
  check(!dense.empty() && !out.empty() && !cl.config.empty(),
        "headcount compare: --dense CKPT[,CKPT...], --config PRUNE_CONFIG and --out DIR are required");
  // Names, fractions and seeds checked by the parser (app/commands.cpp).
  // Every method that prunes a checkpoint; an inference-time method has
  // nothing to prune or fine-tune (its benchmark is in its --help details).
  std::vector<std::string> methods;
  if (cl.has("methods")) methods = cl.items("methods");
  else
    for (const MethodInfo& m : pruning_methods())
      if (m.kind != MethodKind::Inference) methods.push_back(m.name);
  for (const std::string& name : methods) {
    const MethodInfo& m = find_method(name);
    check(m.kind != MethodKind::Inference, "headcount compare: " + name +
                                               " chooses heads at inference and has nothing to prune or fine-tune "
                                               "(`headcount prune --help` says how to measure it)");
  }
  const std::vector<double> budgets = cl.reals("budgets");
  const std::vector<int64_t> seeds = cl.integers("seeds");
  const std::vector<DenseModel> models = group_dense(dense, seeds.size());
  fs::create_directories(out);

  json rows = json::array();
  for (const DenseModel& m : models) {
    std::fprintf(stderr, "compare: %s = %s\n", m.label.c_str(), m.checkpoints[0].c_str());
    for (const json& d : dense_rows(cl, m)) rows.push_back(d);
    for (const std::string& method : methods)
      for (double budget : budgets)
        for (size_t i = 0; i < seeds.size(); ++i) {
          char name[96];
          std::snprintf(name, sizeof name, "%s-%s-%.2f-s%lld", m.label.c_str(), method.c_str(), budget,
                        static_cast<long long>(seeds[i]));
          std::fprintf(stderr, "compare: %s\n", name);
          json row;
          const std::string& checkpoint = m.checkpoints[m.checkpoints.size() == 1 ? 0 : i];
          if (const int rc = run_cell(cl, checkpoint, out + "/" + name, method, budget, seeds[i], row); rc != 0) return rc;
          row["model"] = m.label;
          rows.push_back(row);
        }
  }
  time_rows(cl, rows);
  const json summary = summarize(rows);
  safetensors::write_file_atomically(out + "/results.csv", csv_text(rows, summary));
  safetensors::write_file_atomically(out + "/results.json", json{{"rows", rows}, {"summary", summary}}.dump(2) + "\n");
  const std::string md = report_text(summary);
  safetensors::write_file_atomically(out + "/report.md", md);
  safetensors::write_file_atomically(
      out + "/loss_vs_parameters.svg",
      line_plot("validation bits per token vs non-embedding parameters (mean, min-max over seeds)",
                "non-embedding parameters", "valid bits/token", curves(summary, false)));
  safetensors::write_file_atomically(
      out + "/loss_vs_time.svg",
      line_plot("validation bits per token vs inference time (mean, min-max over seeds)",
                "ms per 1000 tokens (forward, the training batch)", "valid bits/token", curves(summary, true)));
  std::fputs(md.c_str(), stdout);
  std::fprintf(stderr, "wrote %s/{results.csv,results.json,report.md,loss_vs_parameters.svg,loss_vs_time.svg}\n",
               out.c_str());
  return 0;
}

}  // namespace hc
