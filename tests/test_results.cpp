// `make results`: the docs' generated tables and plots equal the data they
// come from (tools/results/render.py --check), a doc that differs is caught,
// and the median interval that every timing comparison reports.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/bench_stats.h"
#include "test_util.h"

using namespace hc;
namespace fs = std::filesystem;

namespace {

const std::string kRender = "/usr/bin/python3 " HEADCOUNT_SOURCE_DIR "/tools/results/render.py";

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A copy of the repository's docs and their data (README.md, docs/*.md,
// docs/img, docs/data) under dir, for render.py --root.
void copy_docs(const test::TempDir& dir) {
  const fs::path src = HEADCOUNT_SOURCE_DIR, dst = dir.path();
  fs::create_directories(dst / "docs");
  fs::copy_file(src / "README.md", dst / "README.md");
  for (const auto& e : fs::directory_iterator(src / "docs"))
    if (e.path().extension() == ".md") fs::copy_file(e.path(), dst / "docs" / e.path().filename());
  fs::copy(src / "docs" / "data", dst / "docs" / "data", fs::copy_options::recursive);
  fs::copy(src / "docs" / "img", dst / "docs" / "img", fs::copy_options::recursive);
}

}  // namespace

TEST_CASE("results: every generated table and plot in the docs equals what its data renders") {
  std::string out;
  const int rc = test::run_command("cd " HEADCOUNT_SOURCE_DIR " && " + kRender + " --check 2>&1", out);
  CHECK_MESSAGE(rc == 0, "the docs differ from docs/data; run python3 tools/results/render.py:\n" << out);
}

TEST_CASE("results: every data file carries its provenance, and the data stays small") {
  // The form tools/results/meta.py writes: what was measured, by which
  // command, at which commit, when, on which machine; and rows.
  uintmax_t bytes = 0;
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(HEADCOUNT_SOURCE_DIR "/docs/data")) {
    if (!e.is_regular_file()) continue;
    CAPTURE(e.path().string());
    CHECK(e.path().extension() == ".json");  // summaries and per-seed rows, not logs
    bytes += e.file_size();
    ++files;
    const nlohmann::json j = nlohmann::json::parse(read(e.path()));
    for (const char* key : {"stage", "commit", "command", "date", "machine"}) CHECK(j["meta"].contains(key));
    CHECK(e.path().parent_path().filename() == j["meta"]["stage"].get<std::string>());
    CHECK(j["meta"]["commit"].get<std::string>().size() >= 7);
    CHECK(j["rows"].is_array());
    CHECK(!j["rows"].empty());
  }
  CHECK(files >= 3);  // at least the H200 runs, which no machine here can measure again
  CHECK(bytes < 2u * 1024 * 1024);
}

