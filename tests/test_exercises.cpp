// docs/exercises.md cannot go stale: this file reads the page, runs the
// commands of its `sh` blocks, and checks what each exercise says the reader
// should see.
//
// The page is the only copy of the commands. A command is a line of an `sh`
// block that starts with `build/headcount`; the section it is in (## Setup,
// ## Exercise N: ...) says which exercise it belongs to. Each runs as the page
// writes it except for three things, which the page states too: `runs/ex/`
// becomes a temporary folder, a command that reads configs/moby-char-tiny.json
// gets a corpus of a few kilobytes instead of Moby-Dick (the suite has no
// network), and every command gets --threads 2. The checks pick a command's
// output by a piece of its text, so a command edited on the page without its
// check fails here rather than passing quietly.
//
// The effects checked are those the code produces by construction (a ramp's
// values, a readout's count, a multiplier's growth, a folded factor, a FLOP
// formula) plus three that depend on the trained weights: a closed start
// keeps fewer heads, output scaling makes closing one head cost less, and
// top-K's short run ends below L0's. Each held on the suite's corpus and on
// Moby-Dick when written; the page says that the second is not a law and the
// third is about short runs. Nothing here reads a clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace hc;

namespace {

const fs::path kRoot = HEADCOUNT_SOURCE_DIR;

// The commands of each exercise, as the page writes them; 0 is the setup.
std::map<int, std::vector<std::string>> parse_exercises(const std::string& page) {
  static const std::regex exercise(R"(^## Exercise ([0-9]+): )");
  std::map<int, std::vector<std::string>> out;
  std::istringstream in(page);
  int current = -1;  // before the first section: no exercise
  bool in_sh = false, in_other = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      if (in_sh || in_other) in_sh = in_other = false;
      else if (line == "```sh") in_sh = true;
      else in_other = true;
      continue;
    }
    if (in_sh || in_other) {
      if (in_sh && current >= 0 && line.rfind("build/headcount ", 0) == 0) out[current].push_back(line);
      continue;
    }
    std::smatch m;
    if (line == "## Setup: a dense model to prune") current = 0;
    else if (std::regex_search(line, m, exercise)) current = std::stoi(m[1]);
    else if (line.rfind("## ", 0) == 0) current = -1;
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// A page command as the suite runs it (without the leading build/headcount).
std::string as_run(std::string command, const std::string& runs, const std::string& corpus) {
  command = command.substr(std::string("build/headcount ").size());
  const bool reads_corpus = command.find("configs/moby-char-tiny.json") != std::string::npos;
  replace_all(command, "runs/ex/", runs + "/");
  replace_all(command, " configs/", " " + std::string(HEADCOUNT_SOURCE_DIR) + "/configs/");
  if (reads_corpus) command += " --set corpus=" + corpus;
  return command + " --threads 2";
}

struct Ran {
  std::string command;  // as the page writes it
  int status = 0;
  std::string output;
};

// The exercises, run once each, on demand, in one temporary folder shared by
// the whole file (every exercise prunes the setup's dense model).
class Workshop {
 public:
  static Workshop& get() {
    static Workshop w;
    return w;
  }
  const std::map<int, std::vector<std::string>>& exercises() const { return exercises_; }
  std::string path(const std::string& under_runs) const { return dir_.file("runs-ex/" + under_runs); }

  // Runs exercise n (and the setup before it) unless it has run.
  const std::vector<Ran>& run(int n) {
    if (n != 0) run(0);
    auto done = ran_.find(n);
    if (done != ran_.end()) return done->second;
    std::vector<Ran>& out = ran_[n];
    const auto it = exercises_.find(n);
    if (it == exercises_.end()) return out;
    for (const std::string& c : it->second) {
      Ran r;
      r.command = c;
      r.status = test::run_headcount(as_run(c, dir_.file("runs-ex"), corpus_), r.output);
      out.push_back(r);
      if (r.status != 0) break;  // the rest depend on it
    }
    return out;
  }

  // The command of exercise n whose page text contains `part`, after
  // checking that every command of the exercise succeeded.
  const Ran& find(int n, const std::string& part) {
    const std::vector<Ran>& rs = run(n);
    for (const Ran& r : rs) REQUIRE_MESSAGE(r.status == 0, "docs/exercises.md: " << r.command << "\n" << r.output);
    for (const Ran& r : rs)
      if (r.command.find(part) != std::string::npos) return r;
    FAIL("docs/exercises.md: exercise " << n << " has no command containing '" << part << "'");
    return rs.front();  // not reached
  }

