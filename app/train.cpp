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
// `prune` is the same loop, started from a dense checkpoint with one gate
// per head, and driven by a pruning method (models/pruning_method.h): the
// method chooses the gates of each forward pass and what the loss gains for
// `steps` steps, then `finetune_steps` more steps run at the final shape.
// `train` runs the same loop with DenseTraining, which adds nothing.
//
// Under `mpirun -np R` each rank runs this loop on B/R of the batch streams
// and the gradients are averaged after backward (app/data_parallel.h); the
// loss, the stop decision and a NaN on any rank are agreed on in one small
// sum per step, and rank 0 alone prints, logs and writes checkpoints.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "app/cli.h"
#include "app/commands.h"
#include "app/data_parallel.h"
#include "app/progress.h"
#include "app/run.h"
#include "app/run_lock.h"
#include "autograd/optim.h"
#include "data/batcher.h"
#include "engine/backend.h"
#include "engine/safetensors.h"
#include "models/gates.h"
#include "models/pruning_method.h"
#include "models/time_budget.h"

namespace hc {

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

// Linear warm-up to `lr`, then a cosine decay to `min_lr` at step `total`
// (or at `decay_steps`, if set, and `min_lr` from there on: a schedule whose
// last steps run at a constant rate, to tell the decay's gains from training's).
double scheduled_lr(const RunConfig& c, int64_t step, int64_t total) {
  if (step < c.warmup) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup);
  const int64_t end = c.decay_steps > 0 ? std::min(c.decay_steps, total) : total;
  const double span = std::max<int64_t>(1, end - c.warmup);
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

// Where a run's weights and vocabulary come from: nowhere (a fresh dense
// run), its own newest checkpoint (--resume), or a dense checkpoint (prune).
struct Origin {
  RunConfig cfg;
  Checkpoint ckpt;
  std::string ckpt_path;               // empty for a fresh dense run
  std::unique_ptr<Tokenizer> vocab;    // null: built from the corpus
};

// Everything a run holds while it trains.
struct Run {
  explicit Run(const CommandLine& c) : cl(c), resume(c.has("resume")), stop_at(static_cast<int64_t>(c.number("stop-at", 0))) {}
  CommandLine cl;
  RunConfig cfg;
  std::string out, last;
  bool resume = false;
  // --stop-at N: checkpoint and stop after step N, as Ctrl-C would (for
  // time-sliced machines, and for the test that resuming is exact).
  int64_t stop_at = 0;
  std::optional<RunLock> lock;
  RunData data;
  int64_t B_local = 0, first_stream = 0;
  std::unique_ptr<AllAttLM> model;
  std::vector<Variable> params;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<Batcher> batcher;
  Memory mem;
  RngStream rng;
  std::unique_ptr<PruningMethod> method;  // the selection phase (DenseTraining for train)
  std::unique_ptr<PruningMethod> final_shape;  // the fine-tuning phase
  int64_t steps = 0, total_steps = 0;     // end of the selection, end of the run
  int64_t step = 0, saved_step = -1;
  double best = 0;

