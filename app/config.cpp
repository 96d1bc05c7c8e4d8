#include "app/config.h"

#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace hc {

namespace {

using json = nlohmann::json;

// One configuration key: how to read it from JSON, write it back, and what it means.
struct Field {
  const char* name;
  const char* type;
  const char* help;
  std::function<void(const json&)> set;
  std::function<json()> get;
};

template <typename T>
Field field(const char* name, T& slot, const char* help);

template <>
Field field(const char* name, int64_t& slot, const char* help) {
  return {name, "integer", help,
          [&slot](const json& v) {
            if (!v.is_number_integer()) throw std::invalid_argument("expected an integer");
            slot = v.get<int64_t>();
          },
          [&slot] { return json(slot); }};
}
template <>
Field field(const char* name, double& slot, const char* help) {
  return {name, "number", help,
          [&slot](const json& v) {
            if (!v.is_number()) throw std::invalid_argument("expected a number");
            slot = v.get<double>();
          },
          [&slot] { return json(slot); }};
}
template <>
Field field(const char* name, bool& slot, const char* help) {
  return {name, "boolean", help,
          [&slot](const json& v) {
            if (!v.is_boolean()) throw std::invalid_argument("expected true or false");
            slot = v.get<bool>();
          },
          [&slot] { return json(slot); }};
}
template <>
Field field(const char* name, std::string& slot, const char* help) {
  return {name, "string", help,
          [&slot](const json& v) {
            if (!v.is_string()) throw std::invalid_argument("expected a string");
            // Configs are saved as JSON in every checkpoint's sidecar, and
            // JSON text is UTF-8: refuse now what could not be saved later.
            try {
              (void)v.dump();
            } catch (const json::type_error&) {
              throw std::invalid_argument("expected UTF-8 text");
            }
            slot = v.get<std::string>();
          },
          [&slot] { return json(slot); }};
}
template <>
Field field(const char* name, std::vector<int64_t>& slot, const char* help) {
  return {name, "list of integers", help,
          [&slot](const json& v) {
            if (!v.is_array()) throw std::invalid_argument("expected a list of integers");
            std::vector<int64_t> out;
            for (const json& e : v) {
              if (!e.is_number_integer()) throw std::invalid_argument("expected a list of integers");
              out.push_back(e.get<int64_t>());
            }
            slot = out;
          },
          [&slot] { return json(slot); }};
}

// The pruning keys, bound to one PruneConfig object.
std::vector<Field> prune_fields(PruneConfig& p) {
  return {
      field("prune_method", p.method, "prune: how heads are chosen (`headcount prune --help` lists the methods)"),
      field("l0_coefficient", p.l0_coefficient, "prune: weight of the L0 penalty (expected open heads)"),
      field("l0_warmup", p.l0_warmup,
            "prune: steps of the linear warm-up of the L0 coefficient, or of the target head count (0 = none)"),
      field("gate_init", p.gate_init, "prune: initial gate logit log_alpha"),
      field("gate_lr_scale", p.gate_lr_scale, "prune: learning-rate multiplier of learned gates"),
      field("output_scaling", p.output_scaling, "prune: scale each layer's attention output by H / open heads"),
      field("target_heads", p.target_heads, "prune: end with exactly this many heads (0 = L0's coefficient mode)"),
      field("target_fraction", p.target_fraction, "prune: end with this fraction of the heads (0 = off)"),
      field("target_flops", p.target_flops,
            "prune: keep the most heads whose model does at most this fraction of the dense forward FLOPs (0 = off)"),
      field("target_ms", p.target_ms,
            "prune: a time budget, the predicted ms of the pruned model's step (target_mode) at target_batch, "
            "from cost_model (0 = off; excludes target_heads, _fraction, _flops)"),
      field("target_speedup", p.target_speedup,
            "prune: a time budget as the dense predicted time / this (> 1; 0 = off; excludes target_ms)"),
      field("target_batch", p.target_batch, "prune, time budget: the batch the time is for (0 = the run's batch)"),
      field("target_mode", p.target_mode,
            "prune, time budget: infer (the inference forward) | train (the training step)"),
      field("cost_model", p.cost_model,
            "prune, time budget: the costs.json `headcount profile` wrote for the dense model (same device, "
            "threads and batch)"),
      field("importance_batches", p.importance_batches, "prune: batches a scored method that reads data averages over"),
      field("finetune_steps", p.finetune_steps,
            "prune: steps of fine-tuning at the final shape after the selection's `steps` (gates fixed)"),
      field("l0_budget_mode", p.l0_budget_mode,
            "prune, l0 with a budget: quadratic (a penalty around the target) | lagrangian (learned multipliers)"),
      field("lagrangian_lr", p.lagrangian_lr, "prune, l0_budget_mode lagrangian: the multipliers' ascent rate per step"),
      field("dsp_temperature", p.dsp_temperature, "prune, dsp: temperature of the relaxed top-K at the first step"),
      field("dsp_final_temperature", p.dsp_final_temperature,
            "prune, dsp: the temperature reached, geometrically, at the last step of the selection"),
      field("shapley_permutations", p.shapley_permutations, "prune, shapley: the most permutations of the heads sampled"),
      field("shapley_truncation", p.shapley_truncation,
            "prune, shapley: a permutation stops once the loss is within this many nats of all heads' (0 = never)"),
      field("astar_max_nodes", p.astar_max_nodes,
            "prune, astar: the most head sets expanded; beyond, the best one is completed greedily (inexact)"),
      field("rewind_from", p.rewind_from,
            "prune: an early checkpoint of the dense run that a rewinding method (lottery) resets the weights to; "
            "{dense} stands for the folder of the dense checkpoint prune starts from"),
      field("lottery_rounds", p.lottery_rounds, "prune, lottery: rounds of train, prune a fraction, rewind"),
  };
}

// The table of every key, bound to one RunConfig object (the pruning keys last).
std::vector<Field> fields(RunConfig& c) {
  AllAttConfig& m = c.model;
  std::vector<Field> all = {
      field("corpus", c.corpus, "moby | sotu (see `make data`) or a directory with train/valid/test.txt"),
      field("tokenizer", c.tokenizer, "char (bytes) | word (whitespace tokens, <eos> per line)"),
      field("min_count", c.min_count, "word level: training words seen fewer times become <unk>"),
      field("layers", m.layers, "L, number of All-attention layers"),
      field("d_model", m.d_model, "C, model width"),
      field("heads", m.heads, "H, attention heads per layer"),
      field("d_head", m.d_head, "D, width of one head"),
      field("persist", m.persist, "N, persistent key/value vectors per head (0 for the TXL baseline)"),
      field("d_ffn", m.d_ffn, "F, feed-forward width after each attention: > 0 makes the Transformer-XL baseline"),
      field("seg_len", m.seg_len, "T, tokens per segment"),
      field("mem_len", m.mem_len, "M, memory length carried across segments"),
      field("max_len", m.max_len, "rows of the relative-position table (>= seg_len + mem_len)"),
      field("heads_per_layer", m.heads_per_layer, "a compacted model's head count per layer ([] = heads everywhere)"),
      field("dropout_word", m.dropout_word, "word dropout: whole rows of the input embedding"),
      field("dropout_embed", m.dropout_embed, "dropout on token embeddings"),
      field("dropout_pos", m.dropout_pos, "dropout on the position table"),
      field("dropout_attn", m.dropout_attn, "dropout on attention probabilities"),
      field("dropout_residual", m.dropout_residual, "dropout on each layer's output projection"),
      field("dropout_proj", m.dropout_proj, "first dropout before the output layer"),
      field("dropout_output", m.dropout_output, "second dropout before the output layer"),
      field("layernorm_eps", m.layernorm_eps, "LayerNorm epsilon"),
      field("fused_attention", m.fused_attention,
            "attention in one fused op per layer (no score matrices in memory); false: op by op. Same results"),
      field("adaptive_cutoffs", m.adaptive_cutoffs,
            "word ids where the adaptive input/softmax clusters start ([] = one tied V x C softmax)"),
      field("adaptive_div", m.adaptive_div, "adaptive clusters: cluster i has width d_model / adaptive_div^i"),
      field("batch", c.batch, "B, parallel streams per step"),
      field("steps", c.steps, "optimizer steps"),
      field("accum", c.accum, "micro-batches of B streams per optimizer step"),
      field("optimizer", c.optimizer, "adam (AdamW) | lamb"),
      field("lr", c.lr, "peak learning rate"),
      field("min_lr", c.min_lr, "learning rate at the end of the cosine decay"),
      field("decay_steps", c.decay_steps, "step where the cosine decay ends and min_lr holds after it (0: the last step)"),
      field("warmup", c.warmup, "linear warm-up steps"),
      field("weight_decay", c.weight_decay, "decoupled weight decay"),
      field("beta1", c.beta1, "Adam beta1"),
      field("beta2", c.beta2, "Adam beta2"),
      field("eps", c.eps, "Adam epsilon"),
      field("bias_correction", c.bias_correction, "Adam/LAMB bias correction"),
      field("grad_clip", c.grad_clip, "clip the global gradient norm to this (0 = off)"),
      field("eval_every", c.eval_every, "steps between validations"),
      field("eval_segments", c.eval_segments, "segments per validation (0 = the whole split)"),
      field("checkpoint_every", c.checkpoint_every, "steps between checkpoints"),
      field("keep_checkpoints", c.keep_checkpoints, "keep only the newest K step-N checkpoints (0 = keep all)"),
      field("seed", c.seed, "seed of initialisation, dropout and data order"),
      field("out_dir", c.out_dir, "where metrics and checkpoints go"),
  };
  for (Field& f : prune_fields(c.prune)) all.push_back(std::move(f));
  return all;
}

Field* find(std::vector<Field>& fs, const std::string& key) {
  for (Field& f : fs)
    if (key == f.name) return &f;
  return nullptr;
}

void set_one(std::vector<Field>& fs, const std::string& key, const json& value,
             const std::string& origin) {
  Field* f = find(fs, key);
  if (!f) throw std::invalid_argument(origin + ": unknown config key '" + key + "' (see --help-config)");
  try {
    f->set(value);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(origin + ": config key '" + key + "': " + e.what() + ", got " +
                                value.dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

}  // namespace

void RunConfig::apply(const json& object, const std::string& origin) {
  if (!object.is_object()) throw std::invalid_argument(origin + ": a config must be a JSON object");
  std::vector<Field> fs = fields(*this);
  for (const auto& [key, value] : object.items()) set_one(fs, key, value, origin);
}

void RunConfig::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("--set " + assignment + ": expected key=value");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  // Numbers, booleans and lists are JSON; anything else is taken as a string.
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;
  std::vector<Field> fs = fields(*this);
  set_one(fs, key, value, "--set");
}

json RunConfig::to_json() const {
  RunConfig copy = *this;
  json out = json::object();
  for (const Field& f : fields(copy)) out[f.name] = f.get();
  return out;
}

void RunConfig::validate() const {
  model.validate();
  auto positive = [](int64_t v, const char* name) {
    check(v > 0, std::string("config: ") + name + " must be positive, got " + std::to_string(v));
  };
  positive(batch, "batch");
  positive(steps, "steps");
  positive(accum, "accum");
  positive(eval_every, "eval_every");
  positive(checkpoint_every, "checkpoint_every");
  check(batch <= (int64_t{1} << 20) && accum <= (int64_t{1} << 20), "config: batch and accum must be <= 2^20");
  // The attention scores dominate activation memory: L layers of
  // (B, H, T, S + N) probabilities, kept for backward. Beyond 2^38 floats
  // (1 TiB) no machine runs it; refuse instead of failing in the allocator.
  double scores = 0;
  for (int64_t l = 0; l < model.layers; ++l)
    scores += double(batch) * double(model.heads_in(l)) * double(model.seg_len) *
              double(model.seg_len + model.mem_len + model.persist);
  check(scores <= 0x1p38, "config: the attention scores of one step would hold " + std::to_string(scores) +
                              " floats, beyond the limit of 2^38; lower batch, seg_len, mem_len or heads");
  check(tokenizer == "char" || tokenizer == "word",
        "config: tokenizer must be char or word, got '" + tokenizer + "'");
  check(optimizer == "adam" || optimizer == "lamb",
        "config: optimizer must be adam or lamb, got '" + optimizer + "'");
  check(lr > 0 && min_lr >= 0 && min_lr <= lr, "config: need 0 <= min_lr <= lr and lr > 0");
  check(warmup >= 0, "config: warmup must be >= 0");
  check(decay_steps == 0 || (decay_steps > warmup && decay_steps <= steps),
        "config: decay_steps must be 0 (the last step) or between warmup and steps");
  check(grad_clip >= 0, "config: grad_clip must be >= 0");
  check(min_count >= 1, "config: min_count must be >= 1");
  check(eval_segments >= 0, "config: eval_segments must be >= 0");
  check(keep_checkpoints >= 0, "config: keep_checkpoints must be >= 0");
  prune.validate();
}

std::string RunConfig::help() {
  RunConfig defaults;
  std::ostringstream out;
  for (const Field& f : fields(defaults))
    out << "  " << f.name << " (" << f.type << ", default " << f.get().dump() << "): " << f.help
        << "\n";
  return out.str();
}

RunConfig with_model_of(const RunConfig& source) {
  RunConfig c;
  c.corpus = source.corpus;
  c.tokenizer = source.tokenizer;
  c.min_count = source.min_count;
  c.model = source.model;
  return c;
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides, const RunConfig& base) {
  RunConfig c = base;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument("config file " + path + ": cannot open");
    json j = json::parse(in, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
    if (j.is_discarded()) throw std::invalid_argument("config file " + path + ": not valid JSON");
    c.apply(j, "config file " + path);
  }
  for (const std::string& o : overrides) c.apply_override(o);
  c.validate();
  return c;
}

}  // namespace hc
