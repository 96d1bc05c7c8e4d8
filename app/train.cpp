// `headcount train` and `headcount prune`: the training loop.
//
// Each step: `accum` micro-batches of B streams x T tokens go forward with
// the memory of the previous segment, backward (gradients accumulate), then
// the global gradient norm is clipped, the optimizer steps with the
// scheduled learning rate, and the gradients are zeroed. Every eval_every
// steps the validation loss is measured (best.* keeps the best model); every
// checkpoint_every steps, at the end, and on Ctrl-C / SIGTERM, the whole run
// state is checkpointed so that `--resume` continues bit for bit.
//
// `prune` is the same loop started from a dense checkpoint, with one
// hard-concrete gate per head (models/pruning.h): the loss gains
// lambda(t) * (expected number of open gates), lambda ramping up linearly
// over l0_warmup steps, and the gates learn gate_lr_scale times faster
// without weight decay (the paper's three techniques: warm-up, gate_init,
// output_scaling).
//
// Target mode (target_heads or target_fraction) replaces the linear penalty
// by a quadratic one around the target: l0_coefficient * (E[open] - K)^2 / H
// (H all heads), whose pull on the gates is proportional to the distance
// from K and vanishes there, from either side. (A dual-ascent multiplier on
// the linear penalty, as in FLOP and CoFi, was tried first: its integral lag
// made the head count swing from 16 to 0 and back on moby-char-small.) K
// ramps from all heads down over l0_warmup steps. At the last step the gates
// are read out exactly: the K heads with the largest log_alpha are kept
// (logits raised to at least 0), the others closed, so compaction lands on K.
//
// Under `mpirun -np R` each rank runs this loop on B/R of the batch streams
// and the gradients are averaged after backward (app/data_parallel.h); the
// loss, the stop decision and a NaN on any rank are agreed on in one small
// sum per step, and rank 0 alone prints, logs and writes checkpoints.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "app/cli.h"
#include "app/commands.h"
#include "app/data_parallel.h"
#include "app/progress.h"
#include "app/run_lock.h"
#include "app/run.h"
#include "autograd/optim.h"
#include "data/batcher.h"
#include "engine/backend.h"
#include "engine/safetensors.h"
#include "models/head_cost.h"
#include "models/head_importance.h"
#include "models/pruning.h"

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
// recomputed identically), and a line cut short by a kill, so the file reads
// as one uninterrupted run. Rewritten atomically: a kill here loses nothing.
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= step)
      kept += line + "\n";
  }
  in.close();
  safetensors::write_file_atomically(path, kept);
}

// Resident memory of this process in MiB (Linux /proc), for the soak record.
double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  double pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return pages_resident * double(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

}  // namespace