  PruningMethod& phase() { return step < steps ? *method : *final_shape; }
};

// The run directory (created, locked, cleaned of a killed writer's
// temporaries) and, on --resume, the newest checkpoint in it.
Origin open_run_dir(Run& r, const std::vector<std::string>& sets) {
  const CommandLine& cl = r.cl;
  Origin o;
  o.cfg = load_config(cl.config, sets);
  if (DataParallel::world().leader()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(o.cfg.out_dir, ec);
    if (ec || !fs::is_directory(o.cfg.out_dir))
      throw std::runtime_error("cannot create out_dir " + o.cfg.out_dir + ": " + (ec ? ec.message() : "not a directory"));
    r.lock.emplace(o.cfg.out_dir);
    remove_stale_temporaries(o.cfg.out_dir);
  }
  if (!cl.has("resume")) return o;
  const std::string out = o.cfg.out_dir;
  o.ckpt = load_newest_checkpoint(out, o.ckpt_path);
  o.vocab = std::make_unique<Tokenizer>(Tokenizer::load(out + "/vocab.txt"));
  // The model keys come from the checkpoint the run continues.
  o.cfg = load_config(cl.config, sets, with_model_of(o.ckpt.config));
  return o;
}

// A fresh pruning run starts from the dense checkpoint given with --from.
void start_from_dense(const CommandLine& cl, const std::vector<std::string>& sets, Origin& o) {
  check(!cl.from.empty(), "headcount prune: --from DENSE_CHECKPOINT is required");
  o.ckpt = load_checkpoint(cl.from);
  o.ckpt_path = cl.from;
  o.vocab = std::make_unique<Tokenizer>(
      Tokenizer::load((std::filesystem::path(cl.from).parent_path() / o.ckpt.vocab).string()));
  o.cfg = load_config(cl.config, sets, with_model_of(o.ckpt.config));
}

// The data (the vocabulary saved beside a fresh run) and the model, with
// fresh weights (a dense run) or those a later step loads.
void build_model(Run& r, const Origin& o) {
  const DataParallel& dp = DataParallel::world();
  r.cfg = o.cfg;
  r.out = r.cfg.out_dir;
  r.last = r.resume ? o.ckpt_path : r.out + "/last.safetensors";
  r.data = load_data(r.cfg, o.vocab.get());
  if (!r.resume && dp.leader()) r.data.tokenizer.save(r.out + "/vocab.txt");
  // This rank's streams of the global batch (all of them in one process).
  r.B_local = dp.streams(r.cfg.batch);
  r.first_stream = dp.first_stream(r.cfg.batch);
  r.model = std::make_unique<AllAttLM>(model_config(r.cfg, r.data.tokenizer.size()), static_cast<uint64_t>(r.cfg.seed),
                                       DType::F32, r.cl.device);
}

// A pruning run's gates, one per head: on a fresh run the dense weights are
// loaded and the gates start at gate_init (or at the checkpoint's, if it has
// them); on resume they take the checkpoint's values with everything else.
void add_gates(Run& r, const Origin& o) {
  if (!r.resume) load_parameters(*r.model, o.ckpt.tensors, "checkpoint " + o.ckpt_path);
  r.model->add_gates(r.cfg.prune.gate_init);
  if (r.resume) return;
  for (const Variable& g : r.model->gate_logits()) {
    auto it = o.ckpt.tensors.find(g.name());
    if (it != o.ckpt.tensors.end()) g.value().copy_from(it->second);
  }
}

// The optimizer (group 0 the weights, group 1 the gates, whose rate each
// phase sets), the batcher and the run's random stream.
void build_optimizer(Run& r) {
  r.params = r.model->parameters();
  std::vector<Variable> weights;  // everything but the gates
  for (const Variable& p : r.params)
    if (p.name().find(".gate.") == std::string::npos) weights.push_back(p);
  const OptimizerConfig ocfg{r.cfg.optimizer, r.cfg.beta1, r.cfg.beta2, r.cfg.eps, r.cfg.bias_correction};
  r.opt = std::make_unique<Optimizer>(std::vector<ParamGroup>{ParamGroup{weights, 1.0, r.cfg.weight_decay},
                                                              ParamGroup{r.model->gate_logits(), 0.0, 0.0}},
                                      ocfg);
  r.batcher = std::make_unique<Batcher>(r.data.train, r.cfg.batch, r.model->config().seg_len, /*roll=*/true,
                                        static_cast<uint64_t>(r.cfg.seed));
  r.mem = r.model->initial_memory(r.B_local);
  r.rng = RngStream{static_cast<uint64_t>(r.cfg.seed), 0, r.first_stream};
}

// rewind_from, with "{dense}" standing for the folder of the --from
// checkpoint (so that one config names each dense seed's own early
// checkpoint, as `headcount compare` needs).
std::string rewind_path(const Run& r) {
  std::string path = r.cfg.prune.rewind_from;
  const size_t at = path.find("{dense}");
  if (at == std::string::npos) return path;
  check(!r.cl.from.empty(), "config: rewind_from " + path + " names {dense}: give the dense checkpoint with --from");
  const std::string folder = std::filesystem::path(r.cl.from).parent_path().string();
  return path.replace(at, 7, folder.empty() ? "." : folder);
}

// A time budget (target_ms or target_speedup): the cost model of this run
// (its dense shape, device, threads, target_batch or its batch, target_mode)
// from the cost_model file, and the budget in seconds, refused when the
// model cannot reach it (models/time_budget.h).
void add_time_budget(const Run& r, PruneSetup& s) {
  const PruneConfig& p = r.cfg.prune;
  const AllAttConfig& mcfg = r.model->config();
  const int64_t batch = p.target_batch > 0 ? p.target_batch : r.cfg.batch;
  s.cost = read_cost_model(p.cost_model, run_cost_key(mcfg, r.cl.device, batch, p.target_mode));
  std::vector<int64_t> heads;
  for (int64_t l = 0; l < mcfg.layers; ++l) heads.push_back(mcfg.heads_in(l));
  s.budget_s = time_budget_seconds(p, *s.cost, heads);
  s.largest_fit_s = largest_time_within(*s.cost, heads, s.budget_s);
  if (DataParallel::world().leader())
    std::fprintf(stderr,
                 "time budget: %.4g ms for the %s at batch %lld (dense predicted %.4g ms; the largest any shape of "
                 "whole heads fits: %.4g ms)\n",
                 s.budget_s * 1e3, p.target_mode == "train" ? "training step" : "inference forward",
                 static_cast<long long>(batch), s.cost->predict(heads) * 1e3, s.largest_fit_s * 1e3);
}

// The pruning method of a run, told its budget and schedule.
PruneSetup prune_setup(const Run& r) {
  const AllAttConfig& mcfg = r.model->config();
  PruneSetup s{r.cfg.prune, 0, budget_heads(mcfg, r.cfg.prune), r.cfg.steps, r.cfg.accum,
               static_cast<uint64_t>(r.cfg.seed)};
  for (int64_t l = 0; l < mcfg.layers; ++l) s.heads += mcfg.heads_in(l);
  if (!r.cfg.prune.rewind_from.empty()) {
    const Checkpoint early = load_checkpoint(rewind_path(r));
    for (const Variable& p : r.model->parameters())
      if (const auto it = early.tensors.find(p.name()); it != early.tensors.end()) s.rewind[p.name()] = it->second;
  }
  if (r.cfg.prune.time_budget()) add_time_budget(r, s);
  if (r.cfg.prune.target_flops > 0 && DataParallel::world().leader())
    std::fprintf(stderr, "target_flops %.3f: %lld of %lld heads\n", r.cfg.prune.target_flops,
                 static_cast<long long>(s.budget), static_cast<long long>(s.heads));
  return s;
}

// ScoreInputs::fixed_loss: the mean loss over the first importance_batches
// probe batches, the same batches on every call, memory carried through
// them from an empty start, without dropout or gradients.
std::function<double(const std::vector<Variable>&)> fixed_probe_loss(const Run& r) {
  Batcher probe(r.data.train, r.cfg.batch, r.model->config().seg_len);
  auto fixed = std::make_shared<std::vector<Batcher::Batch>>();
  for (int64_t i = 0; i < r.cfg.prune.importance_batches; ++i) fixed->push_back(probe.next());
  const AllAttLM* model = r.model.get();
  const int64_t B = r.cfg.batch;
  return [model, fixed, B](const std::vector<Variable>& gates) {
    NoGrad no_grad;
    Memory mem = model->initial_memory(B);
    RngStream no_dropout{0, 0};
    double sum = 0;
    for (const Batcher::Batch& b : *fixed)
      sum += model->loss(b.inputs, b.targets, mem, /*training=*/false, no_dropout, gates).value().item();
    return sum / double(fixed->size());
  };
}

// The cost of the choice: printed, and kept in the run's choose.json with
// what the method reports of it (for `headcount compare`).
void record_choice(const Run& r, const PruneSetup& setup, double seconds) {
  const char* name = find_method(r.cfg.prune.method).name;
  std::fprintf(stderr, "%s: %.3f s choosing heads\n", name, seconds);
  nlohmann::json chosen = {{"method", name}, {"choose_seconds", seconds}, {"heads", setup.heads}, {"budget", setup.budget}};
  if (setup.cost) chosen["budget_ms"] = setup.budget_s * 1e3, chosen["largest_fit_ms"] = setup.largest_fit_s * 1e3;
  r.method->choose_report(chosen);
  safetensors::write_file_atomically(r.out + "/choose.json", chosen.dump(2) + "\n");
}

// A fresh pruning run lets its method choose before the first step (a
// scored method scores the dense model on probe batches of the training split).
void choose_heads(Run& r, const PruneSetup& setup) {
  Batcher probe(r.data.train, r.cfg.batch, r.model->config().seg_len);
  Memory probe_mem = r.model->initial_memory(r.cfg.batch);
  RngStream no_dropout{0, 0};
  const AllAttLM& model = *r.model;
  const ScoreInputs inputs{model, setup.seed, r.cfg.prune.importance_batches, [&](const std::vector<Variable>& gates) {
                             const Batcher::Batch b = probe.next();
                             return model.loss(b.inputs, b.targets, probe_mem, /*training=*/false, no_dropout, gates);
                           },
                           fixed_probe_loss(r)};
  const auto t0 = std::chrono::steady_clock::now();
  r.method->choose(*r.model, inputs);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.opt->zero_grad();  // scoring passes may leave gradients on the weights
  const MethodInfo& info = find_method(r.cfg.prune.method);
  if (info.kind == MethodKind::Scored && DataParallel::world().leader())
    std::fprintf(stderr, "%s: kept %lld of %lld heads\n", info.name, static_cast<long long>(kept_heads(model).count()),
                 static_cast<long long>(setup.heads));
  if (DataParallel::world().leader()) record_choice(r, setup, seconds);
}

// --resume: weights, optimizer moments, this rank's memory rows, the random
// stream, the data position, the step and the best validation loss.
void restore(Run& r, const Checkpoint& ckpt) {
  const bool has_moments = std::any_of(ckpt.tensors.begin(), ckpt.tensors.end(),
                                       [](const auto& t) { return t.first.rfind("optim.", 0) == 0; });
  check(has_moments, "checkpoint " + r.last + " holds a model only, without optimizer state or memory (as `headcount "
                     "compact` and headcount_torch.py's save write it); --resume continues a run from its own "
                     "checkpoints. Start a new run from it with `headcount prune --from`, or evaluate it with `headcount eval --from`");
  load_parameters(*r.model, ckpt.tensors, "checkpoint " + r.last);
  std::map<std::string, Tensor> moments;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.rfind("optim.", 0) == 0) moments[name.substr(6)] = t.to(r.cl.device);
  r.opt->load_state(moments, ckpt.optimizer_steps);
  std::map<std::string, Tensor> method_state;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.rfind("method.", 0) == 0) method_state[name.substr(7)] = t;
  r.method->load_state(method_state);
  for (size_t l = 0; l < r.mem.layers.size(); ++l) {
    auto it = ckpt.tensors.find("memory." + std::to_string(l));
    check(it != ckpt.tensors.end() && it->second.dim() == 3 && it->second.size(0) == r.cfg.batch &&
              it->second.slice_rows(0, r.B_local).shape() == r.mem.layers[l].shape(),
          "checkpoint " + r.last + ": memory of layer " + std::to_string(l) + " is missing or has another shape");
    r.mem.layers[l].copy_from(it->second.slice_rows(r.first_stream, r.first_stream + r.B_local));
  }
  r.rng.offset = ckpt.rng_offset;
  r.batcher->seek({ckpt.data_epoch, ckpt.data_step});
  r.step = r.saved_step = ckpt.step;
  r.best = ckpt.best_valid_loss;
  if (DataParallel::world().leader()) {
    truncate_metrics(r.out + "/metrics.jsonl", r.step);
    std::fprintf(stderr, "resuming %s at step %lld\n", r.last.c_str(), static_cast<long long>(r.step));
  }
  r.last = r.out + "/last.safetensors";
}

