// `headcount compare`: the head-pruning bake-off in one command. For every
// dense checkpoint (an All-attention model and its Transformer-XL baseline),
// every method and every budget (a fraction of the heads kept), it runs
// `headcount prune` with the same pruning config, compacts the result, and
// measures the compacted model: heads, non-embedding parameters, validation
// loss and inference speed. Writes results.csv, results.json, report.md and
// two SVG plots (validation loss against parameters, and against inference
// time). Each cell lives in OUT/<model>-<method>-<budget>/; a finished cell is
// not run again and an interrupted one resumes, so Ctrl-C and the same
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
#include "models/pruning.h"

namespace hc {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Heads, non-embedding parameters, validation loss and inference tokens/s
// of a model without gates (dense or compacted).
json measure(const AllAttLM& model, const RunData& data, int64_t batch) {
  json r;
  int64_t heads = 0;
  for (const AllAttLayer& l : model.layers()) heads += l.shape().H;
  r["heads"] = heads;
  r["parameters"] = model.parameter_count(false);
  r["valid_loss"] = evaluate_loss(model, data.valid, batch, 0, false);
  // Inference speed: forward passes over the first segments of the split,
  // after one warm-up pass; the best of three runs.
  const int64_t segments = 20;
  evaluate_loss(model, data.valid, batch, 2, false);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    evaluate_loss(model, data.valid, batch, segments, false);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  r["tok_s"] = double(segments * batch * model.config().seg_len) / best;
  return r;
}

}  // namespace