namespace {

int run_training(const CommandLine& cl, bool prune) {
  std::vector<std::string> sets = cl.sets;
  if (cl.has("method")) sets.push_back("prune_method=" + cl.get("method", ""));  // prune --method M
  // The config as given, for out_dir; the model keys come from the checkpoint
  // the run continues (its own on resume, the dense one when pruning starts).
  RunConfig cfg = load_config(cl.config, sets);
  const DataParallel& dp = DataParallel::world();
  const bool leader = dp.leader();  // prints, logs, writes checkpoints
  namespace fs = std::filesystem;
  std::error_code ec;
  std::optional<RunLock> lock;
  if (leader) {
    fs::create_directories(cfg.out_dir, ec);
    if (ec || !fs::is_directory(cfg.out_dir))
      throw std::runtime_error("cannot create out_dir " + cfg.out_dir + ": " + (ec ? ec.message() : "not a directory"));
    lock.emplace(cfg.out_dir);
    remove_stale_temporaries(cfg.out_dir);
  }
  const std::string out = cfg.out_dir, vocab_path = out + "/vocab.txt";
  std::string last = out + "/last.safetensors";
  const bool resume = cl.has("resume");
  // --stop-at N: checkpoint and stop after step N, as Ctrl-C would (for
  // time-sliced machines, and for the test that resuming is exact).
  const int64_t stop_at = static_cast<int64_t>(cl.number("stop-at", 0));

  // Data and vocabulary: built from the training split, the run's own on
  // resume, or the dense model's when pruning starts.
  Checkpoint ckpt, dense;
  std::unique_ptr<Tokenizer> saved_vocab;
  if (resume) {
    ckpt = load_newest_checkpoint(out, last);
    saved_vocab = std::make_unique<Tokenizer>(Tokenizer::load(vocab_path));
    cfg = load_config(cl.config, sets, with_model_of(ckpt.config));
  } else if (prune) {
    check(!cl.from.empty(), "headcount prune: --from DENSE_CHECKPOINT is required");
    dense = load_checkpoint(cl.from);
    saved_vocab = std::make_unique<Tokenizer>(
        Tokenizer::load((std::filesystem::path(cl.from).parent_path() / dense.vocab).string()));
    cfg = load_config(cl.config, sets, with_model_of(dense.config));
  }
  const RunData data = load_data(cfg, saved_vocab.get());
  if (!resume && leader) data.tokenizer.save(vocab_path);
  // This rank's streams of the global batch (all of them in one process).
  const int64_t B_local = dp.streams(cfg.batch), first_stream = dp.first_stream(cfg.batch);

  const AllAttConfig mcfg = model_config(cfg, data.tokenizer.size());
  AllAttLM model(mcfg, static_cast<uint64_t>(cfg.seed), DType::F32, cl.device);
  if (prune && !resume) {
    // The dense weights; gates come from the checkpoint if it has them,
    // else start at gate_init.
    load_parameters(model, dense.tensors, "checkpoint " + cl.from);
    model.add_gates(cfg.gate_init);
    for (const Variable& g : model.gate_logits()) {
      auto it = dense.tensors.find(g.name());
      if (it != dense.tensors.end()) g.value().copy_from(it->second);
    }
  } else if (prune) {
    model.add_gates(cfg.gate_init);  // values come from the checkpoint below
  }
  const std::vector<Variable> params = model.parameters();
  std::vector<Variable> weights;  // everything but the gates
  for (const Variable& p : model.parameters())
    if (p.name().find(".gate.") == std::string::npos) weights.push_back(p);
  // l0 and topk learn their gate logits; the scored methods fix them once.
  const bool learned_gates = cfg.prune_method == "l0" || cfg.prune_method == "topk";
  OptimizerConfig ocfg{cfg.optimizer, cfg.beta1, cfg.beta2, cfg.eps, cfg.bias_correction};
  Optimizer opt({ParamGroup{weights, 1.0, cfg.weight_decay},
                 ParamGroup{model.gate_logits(), learned_gates ? cfg.gate_lr_scale : 0.0, 0.0}},
                ocfg);
  Batcher batcher(data.train, cfg.batch, mcfg.seg_len, /*roll=*/true, static_cast<uint64_t>(cfg.seed));
  Memory mem = model.initial_memory(B_local);
  RngStream rng{static_cast<uint64_t>(cfg.seed), 0, first_stream};
  int64_t step = 0;
  double best = 0;
  int64_t total_heads = 0;
  for (int64_t l = 0; l < mcfg.layers; ++l) total_heads += mcfg.heads_in(l);
  // The budget as a head count: given, a fraction of the heads, or what a
  // fraction of the dense forward FLOPs affords (models/head_cost.h).
  const int64_t target = cfg.target_heads > 0 ? cfg.target_heads
                         : cfg.target_fraction > 0 ? static_cast<int64_t>(std::llround(cfg.target_fraction * double(total_heads)))
                         : cfg.target_flops > 0    ? heads_within_flops(mcfg, cfg.target_flops)
                                                   : 0;
  check(!prune || cfg.target_flops == 0 || target > 0,
        "config: target_flops " + std::to_string(cfg.target_flops) +
            " leaves no head: the parts that do not scale with heads alone take more");
  if (prune && cfg.target_flops > 0 && leader)
    std::fprintf(stderr, "target_flops %.3f: %lld of %lld heads\n", cfg.target_flops, static_cast<long long>(target),
                 static_cast<long long>(total_heads));
  check(!prune || target <= total_heads, "config: target of " + std::to_string(target) + " heads, the model has " +
                                             std::to_string(total_heads));
  if (prune && !resume && !learned_gates) {
    // Score every head of the dense model once, keep the `target` best: their
    // gate logits go to +20, the others to -20, where the hard-concrete
    // sample is 1 or 0 whatever its noise. Then fine-tune with that mask.
    HeadScores scores;
    if (cfg.prune_method == "magnitude") scores = magnitude_scores(model);
    if (cfg.prune_method == "random") scores = random_scores(model, static_cast<uint64_t>(cfg.seed));
    if (cfg.prune_method == "taylor") {
      Batcher probe(data.train, cfg.batch, mcfg.seg_len);
      Memory probe_mem = model.initial_memory(cfg.batch);
      RngStream no_dropout{0, 0};
      scores = taylor_scores(model, [&](const std::vector<Variable>& gates) {
        const Batcher::Batch b = probe.next();
        return model.loss(b.inputs, b.targets, probe_mem, /*training=*/false, no_dropout, gates);
      }, cfg.importance_batches);
      opt.zero_grad();  // the scoring passes left gradients on the weights
    }
    set_gate_logits(model, top_heads(scores, target), 20.0);
    if (leader) std::fprintf(stderr, "%s: kept %lld of %lld heads\n", cfg.prune_method.c_str(), static_cast<long long>(target),
                 static_cast<long long>(total_heads));
  }

  if (resume) {
    load_parameters(model, ckpt.tensors, "checkpoint " + last);
    std::map<std::string, Tensor> moments;
    for (const auto& [name, t] : ckpt.tensors)
      if (name.rfind("optim.", 0) == 0) moments[name.substr(6)] = t.to(cl.device);
    opt.load_state(moments, ckpt.optimizer_steps);
    // The checkpoint holds the memory of all B streams; this rank takes its own.
    for (size_t l = 0; l < mem.layers.size(); ++l) {
      auto it = ckpt.tensors.find("memory." + std::to_string(l));
      check(it != ckpt.tensors.end() && it->second.dim() == 3 && it->second.size(0) == cfg.batch &&
                it->second.slice_rows(0, B_local).shape() == mem.layers[l].shape(),
            "checkpoint " + last + ": memory of layer " + std::to_string(l) + " is missing or has another shape");
      mem.layers[l].copy_from(it->second.slice_rows(first_stream, first_stream + B_local));
    }
    rng.offset = ckpt.rng_offset;
    batcher.seek({ckpt.data_epoch, ckpt.data_step});
    step = ckpt.step;
    best = ckpt.best_valid_loss;
    if (leader) {
      truncate_metrics(out + "/metrics.jsonl", step);
      std::fprintf(stderr, "resuming %s at step %lld\n", last.c_str(), static_cast<long long>(step));
    }
    last = out + "/last.safetensors";
  } else {
    dp.broadcast(params);  // every rank starts from rank 0's weights (and gates)
  }

  int64_t saved_step = resume ? step : -1;
  // Called by every rank (the memory of all streams is gathered), written by rank 0.
  auto checkpoint = [&](const std::string& name) {
    std::vector<Tensor> memory;
    for (const Tensor& m : mem.layers) memory.push_back(dp.gather_streams(m));
    if (!leader) return;
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
    for (size_t l = 0; l < memory.size(); ++l) c.tensors["memory." + std::to_string(l)] = memory[l];
    try {
      save_checkpoint(out + "/" + name + ".safetensors", c);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(e.what()) + "; checkpoint " + name + " of step " + std::to_string(step) +
                               " not written, the previous checkpoints in " + out + " are intact");
    }
  };