// Called by every rank (the memory of all streams is gathered), written by rank 0.
void write_checkpoint(Run& r, const std::string& name) {
  const DataParallel& dp = DataParallel::world();
  std::vector<Tensor> memory;
  for (const Tensor& m : r.mem.layers) memory.push_back(dp.gather_streams(m));
  if (!dp.leader()) return;
  Checkpoint c;
  c.config = r.cfg;
  c.step = r.step;
  c.optimizer_steps = r.opt->steps_taken();
  c.rng_offset = r.rng.offset;
  c.data_epoch = r.batcher->position().epoch;
  c.data_step = r.batcher->position().step;
  c.best_valid_loss = r.best;
  c.vocab = "vocab.txt";
  c.tensors = parameter_tensors(*r.model);
  for (const auto& [k, t] : r.opt->state()) c.tensors["optim." + k] = t;
  for (const auto& [k, t] : r.method->state()) c.tensors["method." + k] = t;
  for (size_t l = 0; l < memory.size(); ++l) c.tensors["memory." + std::to_string(l)] = memory[l];
  try {
    save_checkpoint(r.out + "/" + name + ".safetensors", c);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + "; checkpoint " + name + " of step " + std::to_string(r.step) +
                             " not written, the previous checkpoints in " + r.out + " are intact");
  }
}

