// `headcount generate`: continue a prompt by sampling from the model.
//
// The prompt is fed in segments of at most seg_len tokens, carrying memory
// as in training; then one token at a time: sample from the last position's
// distribution (logits / temperature, restricted to the top k), feed the
// sample back in as a segment of length 1 with the memory of everything
// before it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "app/commands.h"
#include "app/run.h"
#include "engine/rng.h"
#include "models/gates.h"

namespace hc {

int generate_command(const CommandLine& cl) {
  check(!cl.from.empty(), "headcount generate: --from CHECKPOINT is required");
  LoadedModel m = load_model(cl.from, cl.device, cl.sets);
  const AllAttLM& model = *m.model;
  const Tokenizer& tok = m.tokenizer;
  const std::string prompt = cl.get("prompt", "\n");
  // Ranges checked by the parser (app/commands.cpp).
  const int64_t count = cl.integer("tokens");
  const double temperature = cl.real("temperature");
  const int64_t top_k = cl.integer("top-k");
  const uint64_t seed = static_cast<uint64_t>(cl.integer("seed"));

  std::vector<int64_t> ids = tok.encode(prompt);
  check(!ids.empty(), "--prompt is empty (for the word tokenizer, a prompt needs at least one word)");
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == tok.unk_id()) {
      const std::string what = tok.kind() == Tokenizer::Kind::Char
                                   ? "byte " + std::to_string(static_cast<unsigned char>(prompt[i]))
                                   : "word " + std::to_string(i + 1);
      throw std::invalid_argument("--prompt: " + what + " is not in the model's vocabulary");
    }

  NoGrad no_grad;
  RngStream unused{0, 0};
  Memory mem = model.initial_memory(1);
  const int64_t T = model.config().seg_len, V = tok.size();
  std::vector<double> last;  // logits of the latest position
  auto feed = [&](const std::vector<int64_t>& segment) {
    const Tensor x = Tensor::from_ids({1, static_cast<int64_t>(segment.size())}, segment);
    const std::vector<Variable> gates = layer_gates(model, unused, false, m.checkpoint.config.prune.output_scaling);
    const std::vector<double> all = model.logits(x, mem, false, unused, gates).value().to_vector();
    last.assign(all.end() - V, all.end());
  };
  for (size_t at = 0; at < ids.size(); at += static_cast<size_t>(T))
    feed(std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(at),
                              ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + T))));

  std::vector<int64_t> produced;
  for (int64_t n = 0; n < count; ++n) {
    // Softmax of logits / temperature over the top k (all if k is 0).
    std::vector<int64_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    const int64_t k = top_k > 0 ? std::min(top_k, V) : V;
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) { return last[a] > last[b]; });
    std::vector<double> p(k);
    for (int64_t i = 0; i < k; ++i) p[i] = std::exp((last[order[i]] - last[order[0]]) / temperature);
    const double total = std::accumulate(p.begin(), p.end(), 0.0);
    double u = philox::uniform(philox::bits(seed, 0, static_cast<uint64_t>(n))) * total;
    int64_t choice = order[k - 1];
    for (int64_t i = 0; i < k; ++i) {
      if (u < p[i]) {
        choice = order[i];
        break;
      }
      u -= p[i];
    }
    produced.push_back(choice);
    feed({choice});
  }
  std::printf("%s%s\n", prompt.c_str(), tok.decode(produced).c_str());
  return 0;
}

}  // namespace hc