  if (leader)
    std::fprintf(stderr, "model: %lld parameters (%lld without the embedding and position table), vocabulary %lld\n",
               static_cast<long long>(model.parameter_count(true)), static_cast<long long>(model.parameter_count(false)),
               static_cast<long long>(data.tokenizer.size()));
  // A fresh run starts a fresh metrics file; a resumed one continues it.
  std::ofstream metrics;
  if (leader) metrics.open(out + "/metrics.jsonl", resume ? std::ios::app : std::ios::trunc);
  g_stop = false;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const double tokens_per_step = static_cast<double>(cfg.accum * cfg.batch * mcfg.seg_len);
  const double local_tokens = static_cast<double>(cfg.accum * B_local * mcfg.seg_len);
  const std::string dump_gradients = cl.get("dump-gradients", "");
  Progress bar("train", cfg.steps);
  int64_t nodes_before = graph_nodes_created();
  // Agreed by all ranks each step (a signal may reach them at different times).
  bool stopping = false;
  while (step < cfg.steps && !stopping) {
    const double lr = scheduled_lr(cfg, step);
    // The warm-up: (t+1)/warmup of the way, then all of it.
    const double ramp = cfg.l0_warmup > 0 ? std::min(1.0, double(step + 1) / double(cfg.l0_warmup)) : 1.0;
    const double lambda = target > 0 ? cfg.l0_coefficient : cfg.l0_coefficient * ramp;
    const double target_now = double(total_heads) - ramp * double(total_heads - target);
    double loss_sum = 0, l0 = 0, comm_seconds = 0;
    int64_t closed = 0, gates_drawn = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t a = 0; a < cfg.accum; ++a) {
      const Batcher::Batch global = batcher.next();
      const Batcher::Batch b{global.inputs.slice_rows(first_stream, first_stream + B_local),
                             global.targets.slice_rows(first_stream, first_stream + B_local)};
      std::vector<Variable> gates;
      if (cfg.prune_method == "topk") {
        // Exactly K_t heads on, K_t ramping from all heads down to the target.
        gates = topk_gates(model.gate_logits(), static_cast<int64_t>(std::llround(target_now)));
        if (cfg.output_scaling)
          for (Variable& z : gates) z = with_output_scaling(z);
      } else {
        gates = layer_gates(model, rng, /*training=*/true, cfg.output_scaling);
      }
      for (const Variable& z : gates)
        for (double v : z.value().to_vector()) {
          closed += v == 0.0;
          ++gates_drawn;
        }
      const Variable loss = model.loss(b.inputs, b.targets, mem, /*training=*/true, rng, gates);
      loss_sum += loss.value().item();
      Variable objective = loss;
      if (prune && cfg.prune_method == "l0") {
        Variable expected_open;  // sum over layers of the expected open heads
        for (const Variable& log_alpha : model.gate_logits()) {
          const Variable penalty = l0_penalty(log_alpha);
          expected_open = expected_open.defined() ? add(expected_open, penalty) : penalty;
        }
        l0 += expected_open.value().item() / static_cast<double>(cfg.accum);
        if (target == 0) {
          objective = add(objective, scale(expected_open, lambda));
        } else {
          const Variable gap = add(expected_open, Variable(Tensor::full({1}, -target_now, expected_open.value().dtype(),
                                                                        expected_open.value().device())));
          objective = add(objective, scale(mul(gap, gap), lambda / double(total_heads)));
        }
      }
      scale(objective, 1.0 / static_cast<double>(cfg.accum)).backward();
    }
    // The global mean loss (each rank's mean weighted by its tokens), the
    // stop request, and which ranks saw a NaN/Inf loss, agreed in one sum.
    const double local_loss = loss_sum / static_cast<double>(cfg.accum);
    std::vector<double> agreed(3 + static_cast<size_t>(dp.ranks()), 0.0);
    agreed[0] = local_loss * local_tokens;
    agreed[1] = local_tokens;
    agreed[2] = g_stop ? 1 : 0;
    agreed[3 + static_cast<size_t>(dp.rank())] = std::isfinite(local_loss) ? 0 : 1;
    dp.sum(agreed);
    const double loss = agreed[0] / agreed[1];
    stopping = agreed[2] > 0;
    dp.average_gradients(params, local_tokens, comm_seconds);
    if (step == 0 && !dump_gradients.empty() && leader) {
      std::map<std::string, Tensor> grads;
      for (const Variable& p : params) grads[p.name()] = p.grad_buffer().to(Device::CPU);
      safetensors::save(dump_gradients, grads);
    }
    const double norm = clip_grad_norm(params, cfg.grad_clip);
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      std::string where;
      for (int r = 0; r < dp.ranks(); ++r)
        if (agreed[3 + static_cast<size_t>(r)] > 0) where += (where.empty() ? " on rank " : ", ") + std::to_string(r);
      if (dp.ranks() == 1) where.clear();
      if (leader) {
        bar.finish();
        std::fprintf(stderr, "error: the loss became %s%s at step %lld (gradient norm %g); stopping without "
                     "updating. The last good checkpoint is %s\n", std::isfinite(loss) ? "finite but the gradient not" : "NaN/Inf",
                     where.c_str(), static_cast<long long>(step + 1), norm, last.c_str());
      }
      return 1;
    }
    opt.step(lr);
    opt.zero_grad();
    ++step;
    if (prune && target > 0) {
      if (step == cfg.steps) {
        // The exact readout: keep the `target` heads with the largest logits
        // (open logits raised to at least 0, the others lowered below it).
        HeadScores logits;
        for (const Variable& g : model.gate_logits()) logits.push_back(g.value().to_vector());
        const std::vector<std::vector<bool>> keep = top_heads(logits, target);
        for (size_t l = 0; l < logits.size(); ++l) {
          for (size_t h = 0; h < logits[l].size(); ++h)
            logits[l][h] = keep[l][h] ? std::max(logits[l][h], 0.0) : std::min(logits[l][h], -1e-3);
          const Variable& g = model.gate_logits()[l];
          g.value().copy_from(Tensor::from_vector(g.shape(), logits[l], g.value().dtype()));
        }
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Counters the machine's speed cannot move, for the soak test: tensors
    // alive after the step, bytes the allocator holds, graph nodes recorded.
    const int64_t nodes_now = graph_nodes_created();
    nlohmann::json m = {{"step", step}, {"loss", loss}, {"lr", lr}, {"grad_norm", norm},
                        {"tok_s", tokens_per_step / seconds}, {"rss_mib", resident_mib()},
                        {"live_tensors", storage_stats().live},
                        {"held_mib", double(backend(cl.device).held_bytes()) / (1024.0 * 1024.0)},
                        {"graph_nodes", nodes_now - nodes_before}};
    nodes_before = nodes_now;
    if (dp.ranks() > 1) m["allreduce_ms"] = 1e3 * comm_seconds;
    if (prune) {
      // Per-head P(open) per layer, the sampled sparsity, and the heads the
      // deterministic gates keep: what `headcount compact` would keep now.
      nlohmann::json open = nlohmann::json::array();
      int64_t kept = 0;
      for (const Variable& log_alpha : model.gate_logits()) {
        open.push_back(open_probability(log_alpha.value()));
        for (double a : log_alpha.value().to_vector()) kept += a >= 0.0;
      if (cfg.prune_method == "topk" && step < cfg.steps) kept = std::llround(target_now);  // the mask in use
      }
      m["l0"] = l0;
      m["lambda"] = lambda;
      if (target > 0) m["target_heads"] = target_now;
      m["sparsity"] = double(closed) / double(std::max<int64_t>(gates_drawn, 1));
      m["kept_heads"] = kept;
      m["open_prob"] = open;
    }
    char text[80];
    if (prune) std::snprintf(text, sizeof text, "loss %.4f heads %lld", loss, static_cast<long long>(m["kept_heads"].get<int64_t>()));
    else std::snprintf(text, sizeof text, "loss %.4f", loss);
    if (leader) bar.update(step, static_cast<double>(step) * tokens_per_step, text);

    if (step % cfg.eval_every == 0 || step == cfg.steps) {
      const double valid = evaluate_loss(model, data.valid, cfg.batch, cfg.eval_segments, cfg.output_scaling);
      m["valid_loss"] = valid;
      if (leader) {
        bar.finish();
        std::fprintf(stderr, "step %lld: %s\n", static_cast<long long>(step), describe_loss(cfg, "valid", valid).c_str());
      }
      if (best == 0 || valid < best) {
        best = valid;
        checkpoint("best");
      }
    }
    if (leader) {
      metrics << m.dump() << "\n" << std::flush;
      if (!metrics) throw std::runtime_error(out + "/metrics.jsonl: write failed (disk full?); the last checkpoint is " + last);
    }
    if (step == stop_at) stopping = true;
    if (step % cfg.checkpoint_every == 0 || step == cfg.steps || stopping) {
      checkpoint("step-" + std::to_string(step));
      checkpoint("last");
      saved_step = step;
      // Only after the new pair is on disk; last and best are never removed.
      const auto steps_saved = leader ? step_checkpoints(out) : decltype(step_checkpoints(out)){};
      for (size_t i = static_cast<size_t>(cfg.keep_checkpoints); cfg.keep_checkpoints > 0 && i < steps_saved.size(); ++i) {
        std::filesystem::remove(steps_saved[i].second, ec);
        std::filesystem::remove(sidecar_of(steps_saved[i].second), ec);
      }
    }
  }
  if (leader) bar.finish();
  if (saved_step != step) {  // stopped between a step's end and the next check
    checkpoint("step-" + std::to_string(step));
    checkpoint("last");
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (stopping) {
    if (leader) std::fprintf(stderr, "interrupted at step %lld: checkpoint %s written; continue with the same command and --resume\n",
                 static_cast<long long>(step), last.c_str());
    return 130;
  }
  if (leader) std::fprintf(stderr, "done: %lld steps, best %s, checkpoints in %s\n", static_cast<long long>(step),
               describe_loss(cfg, "valid", best).c_str(), out.c_str());
  return 0;
}

}  // namespace

int train_command(const CommandLine& cl) { return run_training(cl, false); }
int prune_command(const CommandLine& cl) { return run_training(cl, true); }

}  // namespace hc