// step-N and last, then the oldest step-N beyond keep_checkpoints go (last and best stay).
void checkpoint_step(Run& r) {
  write_checkpoint(r, "step-" + std::to_string(r.step));
  write_checkpoint(r, "last");
  r.saved_step = r.step;
  if (!DataParallel::world().leader() || r.cfg.keep_checkpoints == 0) return;
  const auto saved = step_checkpoints(r.out);
  std::error_code ec;
  for (size_t i = static_cast<size_t>(r.cfg.keep_checkpoints); i < saved.size(); ++i) {
    std::filesystem::remove(saved[i].second, ec);
    std::filesystem::remove(sidecar_of(saved[i].second), ec);
  }
}

// What one step measured, for its metrics line.
struct StepResult {
  double loss = 0, grad_norm = 0, lr = 0, comm_seconds = 0;
  bool stop = false;         // a rank was asked to stop
  std::string failed_ranks;  // " on rank 1, 3": where the loss was not finite
};

// accum micro-batches forward and backward with the phase's gates and
// penalty, then the loss and stop request agreed by all ranks and the
// gradients averaged.
StepResult forward_backward(Run& r) {
  const DataParallel& dp = DataParallel::world();
  PruningMethod& phase = r.phase();
  StepResult s;
  double loss_sum = 0;
  for (int64_t a = 0; a < r.cfg.accum; ++a) {
    const Batcher::Batch global = r.batcher->next();
    const Batcher::Batch b{global.inputs.slice_rows(r.first_stream, r.first_stream + r.B_local),
                           global.targets.slice_rows(r.first_stream, r.first_stream + r.B_local)};
    const std::vector<Variable> gates = phase.gates(*r.model, r.step, r.rng);
    const Variable loss = r.model->loss(b.inputs, b.targets, r.mem, /*training=*/true, r.rng, gates);
    loss_sum += loss.value().item();
    Variable objective = loss;
    if (const Variable penalty = phase.penalty(*r.model, r.step); penalty.defined()) objective = add(objective, penalty);
    scale(objective, 1.0 / static_cast<double>(r.cfg.accum)).backward();
  }
  // The global mean loss (each rank's mean weighted by its tokens), the
  // stop request, and which ranks saw a NaN/Inf loss, agreed in one sum.
  const double local_loss = loss_sum / static_cast<double>(r.cfg.accum);
  const double local_tokens = static_cast<double>(r.cfg.accum * r.B_local * r.model->config().seg_len);
  std::vector<double> agreed(3 + static_cast<size_t>(dp.ranks()), 0.0);
  agreed[0] = local_loss * local_tokens;
  agreed[1] = local_tokens;
  agreed[2] = g_stop ? 1 : 0;
  agreed[3 + static_cast<size_t>(dp.rank())] = std::isfinite(local_loss) ? 0 : 1;
  dp.sum(agreed);
  s.loss = agreed[0] / agreed[1];
  s.stop = agreed[2] > 0;
  for (int rank = 0; rank < dp.ranks() && dp.ranks() > 1; ++rank)
    if (agreed[3 + static_cast<size_t>(rank)] > 0) s.failed_ranks += (s.failed_ranks.empty() ? " on rank " : ", ") + std::to_string(rank);
  dp.average_gradients(r.params, local_tokens, s.comm_seconds);
  return s;
}

