// Run configuration: one flat set of named, typed keys, read from a JSON file
// (configs/*.json) and overridden by `--set key=value` on the command line.
// An unknown key or a value of the wrong type is an error that names the key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/allatt_lm.h"
#include "models/pruning_method.h"

namespace hc {

struct RunConfig {
  // ---- data ----
  std::string corpus = "moby";     // moby | sotu (fetched by `make data`) or a directory
  std::string tokenizer = "char";  // char | word
  int64_t min_count = 1;           // word level: rarer training words become <unk>

  // ---- model ----
  AllAttConfig model;

  // ---- training ----
  int64_t batch = 16;              // B parallel streams
  int64_t steps = 1000;            // optimizer steps
  int64_t accum = 1;               // micro-batches per step (gradient accumulation)
  std::string optimizer = "adam";  // adam | lamb
  double lr = 1e-3;                // peak learning rate
  double min_lr = 1e-4;            // end of the cosine decay
  int64_t decay_steps = 0;         // the decay ends at this step, then min_lr (0: at the last step)
  int64_t warmup = 100;            // linear warm-up steps
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool bias_correction = true;     // the paper's LAMB runs without
  double grad_clip = 0.5;          // global-norm clip; 0 turns it off
  int64_t eval_every = 200;        // steps between validations
  int64_t eval_segments = 0;       // segments per validation; 0 = the whole split
  int64_t checkpoint_every = 500;  // steps between checkpoints
  int64_t keep_checkpoints = 0;    // keep the newest K step-N checkpoints (0 = all)
  int64_t seed = 1;
  std::string out_dir = "runs/default";

  // ---- pruning (headcount prune) ----
  PruneConfig prune;

  // Apply a JSON object of keys; throws std::invalid_argument naming the key.
  void apply(const nlohmann::json& object, const std::string& origin);
  // Apply one `key=value` (the value is parsed as JSON, or taken as a string).
  void apply_override(const std::string& assignment);
  nlohmann::json to_json() const;
  void validate() const;  // cross-field checks, after all overrides
  static std::string help();  // every key with its type and meaning
};

// Start from `base` (the defaults unless given), apply the file at `path`
// (may be empty) and the overrides in order, validate.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides,
                      const RunConfig& base = RunConfig{});
// The defaults with `source`'s data and model keys (corpus, tokenizer,
// min_count and every model key): what a run continuing from a checkpoint of
// `source` starts from, so that a pruning config needs no model keys.
RunConfig with_model_of(const RunConfig& source);

}  // namespace hc
