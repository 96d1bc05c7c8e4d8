// `headcount bench`: does pruning buy speed? Times the evaluation forward
// pass (one segment of B streams x T tokens, memory of M carried, as `eval`
// runs it) of a dense model and of its pruned versions, at several batch
// sizes: ms per segment, tokens/s, the measured speedup, and the ideal one,
// dense FLOPs / pruned FLOPs from the ops' analytic counts (the embedding,
// output layer and LayerNorms do not shrink with heads, so the ideal is
// below the ratio of heads).
//
// The models: a checkpoint (--from) against a compacted one (--pruned), or
// against its own compaction when it is a gated checkpoint; or, for a config
// (--config), fresh weights (timing does not depend on them) against copies
// that keep each --keep fraction of the heads in every layer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/run.h"
#include "engine/backend.h"
#include "models/compaction.h"

namespace hc {

namespace {

struct Model {
  std::string name;
  const AllAttLM* model;
};

// Median wall time of `reps` forward passes of a (B,T) segment, after three
// warm-up passes that also fill the memory. The GPU is synchronised around
// every pass, so its time is the kernels' and not the launch queue's.
double forward_ms(const AllAttLM& model, int64_t B, int reps, Device device) {
  NoGrad no_grad;
  RngStream rng{0, 0};
  Memory mem = model.initial_memory(B);
  const int64_t T = model.config().seg_len, V = model.config().vocab;
  std::vector<int64_t> ids(static_cast<size_t>(B * T));
  for (int64_t i = 0; i < B * T; ++i) ids[static_cast<size_t>(i)] = (i * 7919) % V;  // any tokens will do
  const Tensor x = Tensor::from_ids({B, T}, ids).to(device);
  Backend& be = backend(device);
  for (int i = 0; i < 3; ++i) model.logits(x, mem, false, rng);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    be.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    model.logits(x, mem, false, rng);
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int64_t heads_of(const AllAttLM& model) {
  int64_t heads = 0;
  for (const AllAttLayer& l : model.layers()) heads += l.shape().H;
  return heads;
}

// A copy of `dense` (with gates added) that keeps the first round(f H) heads of every layer.
std::unique_ptr<AllAttLM> keep_fraction(AllAttLM& gated, double fraction) {
  for (const Variable& g : gated.gate_logits()) {
    const int64_t H = g.numel(), open = std::llround(fraction * double(H));
    std::vector<double> logits(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) logits[static_cast<size_t>(h)] = h < open ? 1.0 : -1.0;
    g.value().copy_from(Tensor::from_vector({H}, logits, g.value().dtype()));
  }
  return compact(gated, false);
}

}  // namespace

int bench_command(const CommandLine& cl) {
  check(cl.from.empty() != cl.config.empty(), "headcount bench: give --from CKPT or --config FILE (one of them)");
  // Ranges checked by the parser (app/commands.cpp).
  const std::vector<int64_t> batches = cl.integers("batches");
  const int reps = static_cast<int>(cl.integer("reps"));

  // The dense model and the pruned ones, kept alive here.
  std::vector<std::unique_ptr<AllAttLM>> owned;
  std::vector<LoadedModel> loaded;
  std::vector<Model> models;
  if (!cl.from.empty()) {
    check(!cl.has("keep"), "--keep goes with --config; with --from, give --pruned CKPT");
    loaded.push_back(load_model(cl.from, cl.device, cl.sets));
    const AllAttLM& first = *loaded[0].model;
    const bool gated = !first.gate_logits().empty();
    if (cl.has("pruned")) {
      loaded.push_back(load_model(cl.get("pruned", ""), cl.device, cl.sets));
      const AllAttConfig &a = first.config(), &b = loaded[1].model->config();
      check(a.vocab == b.vocab && a.layers == b.layers && a.d_model == b.d_model && a.seg_len == b.seg_len &&
                a.mem_len == b.mem_len,
            "--pruned " + cl.get("pruned", "") + " is not a pruned version of " + cl.from +
                " (vocabulary, layers, width or segment lengths differ)");
      models.push_back({"dense", &first});
      // A gated --pruned checkpoint is timed as its compaction.
      const AllAttLM& second = *loaded[1].model;
      if (second.gate_logits().empty()) {
        models.push_back({"pruned", &second});
      } else {
        owned.push_back(compact(second, loaded[1].checkpoint.config.prune.output_scaling));
        models.push_back({"pruned", owned.back().get()});
      }
    } else {
      models.push_back({gated ? "dense" : "model", &first});
      // A gated checkpoint: all heads (gates ignored) against its compaction.
      if (gated) {
        owned.push_back(compact(first, loaded[0].checkpoint.config.prune.output_scaling));
        models.push_back({"pruned", owned.back().get()});
      }
    }
  } else {
    const RunConfig cfg = load_config(cl.config, cl.sets);
    const RunData data = load_data(cfg);
    owned.push_back(std::make_unique<AllAttLM>(model_config(cfg, data.tokenizer.size()), uint64_t(cfg.seed),
                                               DType::F32, cl.device));
    models.push_back({"dense", owned[0].get()});
    AllAttLM gated(model_config(cfg, data.tokenizer.size()), uint64_t(cfg.seed), DType::F32, cl.device);
    gated.add_gates(1.0);
    for (const std::string& f : cl.items("keep")) {  // fractions in (0, 1]
      owned.push_back(keep_fraction(gated, std::stod(f)));
      models.push_back({"keep " + f, owned.back().get()});
    }
  }

  const AllAttConfig& mc = models[0].model->config();
  const bool as_json = cl.has("json");
  nlohmann::json rows = nlohmann::json::array();
  if (!as_json) {
    std::printf("evaluation forward, T=%lld tokens with M=%lld of memory, %s, median of %d\n",
                static_cast<long long>(mc.seg_len), static_cast<long long>(mc.mem_len),
                cl.device == Device::CUDA ? "cuda" : "cpu", reps);
    std::printf("%-10s %6s %6s %10s %10s %9s %9s %9s\n", "model", "heads", "batch", "ms/seg", "tok/s", "speedup", "ideal",
                "achieved");
  }
  for (const int64_t B : batches) {
    const double dense_ms = forward_ms(*models[0].model, B, reps, cl.device);
    const double dense_flops = forward_flops(*models[0].model, B, false);
    for (const Model& m : models) {
      const double ms = &m == &models[0] ? dense_ms : forward_ms(*m.model, B, reps, cl.device);
      const double flops = forward_flops(*m.model, B, false);
      const double tok_s = double(B * mc.seg_len) / (ms * 1e-3), speedup = dense_ms / ms, ideal = dense_flops / flops;
      rows.push_back({{"model", m.name}, {"heads", heads_of(*m.model)}, {"batch", B}, {"ms", ms}, {"tok_s", tok_s},
                      {"flops", flops}, {"speedup", speedup}, {"ideal", ideal}});
      if (!as_json)
        std::printf("%-10s %6lld %6lld %10.3f %10.0f %8.2fx %8.2fx %8.0f%%\n", m.name.c_str(),
                    static_cast<long long>(heads_of(*m.model)), static_cast<long long>(B), ms, tok_s, speedup, ideal,
                    100 * speedup / ideal);
    }
  }
  if (as_json) std::printf("%s\n", rows.dump(1).c_str());
  return 0;
}

}  // namespace hc