 private:
  Workshop() : corpus_(test::write_tiny_corpus(dir_)), exercises_(parse_exercises(test::read_text(kRoot / "docs/exercises.md"))) {
    fs::create_directories(dir_.file("runs-ex"));
  }
  test::TempDir dir_;
  std::string corpus_;
  std::map<int, std::vector<std::string>> exercises_;
  std::map<int, std::vector<Ran>> ran_;
};

// The JSON object a command printed last (eval --json).
json last_json(const std::string& output) {
  std::istringstream in(output);
  json found;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') found = json::parse(line);
  REQUIRE_MESSAGE(found.is_object(), "no JSON line in\n" << output);
  return found;
}

// The three numbers after `label` in a compact table ("heads   4   3   0.750").
std::vector<double> table_row(const std::string& output, const std::string& label) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(label, 0) != 0) continue;
    std::istringstream row(line.substr(label.size()));
    std::vector<double> v(3);
    row >> v[0] >> v[1] >> v[2];
    if (row) return v;
  }
  FAIL("no row '" << label << "' in\n" << output);
  return {};
}

double num(const json& m, const char* key) {
  REQUIRE_MESSAGE(m.contains(key), "no " << key << " in " << m.dump());
  return m[key].get<double>();
}

}  // namespace

TEST_CASE("exercises: the page has a setup and 6 to 10 numbered exercises, each with commands") {
  const auto ex = Workshop::get().exercises();
  REQUIRE(ex.count(0) == 1);
  int expected = 1;
  for (const auto& e : ex) {
    if (e.first == 0) continue;
    CHECK_MESSAGE(e.first == expected, "exercise " << e.first << " where " << expected << " was expected");
    CHECK_FALSE(e.second.empty());
    ++expected;
  }
  CHECK(expected - 1 >= 6);
  CHECK(expected - 1 <= 10);
  // The rewriting the page describes, on one of its own lines.
  CHECK(as_run("build/headcount train --config configs/moby-char-tiny.json --set out_dir=runs/ex/dense", "/t", "/c") ==
        "train --config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json --set out_dir=/t/dense --set corpus=/c --threads 2");
}

TEST_CASE("exercises: setup trains the dense model the others prune") {
  Workshop& w = Workshop::get();
  w.find(0, "train");
  const auto m = test::read_metrics(w.path("dense/metrics.jsonl"));
  REQUIRE(m.size() >= 10);
  CHECK(m.back()["loss"].get<double>() < m.front()["loss"].get<double>());
  CHECK(fs::exists(w.path("dense/last.safetensors")));
}

TEST_CASE("exercises 1: gates that start closed keep fewer heads") {
  Workshop& w = Workshop::get();
  w.find(1, "open-start");
  const auto open = test::read_metrics(w.path("open-start/metrics.jsonl"));
  const auto closed = test::read_metrics(w.path("closed-start/metrics.jsonl"));
  REQUIRE(!open.empty());
  REQUIRE(!closed.empty());
  MESSAGE("kept heads: open start " << open.back()["kept_heads"] << ", closed start " << closed.back()["kept_heads"]
                                    << "; first l0 " << open.front()["l0"] << " against " << closed.front()["l0"]);
  CHECK(open.back()["kept_heads"].get<int>() >= 3);  // "3 or 4"
  CHECK(closed.back()["kept_heads"].get<int>() < open.back()["kept_heads"].get<int>());
  CHECK(num(closed.front(), "l0") < num(open.front(), "l0") - 1.0);
}

TEST_CASE("exercises 2: the target ramps down over l0_warmup and the readout lands on exactly K") {
  Workshop& w = Workshop::get();
  w.find(2, "runs/ex/target");
  const auto m = test::read_metrics(w.path("target/metrics.jsonl"));
  REQUIRE(m.size() == 20);
  const double H = 4, K = 1, warmup = 10;
  for (const json& line : m) {
    const double step = line["step"].get<double>();
    CAPTURE(step);
    CHECK(num(line, "target_heads") == doctest::Approx(H - std::min(1.0, step / warmup) * (H - K)));
  }
  for (size_t i = 0; i + 1 < m.size(); ++i) {
    CHECK(m[i]["kept_heads"] == 4);
    CHECK_FALSE(m[i].contains("open_before_readout"));
  }
  CHECK(num(m.back(), "l0") < num(m.front(), "l0"));  // the penalty pulled, a little
  CHECK(m.back()["kept_heads"] == 1);
  CHECK(num(m.back(), "open_before_readout") > 1);  // the readout did the rest
}

TEST_CASE("exercises 3: the Lagrangian multipliers grow while the count is above the target; both modes end at K") {
  Workshop& w = Workshop::get();
  w.find(3, "lagrangian");
  w.find(2, "runs/ex/target");
  const auto lag = test::read_metrics(w.path("lagrangian/metrics.jsonl"));
  const auto quad = test::read_metrics(w.path("target/metrics.jsonl"));
  REQUIRE(lag.size() == 20);
  for (const json& q : quad) {
    CHECK(num(q, "lambda") == 1.0);
    CHECK_FALSE(q.contains("lambda1"));
  }
  int above = 0;
  for (size_t i = 1; i < lag.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE(lag[i].contains("lambda"));
    if (num(lag[i], "l0") <= num(lag[i], "target_heads")) continue;
    ++above;
    CHECK(num(lag[i], "lambda1") > num(lag[i - 1], "lambda1"));
    CHECK(num(lag[i], "lambda2") > num(lag[i - 1], "lambda2"));
  }
  CHECK(above == 19);  // "here every step"
  CHECK(lag.back()["kept_heads"] == 1);
  CHECK(quad.back()["kept_heads"] == 1);
}

