// A pruning method, as the training loop sees it, and the registry of every
// method headcount has.
//
// A pruning run is a training run of a model with one gate per head
// (models/gates.h). It has two phases:
//   selection    `steps` optimizer steps in which the method decides which
//                heads stay: it chooses the gates of every forward pass, may
//                add a penalty to the loss, may learn the gate logits, and
//                may rewrite them (a scored method fixes them before the
//                first step; a method with a budget reads them out exactly
//                after the last);
//   fine-tuning  `finetune_steps` more steps at the final shape, the same for
//                every method: the gates fixed to the chosen heads, no
//                penalty, only the weights learn.
// Dense training is the run with no method (DenseTraining below).
//
// To add a method: write models/methods/NAME.cpp (a scored method is one
// function that scores every head), add its line to the table in
// models/pruning_methods.cpp, and a test of its defining property. Config
// validation, `headcount prune --help`, `headcount compare` and the docs read
// the names from the table.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/allatt_lm.h"
#include "models/cost_model.h"
#include "models/head_mask.h"
#include "models/rng_stream.h"

namespace hc {

struct MethodInfo;

// The pruning keys of a run's config (app/config.cpp lists and documents them).
struct PruneConfig {
  std::string method = "l0";     // a name in pruning_methods()
  double l0_coefficient = 0.02;  // L0: weight of the expected-open-gates penalty
  int64_t l0_warmup = 1000;      // steps of the warm-up (of the coefficient, or of the target)
  double gate_init = 2.0;        // initial log_alpha of every gate
  double gate_lr_scale = 10.0;   // learned gates learn this many times faster (no weight decay)
  bool output_scaling = true;    // scale each layer's output by H / open heads
  int64_t target_heads = 0;      // > 0: end with exactly this many heads
  double target_fraction = 0;    // > 0: the same, as a fraction of all heads
  double target_flops = 0;       // > 0: the most heads within this fraction of the dense forward FLOPs
  int64_t importance_batches = 32;  // scored methods that look at data: batches averaged
  int64_t finetune_steps = 0;    // steps at the final shape after the selection
  std::string l0_budget_mode = "quadratic";  // L0 with a budget: quadratic | lagrangian
  double lagrangian_lr = 0.01;   // the Lagrangian multipliers' ascent rate (per step)
  double dsp_temperature = 1.0;         // DSP: temperature of the relaxed top-K at the first step
  double dsp_final_temperature = 0.05;  // DSP: ... annealed geometrically to this at the last selection step
  int64_t shapley_permutations = 32;    // Shapley: the most permutations sampled
  double shapley_truncation = 0.005;    // Shapley: a permutation stops within this many nats of v(all) (0 = never)
  int64_t astar_max_nodes = 64;         // A*: the most states expanded before it completes greedily
  std::string rewind_from;              // a checkpoint of the dense run a method may rewind the weights to
  int64_t lottery_rounds = 3;           // lottery: prune-and-rewind rounds over the selection
  // A time budget (models/time_budget.h), instead of a head count:
  double target_ms = 0;                 // > 0: the predicted time of the pruned model's step, ms
  double target_speedup = 0;            // > 1: the same, as the dense predicted time / this
  int64_t target_batch = 0;             // the batch the time is for (0: the run's batch)
  std::string target_mode = "infer";    // infer (the inference forward) | train (the training step)
  std::string cost_model;               // a profile's costs.json, the cost model the time is predicted by

  // A time budget is set (target_ms or target_speedup).
  bool time_budget() const { return target_ms > 0 || target_speedup > 0; }

  // Ranges, the method's name, and a budget for the methods that need one;
  // throws std::invalid_argument naming the key.
  void validate() const;

 private:
  // The time budget's keys, for the method `known`.
  void validate_time_budget(const MethodInfo& known) const;
};

// The budget as a number of heads to end with (0: none, L0's coefficient
// mode): target_heads, or a fraction of the model's heads, or the most heads
// within target_flops of its forward FLOPs (models/head_cost.h). Throws if
// the budget exceeds the model's heads or leaves none.
int64_t budget_heads(const AllAttConfig& model, const PruneConfig& prune);

// What a method knows about its run when it is made.
struct PruneSetup {
  PruneConfig config;
  int64_t heads = 0;   // all heads of the model
  int64_t budget = 0;  // budget_heads(); 0 = none
  int64_t steps = 0;   // the selection phase
  int64_t accum = 1;   // micro-batches per optimizer step
  uint64_t seed = 0;
  // rewind_from's tensors that are the model's parameters, by name (empty
  // without one); the app loads them.
  std::map<std::string, Tensor> rewind = {};
  // A time budget: the cost model of the run's key and the budget in seconds
  // (the app loads and checks them, models/time_budget.h), and the largest
  // predicted time any shape of whole heads has within it
  // (largest_time_within); none without one.
  std::optional<CostModel> cost = {};
  double budget_s = 0, largest_fit_s = 0;
};

// The heads a method that keeps the best-scored heads keeps: the `budget`
// best (top_heads), or with a time budget the best per second of predicted
// time that fit it (heads_within_time).
HeadMask keep_within_budget(const HeadScores& scores, const PruneSetup& s);

// What a scored method may look at: the model and, for the methods that
// need data, the loss of the next probe batch with given gates (one (H_l)
// vector per layer; every call reads a new batch).
struct ScoreInputs {
  const AllAttLM& model;
  uint64_t seed;
  int64_t batches;  // probe batches to average over
  std::function<Variable(const std::vector<Variable>&)> probe_loss;
  // The methods that compare head sets (shapley, astar): the mean loss, in
  // nats, over the same `batches` probe batches on every call (memory
  // carried from an empty start through them, no dropout, no gradient), so
  // that every set is scored on the same data.
  std::function<double(const std::vector<Variable>&)> fixed_loss = {};
};
using ScoreFunction = HeadScores (*)(const ScoreInputs&);

class PruningMethod {
 public:
  virtual ~PruningMethod() = default;