// One optimizer step. Returns false (nothing updated) if the loss or the
// gradient is not finite.
bool optimizer_step(Run& r, StepResult& s, const std::string& dump_gradients) {
  if (r.step == 0 && !dump_gradients.empty() && DataParallel::world().leader()) {
    std::map<std::string, Tensor> grads;
    for (const Variable& p : r.params) grads[p.name()] = p.grad_buffer().to(Device::CPU);
    safetensors::save(dump_gradients, grads);
  }
  s.grad_norm = clip_grad_norm(r.params, r.cfg.grad_clip);
  if (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm)) return false;
  PruningMethod& phase = r.phase();
  phase.before_step(*r.model, r.step);
  r.opt->set_lr_scale(1, phase.gate_lr_scale());
  r.opt->step(s.lr);
  r.opt->zero_grad();
  ++r.step;
  phase.after_step(*r.model, r.step);
  return true;
}

// The step's metrics line: the loss and the schedule, counters the soak test
// watches (memory, tensors alive, graph nodes recorded), the phase's gates.
nlohmann::json step_metrics(Run& r, const StepResult& s, double tokens_per_second, int64_t nodes) {
  const double held_mib = double(backend(r.cl.device).held_bytes()) / (1024.0 * 1024.0);
  nlohmann::json m = {{"step", r.step}, {"loss", s.loss}, {"lr", s.lr}, {"grad_norm", s.grad_norm},
                      {"tok_s", tokens_per_second}, {"rss_mib", resident_mib()},
                      {"live_tensors", storage_stats().live}, {"held_mib", held_mib}, {"graph_nodes", nodes}};
  if (DataParallel::world().ranks() > 1) m["allreduce_ms"] = 1e3 * s.comm_seconds;
  // The phase that ran this step (the selection's last step reports as selection).
  (r.step <= r.steps ? *r.method : *r.final_shape).report(*r.model, r.step, m);
  return m;
}

