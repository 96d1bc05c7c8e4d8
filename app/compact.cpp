// `headcount compact`: physically remove the heads a pruning run closed.
// Reads a gated checkpoint, keeps the heads whose gate logit is >= 0, folds
// the output scaling into the output projections, and writes a smaller
// checkpoint (with its vocabulary) that loads in eval and generate without
// any gate code. Prints heads, parameters and forward FLOPs before and after.
#include <cstdio>
#include <filesystem>

#include "app/commands.h"
#include "app/run.h"
#include "models/compaction.h"

namespace hc {

int compact_command(const CommandLine& cl) {
  check(!cl.from.empty(), "headcount compact: --from GATED_CHECKPOINT is required");
  const std::string out = cl.get("out", "");
  check(!out.empty(), "headcount compact: --out PATH.safetensors is required");
  LoadedModel m = load_model(cl.from, cl.device, cl.sets);
  check(!m.model->gate_logits().empty(), "headcount compact: " + cl.from + " has no gates (prune it first)");
  const RunConfig& cfg = m.checkpoint.config;
  const std::unique_ptr<AllAttLM> small = compact(*m.model, cfg.prune.output_scaling);

  Checkpoint c;
  c.config = cfg;
  c.config.model.heads_per_layer = small->config().heads_per_layer;
  c.step = m.checkpoint.step;
  c.best_valid_loss = m.checkpoint.best_valid_loss;
  c.vocab = std::filesystem::path(out).stem().string() + ".vocab.txt";
  c.tensors = parameter_tensors(*small);
  const std::filesystem::path dir = std::filesystem::path(out).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  m.tokenizer.save((dir / c.vocab).string());
  save_checkpoint(out, c);

  int64_t before = 0, after = 0;
  for (const AllAttLayer& l : m.model->layers()) before += l.shape().H;
  for (int64_t h : small->config().heads_per_layer) after += h;
  const double f0 = forward_flops(*m.model, 1, cfg.prune.output_scaling), f1 = forward_flops(*small, 1, false);
  std::printf("heads per layer:");
  for (int64_t h : small->config().heads_per_layer) std::printf(" %lld", static_cast<long long>(h));
  std::printf("\n%-28s %14s %14s %8s\n", "", "before", "after", "ratio");
  std::printf("%-28s %14lld %14lld %8.3f\n", "heads", static_cast<long long>(before), static_cast<long long>(after),
              double(after) / double(before));
  const int64_t p0 = m.model->parameter_count(false), p1 = small->parameter_count(false);
  std::printf("%-28s %14lld %14lld %8.3f\n", "parameters (no embedding)", static_cast<long long>(p0),
              static_cast<long long>(p1), double(p1) / double(p0));
  std::printf("%-28s %14.4g %14.4g %8.3f\n", "forward GFLOP per segment", f0 * 1e-9, f1 * 1e-9, f1 / f0);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace hc
