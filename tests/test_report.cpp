// `headcount report`: one HTML page per run directory. The run directories
// here are written by hand, small and with the awkward cases in them (a
// broken line, a missing file, a value to escape); test_profile.cpp and
// test_head_importance.cpp run it on what profile and compare really write.
// The last case opens a page in headless Chromium (tests/browser/).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "app/svg_heatmap.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A pruning run of 2 layers (2 heads, 1 head) over 30 steps: head (0, 1)
// closes, the others stay open; validation every 10 steps; one line cut short.
void write_prune_run(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream m(dir + "/metrics.jsonl");
  for (int step = 1; step <= 30; ++step) {
    const double closing = 1.0 - step / 40.0;  // 0.25 at step 30
    m << R"({"step":)" << step << R"(,"loss":)" << 3.0 - step * 0.05 << R"(,"tok_s":1000,"l0":)" << 2 + closing
      << R"(,"kept_heads":)" << (step < 20 ? 3 : 2) << R"(,"target_heads":2,"open_prob":[[1.0,)" << closing
      << "],[0.5]]" << (step % 10 == 0 ? R"(,"valid_loss":)" + std::to_string(2.5 - step * 0.01) : std::string()) << "}\n";
    if (step == 15) m << R"({"step":15,"loss":)" << "\n";  // a write cut short
  }
  std::ofstream(dir + "/last.json") << R"({"step":30,"config":{"lr":0.001,"out_dir":"runs/a<b","heads":2}})";
  std::ofstream(dir + "/choose.json") << R"({"method":"l0","budget":2,"heads":3})";
}

// A profile's costs.json for 2 layers of 2 heads: 0.5 ms a head in training, 0.25 in inference.
void write_costs(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/costs.json") << R"({"batch":2,"seg_len":4,"mem_len":4,"full_train_s":0.003,"full_infer_s":0.001,
    "sweep":[{"layer":0,"heads":[0,1,2],"train_fit":{"a":0.001,"b":0.0005},"infer_fit":{"a":0.0005,"b":0.00025}},
             {"layer":1,"heads":[0,1,2],"train_fit":{"a":0.001,"b":0.0005},"infer_fit":{"a":0.0005,"b":0.00025}}],
    "measured":[{"region":"layer0/qkv","forward_s":0.001,"backward_s":0.002},{"region":"layer1/qkv","forward_s":0.001,
                 "backward_s":0.002},{"region":"embedding","forward_s":0.001,"backward_s":0.001}],
    "prediction":{"heads_per_layer":[1,2],"train_measured_s":0.0025,"train_predicted_s":0.0026,
                  "infer_measured_s":0.0008,"infer_predicted_s":0.0009}})";
}

// The numbers of an SVG's axis ticks (data-tick="x" or "y"), in order.
std::vector<double> ticks(const std::string& svg, const std::string& axis) {
  const std::regex tick("data-tick=\"" + axis + "\">([-0-9.e+]+)<");
  std::vector<double> out;
  for (std::sregex_iterator it(svg.begin(), svg.end(), tick), end; it != end; ++it) out.push_back(std::stod((*it)[1]));
  return out;
}

// Round ticks: evenly spaced by 1, 2 or 5 times a power of ten.
bool round_steps(const std::vector<double>& t) {
  if (t.size() < 2) return false;
  const double step = t[1] - t[0], power = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double mantissa = step / power;
  bool ok = std::fabs(mantissa - 1) < 1e-6 || std::fabs(mantissa - 2) < 1e-6 || std::fabs(mantissa - 5) < 1e-6;
  for (size_t i = 1; i < t.size(); ++i) ok = ok && std::fabs(t[i] - t[i - 1] - step) < 1e-6 * step;
  return ok;
}

// The label printed in a head grid's cell (layer, head): the text after its rect.
std::string cell_text(const std::string& page, int layer, int head) {
  const std::string rect = "data-layer=\"" + std::to_string(layer) + "\" data-head=\"" + std::to_string(head) + "\" data-value=";
  const size_t at = page.find(rect);
  if (at == std::string::npos) return "";
  const size_t open = page.find('>', page.find("<text", at)) + 1;
  return page.substr(open, page.find("</text>", open) - open);
}

}  // namespace