TEST_CASE("results: a changed number in a generated table, changed data, or a changed plot fails the check") {
  test::TempDir dir;
  copy_docs(dir);
  std::string out;
  // The copy as it is passes: the failures below come from the edits.
  REQUIRE_MESSAGE(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 0, out);

  SUBCASE("a digit inside a generated block of docs/results.md") {
    const fs::path doc = fs::path(dir.path()) / "docs" / "results.md";
    std::string text = read(doc);
    const size_t block = text.find("<!-- generated: gpu_train_step -->");
    REQUIRE(block != std::string::npos);
    const size_t digit = text.find_first_of("0123456789", block + 40);
    REQUIRE(digit < text.find("<!-- end generated: gpu_train_step -->"));
    text[digit] = text[digit] == '9' ? '8' : char(text[digit] + 1);
    std::ofstream(doc) << text;
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 1);
    CHECK(out.find("docs/results.md") != std::string::npos);
    // Rendering again restores the doc, and the check passes.
    REQUIRE(test::run_command(kRender + " --root " + dir.path() + " 2>&1", out) == 0);
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 0);
  }
  SUBCASE("a data file that no longer matches the doc") {
    const fs::path data = fs::path(dir.path()) / "docs" / "data" / "gpu" / "h200-run3.json";
    nlohmann::json j = nlohmann::json::parse(read(data));
    for (auto& r : j["rows"])
      if (r["kind"] == "train_step") r["eager_ms"] = r["eager_ms"].get<double>() + 1.0;
    std::ofstream(data) << j.dump(1);
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 1);
    CHECK(out.find("eager") != std::string::npos);  // the diff shows the changed table
  }
  SUBCASE("a plot: rendered from its data, and checked like a table") {
    // Compare data of two seeds (made up: the renderer's input form), so
    // that the compare block draws its plots with error bars.
    nlohmann::json rows = nlohmann::json::array();
    for (int seed : {1, 2})
      for (const char* model : {"allatt", "txl"}) {
        rows.push_back({{"seed", seed}, {"model", model}, {"method", "dense"}, {"budget", 1.0}, {"heads", 16},
                        {"parameters", 461312}, {"valid_loss", 1.49}, {"tok_s", 40000.0}});
        rows.push_back({{"seed", seed}, {"model", model}, {"method", "taylor"}, {"budget", 0.5}, {"heads", 8},
                        {"parameters", 231000}, {"valid_loss", 1.7 + 0.01 * seed}, {"tok_s", 70000.0}});
      }
    const nlohmann::json machine = {{"cpu", "test CPU"}, {"cpu_id", "family 0 model 0"}, {"threads", 2},
                                    {"fma_peak_gflops", {{"one_core", 100.0}, {"all_cores", 200.0}}},
                                    {"sgemm_gflops", {{"one_core", 80.0}, {"all_cores", 150.0}}}};
    fs::create_directories(fs::path(dir.path()) / "docs" / "data" / "compare");
    std::ofstream(fs::path(dir.path()) / "docs" / "data" / "compare" / "compare.json")
        << nlohmann::json{{"meta", {{"stage", "compare"}, {"commit", "0123456789"}, {"command", "headcount compare"},
                                    {"date", "2026-12-01"}, {"machine", machine}}},
                          {"rows", rows}}
               .dump();
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 1);  // the doc is stale
    REQUIRE(test::run_command(kRender + " --root " + dir.path() + " 2>&1", out) == 0);
    const fs::path plot = fs::path(dir.path()) / "docs" / "img" / "results-compare-params.svg";
    REQUIRE(fs::exists(plot));
    std::string svg = read(plot);
    CHECK(svg.find("non-embedding parameters (thousands)") != std::string::npos);  // a labelled axis with its unit
    CHECK(svg.find("<path d=\"M") != std::string::npos);  // an error bar: two seeds differ at keep 0.5
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 0);
    svg.replace(svg.find("<circle"), 7, "<circle opacity=\"0.5\"");
    std::ofstream(plot) << svg;
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) == 1);
    CHECK(out.find("results-compare-params.svg") != std::string::npos);
  }
  SUBCASE("a speedup above the FLOP-ideal is flagged and explained from its parts") {
    // One pruned row whose whole interval lies above its ideal, with the
    // profiler's parts (made up: the renderer's input form): the softmax
    // lost half its FLOPs but two thirds of its time.
    const nlohmann::json parts = nlohmann::json::array(
        {{{"part", "softmax"}, {"dense_ms", 3.0}, {"pruned_ms", 1.0}, {"dense_flops", 2e6}, {"pruned_flops", 1e6},
          {"shrinks", true}},
         {{"part", "output_layer"}, {"dense_ms", 1.0}, {"pruned_ms", 1.0}, {"dense_flops", 8e7},
          {"pruned_flops", 8e7}, {"shrinks", false}}});
    const nlohmann::json rows = nlohmann::json::array(
        {{{"model", "dense"}, {"heads", 16}, {"batch", 4}, {"ms", 4.0}, {"speedup", 1.0}, {"speedup_lo", 1.0},
          {"speedup_hi", 1.0}, {"interval_coverage", 1.0}, {"pairs", 21}, {"ideal", 1.0}, {"above_ideal", false}},
         {{"model", "keep 0.5"}, {"heads", 8}, {"batch", 4}, {"ms", 2.0}, {"speedup", 2.0}, {"speedup_lo", 1.9},
          {"speedup_hi", 2.1}, {"interval_coverage", 0.97}, {"pairs", 21}, {"ideal", 1.01}, {"above_ideal", true},
          {"explain", {{"flops_removed", 0.0122}, {"time_removed", 0.5}, {"shrinking_parts_gflops", 0.7},
                       {"fixed_parts_gflops", 80.0}, {"parts", parts}}}}});
    const nlohmann::json machine = {{"cpu", "test CPU"}, {"cpu_id", "family 0 model 0"}, {"threads", 2},
                                    {"fma_peak_gflops", {{"one_core", 100.0}, {"all_cores", 200.0}}},
                                    {"sgemm_gflops", {{"one_core", 80.0}, {"all_cores", 150.0}}}};
    fs::create_directories(fs::path(dir.path()) / "docs" / "data" / "bench");
    std::ofstream(fs::path(dir.path()) / "docs" / "data" / "bench" / "bench.json")
        << nlohmann::json{{"meta", {{"stage", "bench"}, {"commit", "0123456789"}, {"command", "headcount bench"},
                                    {"date", "2026-12-01"}, {"machine", machine}}},
                          {"rows", rows}}
               .dump();
    REQUIRE(test::run_command(kRender + " --root " + dir.path() + " 2>&1", out) == 0);
    const std::string doc = read(fs::path(dir.path()) / "docs" / "results.md");
    const std::string block = doc.substr(doc.find("<!-- generated: bench -->"));
    CHECK(block.find("2.00x (above ideal)") != std::string::npos);
    CHECK(block.find("1.90-2.10x") != std::string::npos);
    CHECK(block.find("the heads removed 1% of the FLOPs but 50% of the time") != std::string::npos);
    CHECK(block.find("softmax (time 3.00x, FLOPs 2.00x)") != std::string::npos);
    CHECK(block.find("output_layer (time") == std::string::npos);  // its time did not shrink
  }
  SUBCASE("an unknown block name is an error that names it") {
    const fs::path doc = fs::path(dir.path()) / "docs" / "results.md";
    std::ofstream(doc, std::ios::app) << "\n<!-- generated: no_such_table -->\n<!-- end generated: no_such_table -->\n";
    CHECK(test::run_command(kRender + " --check --root " + dir.path() + " 2>&1", out) != 0);
    CHECK(out.find("no_such_table") != std::string::npos);
  }
}

