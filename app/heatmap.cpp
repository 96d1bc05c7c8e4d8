// `headcount heatmap`: an SVG picture of a pruning run: one row per head
// (grouped by layer), one column per logged step, each cell shaded by the
// head's probability of being open, P(z != 0), from metrics.jsonl's
// "open_prob". Dark = open, light = closed, with a colour scale.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/svg_heatmap.h"
#include "engine/safetensors.h"

namespace hc {

int heatmap_command(const CommandLine& cl) {
  const std::string metrics = cl.get("metrics", ""), out = cl.get("out", "");
  check(!metrics.empty() && !out.empty(), "headcount heatmap: --metrics FILE and --out FILE.svg are required");
  const int64_t columns = cl.integer("columns");  // >= 1 (app/commands.cpp)
  std::ifstream in(metrics);
  check(static_cast<bool>(in), "headcount heatmap: cannot read " + metrics);
  std::vector<int64_t> steps;
  std::vector<std::vector<std::vector<double>>> probs;  // [step][layer][head]
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    check(!j.is_discarded(), metrics + " line " + std::to_string(line_no) + ": not JSON");
    if (!j.contains("open_prob")) continue;
    steps.push_back(j.value("step", int64_t{0}));
    probs.push_back(j["open_prob"].get<std::vector<std::vector<double>>>());
    check(!probs.back().empty(), metrics + " line " + std::to_string(line_no) + ": open_prob is empty");
    check(probs.back().size() == probs.front().size(),
          metrics + " line " + std::to_string(line_no) + ": the layers change between lines");
    for (size_t l = 0; l < probs.back().size(); ++l)
      check(probs.back()[l].size() == probs.front()[l].size(),
            metrics + " line " + std::to_string(line_no) + ": the heads change between lines");
  }
  check(!probs.empty(), metrics + ": no line has open_prob (is it a pruning run's metrics?)");
  const std::string title = "P(head open) over pruning steps " + std::to_string(steps.front()) + "-" +
                            std::to_string(steps.back()) + " (dark = open)";
  safetensors::write_file_atomically(out, step_heatmap(title, steps, probs, 0, 1, "P(open)", static_cast<size_t>(columns)));
  std::printf("wrote %s: %zu logged steps, at most %lld columns\n", out.c_str(), probs.size(), static_cast<long long>(columns));
  return 0;
}

}  // namespace hc