TEST_CASE("exercises 4: closing a head costs more without output scaling; the compacted model is the scaled one") {
  Workshop& w = Workshop::get();
  const json dense = last_json(w.find(4, "eval --from runs/ex/dense/").output);
  const json on = last_json(w.find(4, "output_scaling=true").output);
  const json off = last_json(w.find(4, "output_scaling=false").output);
  const json small = last_json(w.find(4, "eval --from runs/ex/one-closed-small").output);
  MESSAGE("valid loss: dense " << dense["loss"] << ", one head closed with scaling " << on["loss"] << ", without "
                               << off["loss"] << ", compacted " << small["loss"]);
  CHECK(dense["heads"] == 4);
  CHECK(on["heads"] == 3);
  CHECK(num(off, "loss") > num(on, "loss"));
  CHECK(small["heads"] == 3);
  CHECK(small["parameters"].get<int64_t>() < dense["parameters"].get<int64_t>());
  CHECK(num(small, "loss") == doctest::Approx(num(on, "loss")).epsilon(1e-5));
}

TEST_CASE("exercises 5: a FLOP budget keeps fewer heads than its fraction") {
  Workshop& w = Workshop::get();
  const std::string prune = w.find(5, "target_flops=0.6").output;
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(prune, m, std::regex(R"(target_flops 0\.600: ([0-9]+) of 4 heads)")), prune);
  const int kept = std::stoi(m[1]);
  CHECK(kept < 0.6 * 4);
  const std::string compact = w.find(5, "compact").output;
  const std::vector<double> heads = table_row(compact, "heads"), flops = table_row(compact, "forward GFLOP per segment");
  CHECK(heads[1] == kept);
  CHECK(flops[2] <= 0.6);
  CHECK(heads[2] < flops[2]);  // heads go faster than FLOPs
}

TEST_CASE("exercises 6: the analytic cost of a head follows its formula as the persistent vectors grow") {
  Workshop& w = Workshop::get();
  w.find(6, "profile-n64");
  const json n16 = json::parse(test::read_text(w.path("profile-n16/costs.json")));
  const json n64 = json::parse(test::read_text(w.path("profile-n64/costs.json")));
  auto part = [](const json& costs, const std::string& name) {
    for (const json& a : costs["analytic"])
      if (a["layer"] == 0 && a["part"] == name) return a["forward_flops"].get<double>();
    FAIL("no analytic part layer 0 " << name);
    return 0.0;
  };
  CHECK(part(n64, "persistent") == 4 * part(n16, "persistent"));
  CHECK(part(n64, "softmax") == 2 * part(n16, "softmax"));
  CHECK(part(n64, "weighted_sum") == 2 * part(n16, "weighted_sum"));
  CHECK(part(n64, "content") == part(n16, "content"));
  // content: 2 B T S D per head, two heads.
  const double B = n16["batch"], T = n16["seg_len"], S = T + n16["mem_len"].get<double>(), D = 16, H = 2;
  CHECK(part(n16, "content") == 2 * B * T * S * D * H);
  CHECK(part(n16, "content") == 131072);  // the number the page quotes
  // Every analytic part of a layer has a measured time beside it.
  for (const json& a : n16["analytic"]) {
    if (a["layer"].get<int>() < 0) continue;
    const std::string region = "layer" + std::to_string(a["layer"].get<int>()) + "/" + a["part"].get<std::string>();
    bool measured = false;
    for (const json& r : n16["measured"]) measured = measured || r["region"] == region;
    CHECK_MESSAGE(measured, region << " has no measured time");
  }
}

TEST_CASE("exercises 7: top-K runs with the ramp's head count at every step and ends below L0's short run") {
  Workshop& w = Workshop::get();
  w.find(7, "--method topk");
  w.find(2, "runs/ex/target");
  const auto topk = test::read_metrics(w.path("topk/metrics.jsonl"));
  const auto l0 = test::read_metrics(w.path("target/metrics.jsonl"));
  REQUIRE(topk.size() == 20);
  REQUIRE(l0.size() == 20);
  const std::vector<int> expected{4, 3, 3, 3, 3, 2, 2, 2, 1, 1};  // the page's sequence, then 1
  for (size_t i = 0; i < topk.size(); ++i) {
    CAPTURE(i);
    CHECK(topk[i]["kept_heads"].get<int64_t>() == std::llround(num(topk[i], "target_heads")));
    CHECK(topk[i]["kept_heads"].get<int>() == (i < expected.size() ? expected[i] : 1));
  }
  MESSAGE("last valid loss: topk " << topk.back()["valid_loss"] << ", l0 " << l0.back()["valid_loss"]);
  CHECK(num(topk.back(), "valid_loss") < num(l0.back(), "valid_loss") - 0.05);
}
