// `headcount report RUN_DIR [--out FILE]`: one HTML page about a run
// directory, self-contained (inline SVG and CSS, no script, nothing fetched),
// so it opens from disk and can be sent as one file. The page is built from
// whatever files the directory holds (the list is in `headcount report
// --help`): learning curves and final metrics from metrics.jsonl, the gates
// over the steps of a pruning run, head costs from a profile's costs.json,
// dense against pruned from a compare's results.json, the config from
// last.json. Each section is drawn on its own: a file that is missing or not
// what headcount writes costs its section a line that says so, never the page.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/commands.h"
#include "app/svg_heatmap.h"
#include "app/svg_plot.h"
#include "engine/safetensors.h"

namespace hc {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// What a run directory holds, read once; every section draws from this.
struct RunFiles {
  std::string dir;
  std::vector<json> metrics;          // the lines of metrics.jsonl that are JSON objects
  json last, costs, results, choose;  // last.json, costs.json, results.json, choose.json; null when absent
  std::vector<std::string> notes;     // what is missing or unreadable, said at the top of the page
};

// ---- reading the run directory ----

// A JSON file, or null when it is absent; a file that is there but is not
// JSON is null too, with a note.
json read_json(const std::string& path, std::vector<std::string>& notes) {
  if (!fs::exists(path)) return nullptr;
  std::ifstream in(path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    notes.push_back(path + " is not a JSON object; left out");
    return nullptr;
  }
  return j;
}

std::vector<json> read_metrics(const std::string& path, std::vector<std::string>& notes) {
  std::vector<json> lines;
  std::ifstream in(path);
  std::string line;
  int64_t bad = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) lines.push_back(std::move(j));
    else if (!line.empty()) ++bad;
  }
  if (bad > 0) notes.push_back(path + ": " + std::to_string(bad) + " line(s) are not JSON objects; left out");
  return lines;
}

RunFiles read_run(const std::string& dir) {
  RunFiles r;
  r.dir = dir;
  r.metrics = read_metrics(dir + "/metrics.jsonl", r.notes);
  r.last = read_json(dir + "/last.json", r.notes);
  r.costs = read_json(dir + "/costs.json", r.notes);
  r.results = read_json(dir + "/results.json", r.notes);
  r.choose = read_json(dir + "/choose.json", r.notes);
  return r;
}

bool has_gates(const RunFiles& r) {
  return std::any_of(r.metrics.begin(), r.metrics.end(), [](const json& m) { return m.contains("open_prob"); });
}

// "train", "prune", "profile" or "compare"; "" when the directory is none of them.
std::string run_kind(const RunFiles& r) {
  if (r.results.is_object()) return "compare";
  if (has_gates(r)) return "prune";
  if (!r.metrics.empty()) return "train";
  if (r.costs.is_object()) return "profile";
  return "";
}

// j[key] when it is a finite number.
bool number_at(const json& j, const char* key, double& v) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return false;
  v = it->get<double>();
  return std::isfinite(v);
}

// ---- HTML pieces ----

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string fmt(const char* format, double v) {
  char out[64];
  std::snprintf(out, sizeof out, format, v);
  return out;
}

std::string note(const std::string& text) { return "<p class=\"note\">" + escape(text) + "</p>\n"; }

// A table; the cells are text (escaped here), numbers right-aligned by the stylesheet.
std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream html;
  html << "<table>\n<tr>";
  for (const std::string& h : head) html << "<th>" << escape(h) << "</th>";
  html << "</tr>\n";
  for (const auto& row : rows) {
    html << "<tr>";
    for (const std::string& cell : row) html << "<td>" << escape(cell) << "</td>";
    html << "</tr>\n";
  }
  html << "</table>\n";
  return html.str();
}

std::string figure(const std::string& svg, const std::string& caption) {
  return "<figure>\n" + svg + "<figcaption>" + escape(caption) + "</figcaption>\n</figure>\n";
}

// A section: its heading and body. A body that throws (a file whose
// contents are not what headcount writes) is replaced by a line saying so.
std::string section(const std::string& heading, const std::function<std::string()>& body) {
  std::string html;
  try {
    html = body();
  } catch (const std::exception& e) {
    html = note(std::string("could not draw this section: ") + e.what());
  }
  return "<section>\n<h2>" + escape(heading) + "</h2>\n" + html + "</section>\n";
}