  // How fast the gate logits learn, as a multiple of the learning rate
  // (0: they stay as the method sets them).
  virtual double gate_lr_scale() const { return 0.0; }
  // A fresh run, before its first step: a scored method chooses here.
  virtual void choose(AllAttLM& /*model*/, const ScoreInputs& /*probe*/) {}
  // The gates of one forward pass in step `step` (0-based), one (H_l)
  // variable per layer; empty for none.
  std::vector<Variable> gates(const AllAttLM& model, int64_t step, RngStream& rng);
  // What one micro-batch of step `step` adds to the loss (undefined: nothing).
  virtual Variable penalty(const AllAttLM& /*model*/, int64_t /*step*/) { return {}; }
  // Step `step`'s gradients are in the weights (clipped, averaged over
  // ranks); the optimizer has not used them yet.
  virtual void before_step(AllAttLM& /*model*/, int64_t /*step*/) {}
  // After the optimizer has taken its `done`-th step.
  virtual void after_step(AllAttLM& /*model*/, int64_t /*done*/) {}
  // This step's numbers for metrics.jsonl (after its `done`-th step): the
  // sampled sparsity, the heads in use, P(open) per head, and the method's own.
  void report(const AllAttLM& model, int64_t done, nlohmann::json& metrics);
  // The heads the model runs with now, for the log: by default what the
  // deterministic gates keep (what compaction would keep).
  virtual int64_t heads_in_use(const AllAttLM& model, int64_t done) const;
  // State a resumed run needs besides the model and the optimizer (e.g.
  // learned multipliers), by name; checkpoints hold it as method.NAME.
  virtual std::map<std::string, Tensor> state() const { return {}; }
  virtual void load_state(const std::map<std::string, Tensor>& /*state*/) {}
  // What choose() found, for the run's choose.json (values, search counts).
  virtual void choose_report(nlohmann::json& /*out*/) const {}

 protected:
  virtual std::vector<Variable> draw_gates(const AllAttLM& model, int64_t step, RngStream& rng) = 0;
  virtual void report_own(int64_t /*done*/, nlohmann::json& /*metrics*/) const {}

 private:
  int64_t closed_ = 0, drawn_ = 0;  // sampled gates of the current step
  int64_t counted_step_ = -1;
};

// Training without gates: what `headcount train` runs.
class DenseTraining final : public PruningMethod {
 protected:
  std::vector<Variable> draw_gates(const AllAttLM&, int64_t, RngStream&) override { return {}; }
};

// The fine-tuning phase shared by every method: the deterministic gates
// (the chosen heads, with output scaling as configured), nothing learned by
// the gates, no penalty. What the compacted model would compute, with its
// dropout drawn as the gated model draws it.
class FinalShape final : public PruningMethod {
 public:
  explicit FinalShape(bool output_scaling) : output_scaling_(output_scaling) {}

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t step, RngStream& rng) override;

 private:
  bool output_scaling_;
};

// ---- the registry ----
// Learned: chooses while it trains; Scored: chooses once, before training;
// Inference: chooses per sequence at inference time, with nothing to train
// (a run config refuses it; its own tools run it, as its details say).
enum class MethodKind { Learned, Scored, Inference };

struct MethodInfo {
  const char* name;
  MethodKind kind;
  bool needs_budget;  // ends with a head count given by target_heads, _fraction or _flops
  const char* help;   // one line for `headcount prune --help`
  const char* paper;  // where the method comes from
  const char* details;  // more for `headcount prune --help` (indented lines), or ""
  std::function<std::unique_ptr<PruningMethod>(const PruneSetup&)> make;  // empty for Inference
  ScoreFunction score = nullptr;  // scored methods: their criterion, for tests and tools
  bool time_budget = false;  // takes a time budget (target_ms or target_speedup) in place of a head count
};

// Every method, in the order `--help` lists them.
const std::vector<MethodInfo>& pruning_methods();
// The method of this name; throws std::invalid_argument listing the names.
const MethodInfo& find_method(const std::string& name);
// "l0, topk, ..." for messages.
std::string method_names();

}  // namespace hc