TEST_CASE("results: the median's interval from order statistics") {
  SUBCASE("binomial probabilities") {
    CHECK(binomial_half_cdf(10, 1) == doctest::Approx(11.0 / 1024).epsilon(1e-12));
    CHECK(binomial_half_cdf(10, -1) == 0.0);
    CHECK(binomial_half_cdf(10, 10) == 1.0);
    CHECK(binomial_half_cdf(3, 1) == doctest::Approx(0.5).epsilon(1e-12));
  }
  SUBCASE("ten values: the 2nd smallest and 2nd largest, 97.9% coverage") {
    const MedianInterval m = median_interval({10, 1, 9, 2, 8, 3, 7, 4, 6, 5});
    CHECK(m.n == 10);
    CHECK(m.median == 5.5);
    CHECK(m.lo == 2);
    CHECK(m.hi == 9);
    CHECK(m.coverage == doctest::Approx(1 - 2 * 11.0 / 1024).epsilon(1e-12));
  }
  SUBCASE("twenty values: the 6th smallest and 6th largest") {
    std::vector<double> v;
    for (int i = 20; i >= 1; --i) v.push_back(i);
    const MedianInterval m = median_interval(v);
    CHECK(m.lo == 6);
    CHECK(m.hi == 15);
    CHECK(m.coverage >= 0.95);
    CHECK(1 - 2 * binomial_half_cdf(20, 6) < 0.95);  // the next pair inwards would not cover
  }
  SUBCASE("under six values: the whole range, with its lower coverage") {
    const MedianInterval m = median_interval({3, 1, 2, 5, 4});
    CHECK(m.median == 3);
    CHECK(m.lo == 1);
    CHECK(m.hi == 5);
    CHECK(m.coverage == doctest::Approx(1 - 2.0 / 32).epsilon(1e-12));
    const MedianInterval one = median_interval({7});
    CHECK((one.median == 7 && one.lo == 7 && one.hi == 7));
  }
  SUBCASE("tools/results/stats.py computes the same") {
    for (int n : {1, 2, 5, 6, 9, 10, 17, 40}) {
      CAPTURE(n);
      std::vector<double> v;
      std::string args;
      for (int i = 0; i < n; ++i) {
        v.push_back(1.0 + 0.01 * double((i * 37) % n));
        args += " " + std::to_string(v.back());
      }
      std::string out;
      REQUIRE(test::run_command("/usr/bin/python3 " HEADCOUNT_SOURCE_DIR "/tools/results/stats.py" + args, out) == 0);
      const nlohmann::json py = nlohmann::json::parse(out);
      const MedianInterval m = median_interval(v);
      CHECK(py["median"].get<double>() == doctest::Approx(m.median).epsilon(1e-12));
      CHECK(py["lo"].get<double>() == doctest::Approx(m.lo).epsilon(1e-12));
      CHECK(py["hi"].get<double>() == doctest::Approx(m.hi).epsilon(1e-12));
      CHECK(py["coverage"].get<double>() == doctest::Approx(m.coverage).epsilon(1e-12));
    }
  }
}