// ---- train and prune runs: metrics.jsonl ----

// Training loss as the mean over each band of consecutive logged steps (at
// most 100 bands: one point per step is noise at this scale), validation
// loss at every evaluation.
std::string learning_curves(const RunFiles& r) {
  std::vector<Point> train, valid;
  for (const json& m : r.metrics) {
    double step = 0, v = 0;
    if (!number_at(m, "step", step)) continue;
    if (number_at(m, "loss", v)) train.push_back(Point(step, v));
    if (number_at(m, "valid_loss", v)) valid.push_back(Point(step, v));
  }
  if (train.empty() && valid.empty()) return note("metrics.jsonl has no loss to plot.");
  const size_t band = (train.size() + 99) / 100;
  Series banded{"training loss (mean of " + std::to_string(band) + " steps)", {}};
  for (size_t i = 0; i < train.size(); i += band) {
    const size_t end = std::min(train.size(), i + band);
    double x = 0, y = 0;
    for (size_t k = i; k < end; ++k) x += train[k].x, y += train[k].y;
    banded.points.push_back(Point(x / double(end - i), y / double(end - i)));
  }
  std::vector<Series> series;
  if (!banded.points.empty()) series.push_back(banded);
  if (!valid.empty()) series.push_back({"validation loss", valid});
  std::string html = figure(line_plot("learning curves", "step", "loss (nats per token)", series, /*integer_x=*/true),
                            "Loss per token in nats (divide by ln 2 = 0.693 for bits).");
  if (valid.empty()) html += note("No validation loss was logged (the config's eval_every).");
  return html;
}

// A pruning run's head counts over the steps: the expected number of open
// heads (the sum of the open probabilities, which is the expected L0 norm),
// the heads kept, the target.
std::string head_counts(const RunFiles& r, const std::vector<int64_t>& steps,
                        const std::vector<std::vector<std::vector<double>>>& probs) {
  Series expected{"expected open heads", {}}, kept{"heads kept (gate readout)", {}},
      target{"target heads", {}};
  for (size_t i = 0; i < steps.size(); ++i) {
    double open = 0;
    for (const auto& layer : probs[i])
      for (double p : layer) open += p;
    expected.points.push_back(Point(double(steps[i]), open));
  }
  for (const json& m : r.metrics) {
    double step = 0, v = 0;
    if (!number_at(m, "step", step)) continue;
    if (number_at(m, "kept_heads", v)) kept.points.push_back(Point(step, v));
    if (number_at(m, "target_heads", v)) target.points.push_back(Point(step, v));
  }
  std::vector<Series> series;
  for (Series* s : {&expected, &kept, &target}) {
    // A point per logged step would be thousands of dots: keep at most 200, evenly spaced.
    const size_t stride = (s->points.size() + 199) / 200;
    Series thin{s->name, {}};
    for (size_t i = 0; i < s->points.size(); i += stride) thin.points.push_back(s->points[i]);
    if (!thin.points.empty()) series.push_back(thin);
  }
  if (series.empty()) return "";
  return figure(line_plot("heads over the pruning steps", "step", "heads", series, /*integer_x=*/true),
                "Expected open heads: the sum of the gates' P(open), what a penalty on the gates acts on; the readout "
                "keeps whole heads.");
}

