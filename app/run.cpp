#include "app/run.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "data/eval_split.h"
#include "engine/profiler.h"
#include "data/corpus.h"
#include "models/gates.h"

namespace hc {

RunData load_data(const RunConfig& config, const Tokenizer* vocabulary) {
  const Corpus corpus = read_corpus(config.corpus);
  RunData d{vocabulary ? *vocabulary
                       : Tokenizer::build(tokenizer_kind(config.tokenizer), corpus.train, config.min_count),
            {}, {}, {}};
  d.train = d.tokenizer.encode(corpus.train);
  d.valid = d.tokenizer.encode(corpus.valid);
  d.test = d.tokenizer.encode(corpus.test);
  return d;
}

AllAttConfig model_config(const RunConfig& config, int64_t vocab) {
  AllAttConfig m = config.model;
  m.vocab = vocab;
  return m;
}

std::map<std::string, Tensor> parameter_tensors(const AllAttLM& model) {
  std::map<std::string, Tensor> out;
  for (const Variable& p : model.parameters()) out[p.name()] = p.value();
  return out;
}

void load_parameters(const AllAttLM& model, const std::map<std::string, Tensor>& tensors,
                     const std::string& source) {
  // Every tensor must belong to the model (or be run state: optimizer
  // moments, carried memory, gate logits that a pruning run adds itself):
  // a sidecar that claims fewer layers or heads than the file holds would
  // otherwise load as a smaller, wrong model.
  std::set<std::string> names;
  for (const Variable& p : model.parameters()) names.insert(p.name());
  for (const auto& [name, t] : tensors) {
    const bool run_state = name.rfind("optim.", 0) == 0 || name.rfind("memory.", 0) == 0 || name.rfind("method.", 0) == 0 ||
                           name.find(".gate.log_alpha") != std::string::npos;
    check(run_state || names.count(name), source + ": tensor '" + name +
                                              "' belongs to no parameter of the model its sidecar describes "
                                              "(a sidecar that disagrees with the tensors?)");
  }
  for (const Variable& p : model.parameters()) {
    auto it = tensors.find(p.name());
    check(it != tensors.end(), source + ": no tensor '" + p.name() + "' (a checkpoint of a different model?)");
    check(it->second.shape() == p.shape() && it->second.dtype() == p.value().dtype(),
          source + ": tensor '" + p.name() + "' is " + it->second.describe() + ", the model needs " +
              dtype_name(p.value().dtype()) + shape_str(p.shape()) +
              " (a checkpoint of a different config or vocabulary?)");
    p.value().copy_from(it->second);
  }
}

namespace {
// The rows `streams` of every layer's memory (B,M,C): the memory of the
// streams that a last, shorter segment continues.
Memory memory_of(const Memory& mem, const std::vector<int64_t>& streams) {
  Memory sub;
  for (const Tensor& layer : mem.layers) {
    Shape shape = layer.shape();
    shape[0] = static_cast<int64_t>(streams.size());
    Tensor rows = Tensor::empty(shape, layer.dtype(), layer.device());
    for (size_t i = 0; i < streams.size(); ++i)
      rows.slice_rows(static_cast<int64_t>(i), static_cast<int64_t>(i) + 1).copy_from(layer.slice_rows(streams[i], streams[i] + 1));
    sub.layers.push_back(rows);
  }
  return sub;
}
}  // namespace

double evaluate_loss(const AllAttLM& model, const std::vector<int64_t>& tokens, int64_t B,
                     int64_t max_segments, bool output_scaling,
                     const std::function<void(int64_t, int64_t, int64_t)>& progress) {
  const EvalSplit split(tokens, B, model.config().seg_len);
  const int64_t steps = max_segments > 0 ? std::min(max_segments, split.steps()) : split.steps();
  NoGrad no_grad;
  Memory mem = model.initial_memory(split.streams());
  RngStream unused{0, 0};  // no dropout in evaluation
  double total = 0;  // nats summed over every prediction
  int64_t scored = 0;
  for (int64_t k = 0; k < steps; ++k) {
    for (const EvalSplit::Group& g : split.step(k)) {
      const std::vector<Variable> gates = layer_gates(model, unused, false, output_scaling);
      const bool all = static_cast<int64_t>(g.streams.size()) == split.streams();
      // Only the last step has shorter groups; nothing reads the memory after it.
      Memory part = all ? Memory{} : memory_of(mem, g.streams);
      const double mean = model.loss(g.inputs, g.targets, all ? mem : part, false, unused, gates)
                              .value()
                              .item();
      total += mean * static_cast<double>(g.targets.numel());
      scored += g.targets.numel();
    }
    if (progress) progress(k + 1, steps, scored);
  }
  return total / static_cast<double>(scored);
}

std::string describe_loss(const RunConfig& config, const std::string& split, double loss) {
  char buf[96];
  if (config.tokenizer == "char")
    std::snprintf(buf, sizeof buf, "%s loss %.4f nats, %.4f bits per byte", split.c_str(), loss, loss / std::log(2.0));
  else
    std::snprintf(buf, sizeof buf, "%s loss %.4f nats, perplexity %.2f", split.c_str(), loss, std::exp(loss));
  return buf;
}

LoadedModel load_model(const std::string& path, Device device, const std::vector<std::string>& overrides) {
  LoadedModel m;
  m.checkpoint = load_checkpoint(path);
  for (const std::string& o : overrides) m.checkpoint.config.apply_override(o);
  m.checkpoint.config.validate();
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  m.tokenizer = Tokenizer::load((dir / m.checkpoint.vocab).string());
  m.model = std::make_unique<AllAttLM>(model_config(m.checkpoint.config, m.tokenizer.size()),
                                       static_cast<uint64_t>(m.checkpoint.config.seed), DType::F32, device);
  if (m.checkpoint.tensors.count("layers.0.attn.gate.log_alpha")) m.model->add_gates(0.0);  // a pruning checkpoint
  load_parameters(*m.model, m.checkpoint.tensors, "checkpoint " + path);
  return m;
}

double forward_flops(const AllAttLM& model, int64_t B, bool output_scaling) {
  NoGrad no_grad;
  RngStream rng{0, 0};
  Memory mem = model.initial_memory(B);
  const Tensor x = Tensor::zeros({B, model.config().seg_len}, DType::I64);
  const std::vector<Variable> gates = layer_gates(model, rng, false, output_scaling);
  profiler::clear();
  profiler::enable(true);
  model.logits(x, mem, false, rng, gates);
  profiler::enable(false);
  double flops = 0;
  for (const auto& e : profiler::events()) flops += e.cost.flops;
  profiler::clear();
  return flops;
}

CostModel read_cost_model(const std::string& path, const CostKey& want) {
  std::ifstream in(path);
  check(in.good(), "cost model " + path + ": cannot be read");
  const nlohmann::json costs = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  check(!costs.is_discarded() && costs.is_object(), "cost model " + path + ": not a JSON object");
  try {
    return cost_model_for(costs, want);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(path + ": a malformed cost model (" + std::string(e.what()) + ")");
  }
}

}  // namespace hc
