// `headcount train`: the training loop.
//
// Each step: `accum` micro-batches of B streams x T tokens go forward with
// the memory of the previous segment, backward (gradients accumulate), then
// the global gradient norm is clipped, the optimizer steps with the
// scheduled learning rate, and the gradients are zeroed. Every eval_every
// steps the validation loss is measured (best.* keeps the best model); every
// checkpoint_every steps, at the end, and on Ctrl-C / SIGTERM, the whole run
// state is checkpointed so that `--resume` continues bit for bit.
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli.h"
#include "app/commands.h"
#include "app/progress.h"
#include "app/run.h"
#include "autograd/optim.h"
#include "data/batcher.h"

namespace hc {

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

// Linear warm-up to `lr`, then a cosine decay to `min_lr` at the last step.
double scheduled_lr(const RunConfig& c, int64_t step) {
  if (step < c.warmup) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const double span = std::max<int64_t>(1, c.steps - c.warmup);
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup) / span);
  return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1.0 + std::cos(M_PI * progress));
}

// On resume, forget metric lines of steps after the checkpoint (they will be
// recomputed identically), so the file reads as one uninterrupted run.
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  in.close();
  std::ofstream(path, std::ios::trunc) << kept;
}

}  // namespace

int train_command(const CommandLine& cl) {
  RunConfig cfg = load_config(cl.config, cl.sets);
  namespace fs = std::filesystem;
  fs::create_directories(cfg.out_dir);
  const std::string out = cfg.out_dir, last = out + "/last.safetensors", vocab_path = out + "/vocab.txt";
  const bool resume = cl.has("resume");
  // --stop-at N: checkpoint and stop after step N, as Ctrl-C would (for
  // time-sliced machines, and for the test that resuming is exact).
  const int64_t stop_at = static_cast<int64_t>(cl.number("stop-at", 0));

  // Data and vocabulary: built from the training split, or the run's own on resume.
  Checkpoint ckpt;
  std::unique_ptr<Tokenizer> saved_vocab;
  if (resume) {
    ckpt = load_checkpoint(last);
    saved_vocab = std::make_unique<Tokenizer>(Tokenizer::load(vocab_path));
  }
  const RunData data = load_data(cfg, saved_vocab.get());
  if (!resume) data.tokenizer.save(vocab_path);

  const AllAttConfig mcfg = model_config(cfg, data.tokenizer.size());
  AllAttLM model(mcfg, static_cast<uint64_t>(cfg.seed), DType::F32, cl.device);
  const std::vector<Variable> params = model.parameters();
  OptimizerConfig ocfg{cfg.optimizer, cfg.beta1, cfg.beta2, cfg.eps, cfg.bias_correction};
  Optimizer opt({ParamGroup{params, 1.0, cfg.weight_decay}}, ocfg);
  Batcher batcher(data.train, cfg.batch, mcfg.seg_len, /*roll=*/true, static_cast<uint64_t>(cfg.seed));
  Memory mem = model.initial_memory(cfg.batch);
  RngStream rng{static_cast<uint64_t>(cfg.seed), 0};
  int64_t step = 0;
  double best = 0;

  if (resume) {
    load_parameters(model, ckpt.tensors, "checkpoint " + last);
    std::map<std::string, Tensor> moments;
    for (const auto& [name, t] : ckpt.tensors)
      if (name.rfind("optim.", 0) == 0) moments[name.substr(6)] = t.to(cl.device);
    opt.load_state(moments, ckpt.optimizer_steps);
    for (size_t l = 0; l < mem.layers.size(); ++l) {
      auto it = ckpt.tensors.find("memory." + std::to_string(l));
      check(it != ckpt.tensors.end() && it->second.shape() == mem.layers[l].shape(),
            "checkpoint " + last + ": memory of layer " + std::to_string(l) + " is missing or has another shape");
      mem.layers[l].copy_from(it->second);
    }
    rng.offset = ckpt.rng_offset;
    batcher.seek({ckpt.data_epoch, ckpt.data_step});
    step = ckpt.step;
    best = ckpt.best_valid_loss;
    truncate_metrics(out + "/metrics.jsonl", step);
    std::fprintf(stderr, "resuming %s at step %lld\n", last.c_str(), static_cast<long long>(step));
  }

  int64_t saved_step = resume ? step : -1;
  auto checkpoint = [&](const std::string& name) {
    Checkpoint c;
    c.config = cfg;
    c.step = step;
    c.optimizer_steps = opt.steps_taken();
    c.rng_offset = rng.offset;
    c.data_epoch = batcher.position().epoch;
    c.data_step = batcher.position().step;
    c.best_valid_loss = best;
    c.vocab = "vocab.txt";
    c.tensors = parameter_tensors(model);
    for (const auto& [k, t] : opt.state()) c.tensors["optim." + k] = t;
    for (size_t l = 0; l < mem.layers.size(); ++l) c.tensors["memory." + std::to_string(l)] = mem.layers[l];
    save_checkpoint(out + "/" + name + ".safetensors", c);
  };

  std::fprintf(stderr, "model: %lld parameters (%lld without the embedding and position table), vocabulary %lld\n",
               static_cast<long long>(model.parameter_count(true)), static_cast<long long>(model.parameter_count(false)),
               static_cast<long long>(data.tokenizer.size()));
  // A fresh run starts a fresh metrics file; a resumed one continues it.
  std::ofstream metrics(out + "/metrics.jsonl", resume ? std::ios::app : std::ios::trunc);
  g_stop = false;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const double tokens_per_step = static_cast<double>(cfg.accum * cfg.batch * mcfg.seg_len);
  Progress bar("train", cfg.steps);
  while (step < cfg.steps && !g_stop) {
    const double lr = scheduled_lr(cfg, step);
    double loss_sum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t a = 0; a < cfg.accum; ++a) {
      const Batcher::Batch b = batcher.next();
      const Variable loss = model.loss(b.inputs, b.targets, mem, /*training=*/true, rng);
      loss_sum += loss.value().item();
      scale(loss, 1.0 / static_cast<double>(cfg.accum)).backward();
    }
    const double loss = loss_sum / static_cast<double>(cfg.accum);
    const double norm = clip_grad_norm(params, cfg.grad_clip);
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      bar.finish();
      std::fprintf(stderr, "error: the loss became %s at step %lld (gradient norm %g); stopping without "
                   "updating. The last good checkpoint is %s\n", std::isfinite(loss) ? "finite but the gradient not" : "NaN/Inf",
                   static_cast<long long>(step + 1), norm, last.c_str());
      return 1;
    }
    opt.step(lr);
    opt.zero_grad();
    ++step;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json m = {{"step", step}, {"loss", loss}, {"lr", lr}, {"grad_norm", norm},
                        {"tok_s", tokens_per_step / seconds}};
    char text[80];
    std::snprintf(text, sizeof text, "loss %.4f", loss);
    bar.update(step, static_cast<double>(step) * tokens_per_step, text);

    if (step % cfg.eval_every == 0 || step == cfg.steps) {
      const double valid = evaluate_loss(model, data.valid, cfg.batch, cfg.eval_segments);
      m["valid_loss"] = valid;
      bar.finish();
      std::fprintf(stderr, "step %lld: %s\n", static_cast<long long>(step), describe_loss(cfg, "valid", valid).c_str());
      if (best == 0 || valid < best) {
        best = valid;
        checkpoint("best");
      }
    }
    metrics << m.dump() << "\n" << std::flush;
    if (step == stop_at) g_stop = true;
    if (step % cfg.checkpoint_every == 0 || step == cfg.steps || g_stop) {
      checkpoint("step-" + std::to_string(step));
      checkpoint("last");
      saved_step = step;
    }
  }
  bar.finish();
  if (saved_step != step) {  // stopped between a step's end and the next check
    checkpoint("step-" + std::to_string(step));
    checkpoint("last");
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (g_stop) {
    std::fprintf(stderr, "interrupted at step %lld: checkpoint %s written; continue with the same command and --resume\n",
                 static_cast<long long>(step), last.c_str());
    return 130;
  }
  std::fprintf(stderr, "done: %lld steps, best %s, checkpoints in %s\n", static_cast<long long>(step),
               describe_loss(cfg, "valid", best).c_str(), out.c_str());
  return 0;
}

}  // namespace hc