// The last logged values and the best validation loss.
std::string final_metrics(const RunFiles& r) {
  std::vector<std::vector<std::string>> rows;
  const json& end = r.metrics.back();
  double v = 0, best = 1e300;
  if (number_at(end, "step", v)) rows.push_back({"last logged step", fmt("%.0f", v)});
  if (number_at(end, "loss", v)) rows.push_back({"training loss at that step (nats/token)", fmt("%.4f", v)});
  std::vector<double> tok_s;
  for (const json& m : r.metrics) {
    if (number_at(m, "valid_loss", v)) best = std::min(best, v);
    if (number_at(m, "tok_s", v)) tok_s.push_back(v);
  }
  for (auto it = r.metrics.rbegin(); it != r.metrics.rend(); ++it)
    if (number_at(*it, "valid_loss", v)) {
      rows.push_back({"last validation loss (nats/token)", fmt("%.4f", v) + " = " + fmt("%.4f", v / std::log(2.0)) + " bits"});
      break;
    }
  if (best < 1e300)
    rows.push_back({"best validation loss (nats/token)", fmt("%.4f", best) + " = " + fmt("%.4f", best / std::log(2.0)) + " bits"});
  if (!tok_s.empty()) {
    std::nth_element(tok_s.begin(), tok_s.begin() + tok_s.size() / 2, tok_s.end());
    rows.push_back({"training speed, median over the logged steps (tokens/s)", fmt("%.0f", tok_s[tok_s.size() / 2])});
  }
  if (number_at(end, "kept_heads", v)) rows.push_back({"heads kept at the end", fmt("%.0f", v)});
  if (r.choose.is_object())
    rows.push_back({"pruning method", r.choose.value("method", std::string("?")) + ", budget " +
                                          r.choose.value("budget", json("?")).dump() + " of " +
                                          r.choose.value("heads", json("?")).dump() + " heads"});
  return table({"metric", "value"}, rows);
}

// The open probabilities of the logged lines, as [step][layer][head]; lines
// whose shape differs from the first are refused by name.
void gate_history(const RunFiles& r, std::vector<int64_t>& steps, std::vector<std::vector<std::vector<double>>>& probs) {
  for (const json& m : r.metrics) {
    if (!m.contains("open_prob")) continue;
    std::vector<std::vector<double>> p = m["open_prob"].get<std::vector<std::vector<double>>>();
    if (!probs.empty()) {
      check(p.size() == probs[0].size(), "open_prob changes its number of layers between lines");
      for (size_t l = 0; l < p.size(); ++l)
        check(p[l].size() == probs[0][l].size(), "open_prob changes its heads in layer " + std::to_string(l));
    }
    check(!p.empty(), "open_prob is empty");
    steps.push_back(m.value("step", int64_t{0}));
    probs.push_back(std::move(p));
  }
}

std::string gates(const RunFiles& r) {
  std::vector<int64_t> steps;
  std::vector<std::vector<std::vector<double>>> probs;
  gate_history(r, steps, probs);
  const size_t columns = 150;
  return head_counts(r, steps, probs) +
         figure(step_heatmap("P(head open) over the pruning steps", steps, probs, 0, 1, "P(open)", columns),
                "Each row is a head, each column a logged step (at most " + std::to_string(columns) + " of the " +
                    std::to_string(probs.size()) + ", evenly picked); dark = the gate is open.") +
         figure(head_grid("P(head open) at step " + std::to_string(steps.back()), probs.back(), "P(open)", 1.0),
                "The gates at the last logged step.");
}

// ---- profile runs: costs.json ----

// Each head's marginal cost (its layer's fitted slope) for `mode` "train" or "infer".
std::vector<std::vector<double>> marginal_costs(const json& costs, const std::string& mode) {
  std::vector<std::vector<double>> grid;
  for (const json& layer : costs.at("sweep")) {
    const std::vector<double> heads = layer.at("heads").get<std::vector<double>>();
    const double per_head_ms = layer.at(mode + "_fit").at("b").get<double>() * 1e3;
    const double h = heads.empty() ? 0 : *std::max_element(heads.begin(), heads.end());
    grid.push_back(std::vector<double>(static_cast<size_t>(h), per_head_ms));
  }
  return grid;
}

// Measured time per layer and part (forward + backward), as stacked bars.
std::string parts_bars(const json& costs) {
  std::map<int, std::map<std::string, double>> by_layer;
  std::vector<std::string> parts;
  for (const json& m : costs.at("measured")) {
    const std::string region = m.at("region").get<std::string>();
    const size_t slash = region.find('/');
    if (region.rfind("layer", 0) != 0 || slash == std::string::npos) continue;
    const std::string part = region.substr(slash + 1);
    if (std::find(parts.begin(), parts.end(), part) == parts.end()) parts.push_back(part);
    by_layer[std::stoi(region.substr(5, slash - 5))][part] +=
        (m.at("forward_s").get<double>() + m.at("backward_s").get<double>()) * 1e3;
  }
  if (by_layer.empty()) return "";
  std::vector<std::string> bars;
  std::vector<std::vector<double>> values;
  for (const auto& layer : by_layer) {
    bars.push_back("layer " + std::to_string(layer.first));
    values.emplace_back();
    for (const std::string& p : parts) values.back().push_back(layer.second.count(p) ? layer.second.at(p) : 0.0);
  }
  return figure(stacked_bars("measured time of each part per training step", "ms per step (forward + backward)", bars,
                             parts, values),
                "The op profiler's wall time, summed by the region each op ran in.");
}