TEST_CASE("report: a pruning run's page has curves, gates with a colour scale and values, the config, and no script") {
  test::TempDir dir;
  write_prune_run(dir.file("p"));
  std::string out;
  REQUIRE(test::run_headcount("report " + dir.file("p"), out) == 0);
  CHECK(out.find("a prune run") != std::string::npos);
  const std::string page = test::read_text(dir.file("p/report.html"));
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  // Self-contained: no script, nothing loaded from anywhere (the only URL is SVG's namespace).
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("src=") == std::string::npos);
  CHECK(page.find("href=") == std::string::npos);
  CHECK(count(page, "http") == count(page, "xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(page.find("could not draw") == std::string::npos);
  // The cut line is named, not fatal; the config value is escaped.
  CHECK(page.find("1 line(s) are not JSON objects") != std::string::npos);
  CHECK(page.find("runs/a&lt;b") != std::string::npos);
  CHECK(page.find("l0, budget 2 of 3 heads") != std::string::npos);
  // Figures: learning curves, head counts, the gates over steps, the gates at the end.
  CHECK(count(page, "<svg") == 4);
  CHECK(page.find("data-series=\"validation loss\"") != std::string::npos);
  CHECK(count(page, "data-scale=\"colour\"") == 2);  // each heatmap has its scale
  CHECK(count(page, "data-step=\"30\"") == 3);        // the last column of the step heatmap: 3 heads
  CHECK(page.find(R"(data-layer="0" data-head="1" data-step="30" data-value="0.25")") != std::string::npos);
  // The grid of the last step prints each head's value in its cell.
  CHECK(page.find(R"(data-layer="0" data-head="1" data-value="0.25"/>)") != std::string::npos);
  CHECK(cell_text(page, 0, 0) == "1");
  CHECK(cell_text(page, 0, 1) == "0.25");
  CHECK(cell_text(page, 1, 0) == "0.5");
  // Axes: labelled with units, round steps, integer steps.
  CHECK(page.find("loss (nats per token)") != std::string::npos);
  const size_t curves = page.find("<svg"), curves_end = page.find("</svg>", curves);
  const std::string curve_svg = page.substr(curves, curves_end - curves);
  const std::vector<double> x = ticks(curve_svg, "x"), y = ticks(curve_svg, "y");
  CAPTURE(curve_svg);
  CHECK(round_steps(x));
  CHECK(round_steps(y));
  for (double t : x) CHECK(t == std::floor(t));
  // --out puts the page elsewhere.
  REQUIRE(test::run_headcount("report --out " + dir.file("elsewhere.html") + " " + dir.file("p"), out) == 0);
  CHECK(test::read_text(dir.file("elsewhere.html")) == page);
}

TEST_CASE("report: a training run without last.json says what is missing; a profile's costs become head grids") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.file("t"));
  std::ofstream(dir.file("t/metrics.jsonl")) << R"({"step":1,"loss":3.0})" << "\n" << R"({"step":2,"loss":2.5})" << "\n";
  std::string out;
  REQUIRE(test::run_headcount("report " + dir.file("t"), out) == 0);
  const std::string train = test::read_text(dir.file("t/report.html"));
  CHECK(train.find("A train run") != std::string::npos);
  CHECK(train.find("last.json is missing: no config table") != std::string::npos);
  CHECK(train.find("No validation loss was logged") != std::string::npos);
  CHECK(count(train, "<svg") == 1);

  write_costs(dir.file("c"));
  REQUIRE(test::run_headcount("report " + dir.file("c"), out) == 0);
  const std::string costs = test::read_text(dir.file("c/report.html"));
  CHECK(costs.find("A profile run") != std::string::npos);
  CHECK(costs.find("could not draw") == std::string::npos);
  CHECK(count(costs, "data-scale=\"colour\"") == 2);  // training and inference grids
  CHECK(count(costs, "data-head=") == 8);             // 2 grids x 2 layers x 2 heads
  CHECK(cell_text(costs, 1, 1) == "0.5");  // ms per head in training, printed in each cell
  CHECK(cell_text(costs.substr(costs.find("inference forward")), 1, 1) == "0.25");
  CHECK(costs.find("data-part=\"qkv\"") != std::string::npos);
  CHECK(costs.find("<td>heads per layer [1,2]</td><td>2.500</td><td>2.600</td>") != std::string::npos);
}