int compare_command(const CommandLine& cl) {
  const std::vector<std::string> dense = split_list(cl.get("dense", ""));
  const std::vector<std::string> methods = split_list(cl.get("methods", "l0,topk,taylor,magnitude,random"));
  const std::vector<std::string> budget_text = split_list(cl.get("budgets", "0.75,0.57,0.4"));
  const std::string out = cl.get("out", "");
  check(!dense.empty() && !out.empty() && !cl.config.empty(),
        "headcount compare: --dense CKPT[,CKPT...], --config PRUNE_CONFIG and --out DIR are required");
  std::vector<double> budgets;
  for (const std::string& b : budget_text) {
    char* end = nullptr;
    const double v = std::strtod(b.c_str(), &end);
    check(end && *end == '\0' && v > 0 && v <= 1, "--budgets: each must be a fraction in (0, 1], got '" + b + "'");
    budgets.push_back(v);
  }
  for (const std::string& m : methods)
    check(m == "l0" || m == "topk" || m == "taylor" || m == "magnitude" || m == "random",
          "--methods: unknown method '" + m + "' (l0, topk, taylor, magnitude, random)");
  fs::create_directories(out);

  json rows = json::array();
  std::map<std::string, int> label_count;
  for (const std::string& path : dense) {
    LoadedModel d = load_model(path, cl.device, {});
    check(d.model->gate_logits().empty(), "headcount compare: " + path + " has gates; give dense checkpoints");
    const RunData data = load_data(d.checkpoint.config, &d.tokenizer);
    const int64_t batch = d.checkpoint.config.batch;
    std::string label = d.model->config().d_ffn > 0 ? "txl" : "allatt";
    if (label_count[label]++ > 0) label += std::to_string(label_count[label]);
    std::fprintf(stderr, "compare: %s = %s\n", label.c_str(), path.c_str());
    json dense_row = measure(*d.model, data, batch);
    dense_row.update({{"model", label}, {"method", "dense"}, {"budget", 1.0}, {"checkpoint", path}});
    rows.push_back(dense_row);

    for (const std::string& method : methods)
      for (double budget : budgets) {
        char name[64];
        std::snprintf(name, sizeof name, "%s-%s-%.2f", label.c_str(), method.c_str(), budget);
        const std::string cell = out + "/" + name, result = cell + "/result.json";
        if (fs::exists(result)) {
          rows.push_back(json::parse(std::ifstream(result)));
          continue;
        }
        std::fprintf(stderr, "compare: %s\n", name);
        CommandLine prune = cl;
        prune.command = "prune";
        prune.from = path;
        prune.flags.clear();
        prune.sets.push_back("out_dir=" + cell);
        prune.sets.push_back("prune_method=" + method);
        prune.sets.push_back("target_heads=0");
        prune.sets.push_back("target_fraction=" + std::to_string(budget));
        if (fs::exists(cell + "/last.json")) prune.flags["resume"] = "1";
        const int rc = prune_command(prune);
        if (rc != 0) return rc;  // interrupted (130) or failed: the same command continues
        LoadedModel gated = load_model(cell + "/last.safetensors", cl.device, {});
        const std::unique_ptr<AllAttLM> small = compact(*gated.model, gated.checkpoint.config.output_scaling);
        json row = measure(*small, data, batch);
        row.update({{"model", label}, {"method", method}, {"budget", budget}, {"checkpoint", cell + "/last.safetensors"}});
        safetensors::write_file_atomically(result, row.dump(2) + "\n");
        rows.push_back(row);
      }
  }

  // Tables and plots.
  std::ostringstream csv, md;
  csv << "model,method,budget,heads,parameters,valid_loss,valid_bits,tok_s\n";
  md << "| model | method | budget | heads | non-embedding parameters | valid loss (nats) | valid bits/token | inference tok/s |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, Series> by_params, by_time;
  for (const json& r : rows) {
    const double bits = r["valid_loss"].get<double>() / std::log(2.0);
    char line[256];
    std::snprintf(line, sizeof line, "%s,%s,%.2f,%lld,%lld,%.5f,%.5f,%.0f\n", r["model"].get<std::string>().c_str(),
                  r["method"].get<std::string>().c_str(), r["budget"].get<double>(),
                  static_cast<long long>(r["heads"].get<int64_t>()), static_cast<long long>(r["parameters"].get<int64_t>()),
                  r["valid_loss"].get<double>(), bits, r["tok_s"].get<double>());
    csv << line;
    std::snprintf(line, sizeof line, "| %s | %s | %.2f | %lld | %lld | %.4f | %.4f | %.0f |\n",
                  r["model"].get<std::string>().c_str(), r["method"].get<std::string>().c_str(), r["budget"].get<double>(),
                  static_cast<long long>(r["heads"].get<int64_t>()), static_cast<long long>(r["parameters"].get<int64_t>()),
                  r["valid_loss"].get<double>(), bits, r["tok_s"].get<double>());
    md << line;
  }
  // One curve per model and method, starting at that model's dense point.
  auto point = [](const json& r, bool by_time) {
    const double bits = r["valid_loss"].get<double>() / std::log(2.0);
    return std::pair{by_time ? 1e6 / r["tok_s"].get<double>() : r["parameters"].get<double>(), bits};
  };
  for (const json& r : rows) {
    if (r["method"] == "dense") continue;
    const std::string key = r["model"].get<std::string>() + " " + r["method"].get<std::string>();
    by_params[key].name = by_time[key].name = key;
    by_params[key].points.push_back(point(r, false));
    by_time[key].points.push_back(point(r, true));
  }
  for (const json& d : rows) {
    if (d["method"] != "dense") continue;
    for (auto* series : {&by_params, &by_time})
      for (auto& [key, s] : *series)
        if (key.rfind(d["model"].get<std::string>() + " ", 0) == 0) s.points.push_back(point(d, series == &by_time));
  }
  auto values = [](const std::map<std::string, Series>& m) {
    std::vector<Series> v;
    for (const auto& [k, s] : m) v.push_back(s);
    return v;
  };
  safetensors::write_file_atomically(out + "/results.csv", csv.str());
  safetensors::write_file_atomically(out + "/results.json", rows.dump(2) + "\n");
  safetensors::write_file_atomically(out + "/report.md", "# headcount compare\n\n" + md.str());
  safetensors::write_file_atomically(
      out + "/loss_vs_parameters.svg",
      line_plot("validation bits per token vs non-embedding parameters", "non-embedding parameters",
                "valid bits/token", values(by_params)));
  safetensors::write_file_atomically(
      out + "/loss_vs_time.svg",
      line_plot("validation bits per token vs inference time", "ms per 1000 tokens (forward, the training batch)",
                "valid bits/token", values(by_time)));
  std::fputs(md.str().c_str(), stdout);
  std::fprintf(stderr, "wrote %s/{results.csv,results.json,report.md,loss_vs_parameters.svg,loss_vs_time.svg}\n",
               out.c_str());
  return 0;
}

}  // namespace hc