std::string head_costs(const RunFiles& r) {
  const json& c = r.costs;
  std::string html = figure(head_grid("marginal cost of each head: training step", marginal_costs(c, "train"), "ms per step"),
                            "What one more head of that layer costs a training step (the slope of the layer's sweep).");
  html += figure(head_grid("marginal cost of each head: inference forward", marginal_costs(c, "infer"), "ms per forward"),
                 "The same for one inference forward at the profiled batch.");
  html += parts_bars(c);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"whole model, every head", fmt("%.3f", c.value("full_train_s", 0.0) * 1e3), "",
                  fmt("%.3f", c.value("full_infer_s", 0.0) * 1e3), ""});
  const json& p = c.value("prediction", json());
  if (p.is_object())
    rows.push_back({"heads per layer " + p.at("heads_per_layer").dump(), fmt("%.3f", p.at("train_measured_s").get<double>() * 1e3),
                    fmt("%.3f", p.at("train_predicted_s").get<double>() * 1e3),
                    fmt("%.3f", p.at("infer_measured_s").get<double>() * 1e3),
                    fmt("%.3f", p.at("infer_predicted_s").get<double>() * 1e3)});
  return html + table({"model", "train step: measured ms", "predicted ms", "inference: measured ms", "predicted ms"}, rows) +
         note("Batch " + c.value("batch", json("?")).dump() + ", segment " + c.value("seg_len", json("?")).dump() +
              ", memory " + c.value("mem_len", json("?")).dump() + ".");
}

// ---- compare runs: results.json ----

// The summary rows next to their model's dense row: loss and speed change.
std::string compare_table(const json& summary) {
  std::map<std::string, json> dense;
  for (const json& s : summary)
    if (s.at("method") == "dense") dense[s.at("model").get<std::string>()] = s;
  const double ln2 = std::log(2.0);
  std::vector<std::vector<std::string>> rows;
  for (const json& s : summary) {
    const double bits = s.at("valid_loss").get<double>() / ln2, tok_s = s.at("tok_s").get<double>();
    const auto d = dense.find(s.at("model").get<std::string>());
    std::string delta = "-", speed = "-";
    if (d != dense.end() && s.at("method") != "dense") {
      delta = fmt("%+.4f", bits - d->second.at("valid_loss").get<double>() / ln2);
      speed = fmt("%.2fx", tok_s / d->second.at("tok_s").get<double>());
    }
    rows.push_back({s.at("model").get<std::string>(), s.at("method").get<std::string>(),
                    fmt("%.2f", s.at("budget").get<double>()), s.at("seeds").dump(), fmt("%.1f", s.at("heads").get<double>()),
                    fmt("%.0f", s.at("parameters").get<double>()),
                    fmt("%.4f", bits) + " (" + fmt("%.4f", s.at("valid_loss_min").get<double>() / ln2) + "-" +
                        fmt("%.4f", s.at("valid_loss_max").get<double>() / ln2) + ")",
                    delta, fmt("%.0f", tok_s), speed});
  }
  return table({"model", "method", "budget", "seeds", "heads", "non-embedding parameters",
                "valid bits/token, mean (min-max)", "vs dense, bits", "inference tok/s", "vs dense, speed"},
               rows);
}

