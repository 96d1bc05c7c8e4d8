// `headcount eval`: the loss of a checkpoint on a split, with memory carried
// over exactly as in training: bits per byte (char level) or perplexity.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/progress.h"
#include "app/run.h"
#include "models/gates.h"

namespace hc {

int eval_command(const CommandLine& cl) {
  check(!cl.from.empty(), "headcount eval: --from CHECKPOINT is required");
  const std::string split = cl.text("split");  // valid, test or train (app/commands.cpp)
  LoadedModel m = load_model(cl.from, cl.device, cl.sets);
  const RunConfig& cfg = m.checkpoint.config;
  const RunData data = load_data(cfg, &m.tokenizer);
  const std::vector<int64_t>& tokens = split == "valid" ? data.valid : split == "test" ? data.test : data.train;
  std::unique_ptr<Progress> bar;
  double evaluated = 0;  // tokens
  const auto start = std::chrono::steady_clock::now();
  const double loss = evaluate_loss(*m.model, tokens, cfg.batch, cfg.eval_segments, cfg.prune.output_scaling,
                                    [&](int64_t done, int64_t total, int64_t scored) {
                                      if (!bar) bar = std::make_unique<Progress>("eval " + split, total, 100);
                                      evaluated = static_cast<double>(scored);
                                      bar->update(done, evaluated, "");
                                    });
  if (bar) bar->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\n", describe_loss(cfg, split, loss).c_str());
  if (cl.has("json")) {
    // Heads in effect: a gated model counts only the heads its gates keep.
    int64_t heads = 0;
    if (m.model->gate_logits().empty())
      for (const AllAttLayer& l : m.model->layers()) heads += l.shape().H;
    else
      heads = kept_heads(*m.model).count();
    std::printf("%s\n", nlohmann::json{{"split", split}, {"loss", loss}, {"step", m.checkpoint.step},
                                       {"heads", heads}, {"parameters", m.model->parameter_count(false)},
                                       {"tok_s", seconds > 0 ? evaluated / seconds : 0.0}}
                             .dump().c_str());
  }
  return 0;
}

}  // namespace hc
