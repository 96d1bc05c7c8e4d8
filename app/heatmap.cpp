// `headcount heatmap`: an SVG picture of a pruning run: one row per head
// (grouped by layer), one column per logged step, each cell shaded by the
// head's probability of being open, P(z != 0), from metrics.jsonl's
// "open_prob". Dark = open, white = closed.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/commands.h"
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
  }
  check(!probs.empty(), metrics + ": no line has open_prob (is it a pruning run's metrics?)");
  // Every `stride`-th logged step, so the picture has at most `columns` columns.
  const int64_t stride = (static_cast<int64_t>(probs.size()) + columns - 1) / columns;
  std::vector<size_t> picked;
  for (size_t i = 0; i < probs.size(); i += static_cast<size_t>(stride)) picked.push_back(i);
  if (picked.back() != probs.size() - 1) picked.push_back(probs.size() - 1);

  const auto& shape = probs.front();
  const int cell_w = 4, cell_h = 10, left = 70, top = 30, gap = 4;
  int rows = 0;
  for (const auto& layer : shape) rows += static_cast<int>(layer.size());
  const int width = left + cell_w * static_cast<int>(picked.size()) + 20;
  const int height = top + rows * cell_h + gap * static_cast<int>(shape.size()) + 40;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"10\">\n"
      << "<text x=\"" << left << "\" y=\"16\">P(head open) over pruning steps " << steps[picked.front()] << "-"
      << steps[picked.back()] << " (dark = open)</text>\n";
  int y = top;
  for (size_t l = 0; l < shape.size(); ++l) {
    svg << "<text x=\"4\" y=\"" << y + cell_h * static_cast<int>(shape[l].size()) / 2 + 4 << "\">layer " << l << "</text>\n";
    for (size_t h = 0; h < shape[l].size(); ++h) {
      for (size_t c = 0; c < picked.size(); ++c) {
        const auto& at = probs[picked[c]];
        check(at.size() == shape.size() && at[l].size() == shape[l].size(),
              metrics + ": the layers or heads change between lines");
        const int shade = static_cast<int>(std::lround(255 * (1 - std::clamp(at[l][h], 0.0, 1.0))));
        svg << "<rect x=\"" << left + cell_w * static_cast<int>(c) << "\" y=\"" << y << "\" width=\"" << cell_w
            << "\" height=\"" << cell_h << "\" fill=\"rgb(" << shade << "," << shade << "," << shade
            << ")\" data-layer=\"" << l << "\" data-head=\"" << h << "\" data-step=\"" << steps[picked[c]]
            << "\" data-p=\"" << at[l][h] << "\"/>\n";
      }
      y += cell_h;
    }
    y += gap;
  }
  svg << "<text x=\"" << left << "\" y=\"" << y + 20 << "\">step " << steps[picked.front()] << " to "
      << steps[picked.back()] << ", " << picked.size() << " columns</text>\n</svg>\n";
  safetensors::write_file_atomically(out, svg.str());
  std::printf("wrote %s: %d heads x %zu steps\n", out.c_str(), rows, picked.size());
  return 0;
}

}  // namespace hc