// Validation bits against parameters, one curve per model and method from
// its dense point, with the min-max range over seeds as error bars.
std::string compare_plot(const json& summary) {
  const double ln2 = std::log(2.0);
  std::map<std::string, Series> curves;
  auto point = [&](const json& s) {
    return Point(s.at("parameters").get<double>(), s.at("valid_loss").get<double>() / ln2,
                 s.at("valid_loss_min").get<double>() / ln2, s.at("valid_loss_max").get<double>() / ln2);
  };
  for (const json& s : summary)
    if (s.at("method") != "dense") {
      const std::string key = escape(s.at("model").get<std::string>() + " " + s.at("method").get<std::string>());
      curves[key].name = key;
      curves[key].points.push_back(point(s));
    }
  for (const json& d : summary)
    if (d.at("method") == "dense")
      for (auto& curve : curves)
        if (curve.first.rfind(escape(d.at("model").get<std::string>()) + " ", 0) == 0) curve.second.points.push_back(point(d));
  std::vector<Series> series;
  for (const auto& curve : curves) series.push_back(curve.second);
  if (series.empty()) return note("results.json has no pruned rows to plot.");
  return figure(line_plot("validation bits per token against non-embedding parameters", "non-embedding parameters",
                          "valid bits per token", series),
                "Each curve starts at its dense model; error bars: the min-max range over seeds.");
}

std::string compare_section(const RunFiles& r) {
  const json& summary = r.results.at("summary");
  check(summary.is_array() && !summary.empty(), "results.json has no summary rows");
  return compare_table(summary) + compare_plot(summary);
}

// ---- every run: the config ----

// last.json's config as key = value pairs, three pairs to a row.
std::string config_table(const RunFiles& r) {
  const json& config = r.last.at("config");
  std::vector<std::vector<std::string>> rows;
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (rows.empty() || rows.back().size() == 6) rows.emplace_back();
    rows.back().push_back(it.key());
    rows.back().push_back(it->is_string() ? it->get<std::string>() : it->dump());
  }
  while (!rows.empty() && rows.back().size() < 6) rows.back().push_back("");
  return table({"key", "value", "key", "value", "key", "value"}, rows);
}

const char* kStyle = R"(body { font-family: sans-serif; max-width: 1150px; margin: 1em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 2px; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; } th { background: #f3f3f3; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; max-width: 700px; }
.note { color: #8a4b00; } .notes { background: #fff6e5; border: 1px solid #f0c36d; padding: 0.3em 1em; }
)";

std::string page(const RunFiles& r, const std::string& kind) {
  std::vector<std::string> notes = r.notes;
  if ((kind == "train" || kind == "prune") && !r.last.is_object())
    notes.push_back(r.dir + "/last.json is missing: no config table");
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>headcount report: "
       << escape(r.dir) << "</title>\n<style>\n" << kStyle << "</style>\n</head>\n<body>\n<h1>headcount report: "
       << escape(r.dir) << "</h1>\n<p>A " << kind << " run.</p>\n";
  if (!notes.empty()) {
    html << "<div class=\"notes\"><p>Missing or left out:</p><ul>\n";
    for (const std::string& n : notes) html << "<li>" << escape(n) << "</li>\n";
    html << "</ul></div>\n";
  }
  if (!r.metrics.empty()) {
    html << section("Final metrics", [&] { return final_metrics(r); });
    html << section("Learning curves", [&] { return learning_curves(r); });
  }
  if (kind == "prune") html << section("Gates", [&] { return gates(r); });
  if (r.costs.is_object()) html << section("Head costs (profile)", [&] { return head_costs(r); });
  if (r.results.is_object()) html << section("Dense against pruned (compare)", [&] { return compare_section(r); });
  if (r.last.is_object()) html << section("Config (last.json)", [&] { return config_table(r); });
  html << "</body>\n</html>\n";
  return html.str();
}

}  // namespace

int report_command(const CommandLine& cl) {
  const std::string dir = cl.get("run", "");
  check(!dir.empty(), "headcount report: RUN_DIR is required (headcount report RUN_DIR)");
  check(fs::is_directory(dir), "headcount report: " + dir + " is not a directory");
  const RunFiles r = read_run(dir);
  const std::string kind = run_kind(r);
  std::string why;
  for (const std::string& n : r.notes) why += "; " + n;
  check(!kind.empty(), dir + ": no metrics.jsonl, costs.json or results.json with anything in it, so not a train, prune, "
                             "profile or compare run directory" + why);
  const std::string out = cl.get("out", dir + "/report.html");
  safetensors::write_file_atomically(out, page(r, kind));
  std::printf("wrote %s (a %s run)\n", out.c_str(), kind.c_str());
  return 0;
}

}  // namespace hc