// Validation every eval_every steps, at the end of the selection and of the
// run; best.* keeps the lowest.
void validate(Run& r, Progress& bar, nlohmann::json& m) {
  if (r.step % r.cfg.eval_every != 0 && r.step != r.steps && r.step != r.total_steps) return;
  const double valid = evaluate_loss(*r.model, r.data.valid, r.cfg.batch, r.cfg.eval_segments, r.cfg.prune.output_scaling);
  m["valid_loss"] = valid;
  if (DataParallel::world().leader()) {
    bar.finish();
    std::fprintf(stderr, "step %lld: %s\n", static_cast<long long>(r.step), describe_loss(r.cfg, "valid", valid).c_str());
  }
  if (r.best == 0 || valid < r.best) {
    r.best = valid;
    write_checkpoint(r, "best");
  }
}

// The loop: steps until the end, a stop request or --stop-at. Returns the exit status.
int train_loop(Run& r) {
  const DataParallel& dp = DataParallel::world();
  const bool leader = dp.leader();
  if (leader)
    std::fprintf(stderr, "model: %lld parameters (%lld without the embedding and position table), vocabulary %lld\n",
                 static_cast<long long>(r.model->parameter_count(true)),
                 static_cast<long long>(r.model->parameter_count(false)),
                 static_cast<long long>(r.data.tokenizer.size()));
  // A fresh run starts a fresh metrics file; a resumed one continues it.
  std::ofstream metrics;
  if (leader) metrics.open(r.out + "/metrics.jsonl", r.resume ? std::ios::app : std::ios::trunc);
  g_stop = false;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const double tokens_per_step = static_cast<double>(r.cfg.accum * r.cfg.batch * r.model->config().seg_len);
  const std::string dump_gradients = r.cl.get("dump-gradients", "");
  Progress bar("train", r.total_steps);
  int64_t nodes_before = graph_nodes_created();
  bool stopping = false;  // agreed by all ranks each step (a signal may reach them at different times)
  while (r.step < r.total_steps && !stopping) {
    const auto t0 = std::chrono::steady_clock::now();
    StepResult s = forward_backward(r);
    s.lr = scheduled_lr(r.cfg, r.step, r.total_steps);
    stopping = s.stop;
    if (!optimizer_step(r, s, dump_gradients)) {
      if (leader) {
        bar.finish();
        std::fprintf(stderr, "error: the loss became %s%s at step %lld (gradient norm %g); stopping without "
                     "updating. The last good checkpoint is %s\n", std::isfinite(s.loss) ? "finite but the gradient not" : "NaN/Inf",
                     s.failed_ranks.c_str(), static_cast<long long>(r.step + 1), s.grad_norm, r.last.c_str());
      }
      return 1;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int64_t nodes_now = graph_nodes_created();
    nlohmann::json m = step_metrics(r, s, tokens_per_step / seconds, nodes_now - nodes_before);
    nodes_before = nodes_now;
    char text[80];
    std::snprintf(text, sizeof text, "loss %.4f", s.loss);
    if (m.contains("kept_heads"))
      std::snprintf(text, sizeof text, "loss %.4f heads %lld", s.loss, static_cast<long long>(m["kept_heads"].get<int64_t>()));
    if (leader) bar.update(r.step, static_cast<double>(r.step) * tokens_per_step, text);
    validate(r, bar, m);
    if (leader) {
      metrics << m.dump() << "\n" << std::flush;
      if (!metrics) throw std::runtime_error(r.out + "/metrics.jsonl: write failed (disk full?); the last checkpoint is " + r.last);
    }
    if (r.step == r.stop_at) stopping = true;
    if (r.step % r.cfg.checkpoint_every == 0 || r.step == r.total_steps || stopping) checkpoint_step(r);
  }
  if (leader) bar.finish();
  if (r.saved_step != r.step) checkpoint_step(r);  // stopped between a step's end and the next check
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (stopping) {
    if (leader) std::fprintf(stderr, "interrupted at step %lld: checkpoint %s written; continue with the same command and --resume\n",
                 static_cast<long long>(r.step), r.last.c_str());
    return 130;
  }
  if (leader) std::fprintf(stderr, "done: %lld steps, best %s, checkpoints in %s\n", static_cast<long long>(r.step),
               describe_loss(r.cfg, "valid", r.best).c_str(), r.out.c_str());
  return 0;
}

// The run's end: a resumed run restores its state, a fresh one starts every
// rank from rank 0's weights; then the loop.
int start(Run& r, const Checkpoint& resume_from) {
  r.total_steps = r.steps + (r.model->gate_logits().empty() ? 0 : r.cfg.prune.finetune_steps);
  r.final_shape = std::make_unique<FinalShape>(r.cfg.prune.output_scaling);
  if (r.resume) restore(r, resume_from);
  else DataParallel::world().broadcast(r.params);
  return train_loop(r);
}

}  // namespace

int train_command(const CommandLine& cl) {
  Run r(cl);
  const Origin o = open_run_dir(r, cl.sets);
  build_model(r, o);
  build_optimizer(r);
  r.method = std::make_unique<DenseTraining>();
  r.steps = r.cfg.steps;
  return start(r, o.ckpt);
}

int prune_command(const CommandLine& cl) {
  std::vector<std::string> sets = cl.sets;
  if (cl.has("method")) sets.push_back("prune_method=" + cl.get("method", ""));  // prune --method M
  Run r(cl);
  Origin o = open_run_dir(r, sets);
  if (!r.resume) start_from_dense(cl, sets, o);
  build_model(r, o);
  add_gates(r, o);
  build_optimizer(r);
  r.steps = r.cfg.steps;
  const PruneSetup setup = prune_setup(r);
  r.method = find_method(r.cfg.prune.method).make(setup);
  if (!r.resume) choose_heads(r, setup);
  return start(r, o.ckpt);
}

}  // namespace hc
