// What the subcommands share: turning a config into data, a model and back
// into checkpoint tensors, and measuring the loss of a split.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/checkpoint.h"
#include "app/config.h"
#include "data/tokenizer.h"
#include "models/allatt_lm.h"
#include "models/cost_model.h"

namespace hc {

struct RunData {
  Tokenizer tokenizer;
  std::vector<int64_t> train, valid, test;
};

// Read the corpus and tokenize it; the vocabulary is built from the training
// split unless a saved one is given (resume, eval, generate).
RunData load_data(const RunConfig& config, const Tokenizer* vocabulary = nullptr);

// The model's config with the vocabulary size filled in.
AllAttConfig model_config(const RunConfig& config, int64_t vocab);

// Parameters as checkpoint tensors, and back. Loading checks that every
// parameter is present with the right shape, and names what does not match.
std::map<std::string, Tensor> parameter_tensors(const AllAttLM& model);
void load_parameters(const AllAttLM& model, const std::map<std::string, Tensor>& tensors,
                     const std::string& source);

// Mean next-token loss (nats) over every prediction of `tokens` (each token
// but the first is a target once), read as B contiguous streams in segments
// of T with memory carried, as data/eval_split.h cuts them (no dropout).
// max_segments > 0 stops after that many segments per stream.
// `progress(done, total, tokens_scored)` is called after each step.
// A gated model is evaluated with its deterministic gates (and output scaling).
double evaluate_loss(const AllAttLM& model, const std::vector<int64_t>& tokens, int64_t B,
                     int64_t max_segments, bool output_scaling,
                     const std::function<void(int64_t, int64_t, int64_t)>& progress = {});

// "valid bpc 2.13" for char level (bits per byte), "valid ppl 143.2" for words.
std::string describe_loss(const RunConfig& config, const std::string& split, double loss);

// A checkpoint's model, ready for eval/generate: config, vocabulary, weights.
struct LoadedModel {
  Checkpoint checkpoint;
  Tokenizer tokenizer;
  std::unique_ptr<AllAttLM> model;
};
LoadedModel load_model(const std::string& path, Device device, const std::vector<std::string>& overrides);

// FLOPs of one evaluation forward pass of a (B,T) segment (gates as they are,
// deterministic), from the ops' analytic counts recorded by the profiler.
double forward_flops(const AllAttLM& model, int64_t B, bool output_scaling);

// The cost model for `want` in the costs.json of `headcount profile` at
// `path` (cost_model_for); throws std::invalid_argument naming the file and
// why it was refused (unreadable, no cost model, another model, device,
// thread count or batch).
CostModel read_cost_model(const std::string& path, const CostKey& want);

}  // namespace hc