TEST_CASE("report: an unknown directory is refused with exit status 2; a malformed file costs its section only") {
  test::TempDir dir;
  std::string out;
  CHECK(test::run_headcount("report " + dir.file("none"), out) == 2);
  CHECK(out.find("is not a directory") != std::string::npos);
  CHECK(test::run_headcount("report " + dir.path(), out) == 2);
  CHECK(out.find("not a train, prune, profile or compare run directory") != std::string::npos);
  CHECK(test::run_headcount("report", out) == 2);
  CHECK(out.find("RUN_DIR is required") != std::string::npos);
  CHECK(test::run_headcount("report " + dir.path() + " " + dir.path(), out) == 2);
  CHECK(out.find("unknown argument") != std::string::npos);
  // Nothing but garbage: refused, naming the file.
  std::ofstream(dir.file("metrics.jsonl")) << "garbage\n{\n";
  CHECK(test::run_headcount("report " + dir.path(), out) == 2);
  CHECK(out.find("metrics.jsonl: 2 line(s) are not JSON objects") != std::string::npos);
  // Gates that change shape, a costs.json of the wrong shape: the page is written, those sections say why.
  std::ofstream(dir.file("metrics.jsonl")) << R"({"step":1,"loss":2,"open_prob":[[1.0,0.5]]})" << "\n"
                                           << R"({"step":2,"loss":2,"open_prob":[[1.0]]})" << "\n";
  std::ofstream(dir.file("costs.json")) << R"({"sweep":"none"})";
  std::ofstream(dir.file("results.json")) << "[1,";
  REQUIRE(test::run_headcount("report " + dir.path(), out) == 0);
  const std::string page = test::read_text(dir.file("report.html"));
  CHECK(page.find("could not draw this section: open_prob changes its heads in layer 0") != std::string::npos);
  CHECK(count(page, "could not draw this section") == 2);
  CHECK(page.find("results.json is not a JSON object") != std::string::npos);
}

TEST_CASE("report: a head grid crosses out only a removed head (NaN), never a negative measured cost") {
  // A slope fitted to noisy timings can be negative; it is a value, not a removed head.
  const std::string svg = hc::head_grid("t", {{0.5, -0.25}, {std::nan(""), 1.0}}, "ms");
  size_t crossed = 0;
  for (size_t at = svg.find(">x</text>"); at != std::string::npos; at = svg.find(">x</text>", at + 1)) ++crossed;
  CHECK(crossed == 1);
  CHECK(svg.find(">-0.25</text>") != std::string::npos);
}

TEST_CASE("report: the page renders in headless Chromium: no console error, every figure sized, a screenshot") {
  // What the browser test needs (tools/deps.sh installs all three).
  const std::string browser_dir = HEADCOUNT_SOURCE_DIR "/tests/browser";
  const char* chromium_env = std::getenv("CHROMIUM");
  const std::string chromium = chromium_env ? chromium_env : "/usr/bin/chromium";
  std::string why, out;
  if (test::run_command("command -v node", out) != 0) why = "no node on PATH";
  else if (!std::filesystem::exists(chromium)) why = "no Chromium at " + chromium + " (Debian package chromium)";
  else if (!std::filesystem::exists(browser_dir + "/node_modules/puppeteer-core"))
    why = "no puppeteer-core in tests/browser/node_modules (npm ci --prefix tests/browser)";
  if (!why.empty()) {
    test::skip("the report in headless Chromium", why);
    return;
  }
  test::TempDir dir;
  write_prune_run(dir.file("p"));
  write_costs(dir.file("p"));  // a profile beside it: every kind of figure on one page
  REQUIRE(test::run_headcount("report " + dir.file("p"), out) == 0);
  const std::string page = test::read_text(dir.file("p/report.html"));
  // The screenshot stays in the directory the suite runs in (the build folder), for a person to look at.
  const std::string shot = std::filesystem::absolute("report-browser-test.png").string();
  const int status = test::run_command("node " + browser_dir + "/render.js " + dir.file("p/report.html") + " " + shot + " 2>&1", out);
  CAPTURE(out);
  CHECK(status == 0);
  CHECK(out.find("figures " + std::to_string(count(page, "<svg"))) != std::string::npos);
  CHECK(test::read_text(shot).rfind("\x89PNG", 0) == 0);
  MESSAGE("screenshot: " << shot);
}
