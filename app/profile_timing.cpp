#include "app/profile_timing.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>

#include "app/progress.h"
#include "models/gates.h"

namespace hc {

Batch random_batch(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<int64_t> a(B * T), b(B * T);
  for (auto* v : {&a, &b})
    for (int64_t& id : *v) id = static_cast<int64_t>(gen() % uint64_t(V));
  return {Tensor::from_ids({B, T}, a), Tensor::from_ids({B, T}, b)};
}

void train_step(const AllAttLM& model, const Batch& batch, Memory& mem, RngStream& rng) {
  const std::vector<Variable> gates =
      model.gate_logits().empty() ? std::vector<Variable>{} : layer_gates(model, rng, false, true);
  model.loss(batch.inputs, batch.targets, mem, true, rng, gates).backward();
  for (const Variable& p : model.parameters()) p.zero_grad();
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The fastest of `reps` calls after one warm-up call: on a shared machine
// the least disturbed run is the best estimate of what the work costs. The
// device is synchronised before the clock stops: GPU work is asynchronous.
double fastest_seconds(Device device, int reps, const std::function<void()>& run) {
  run();
  backend(device).synchronize();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    backend(device).synchronize();
    t.push_back(seconds_since(t0));
  }
  return *std::min_element(t.begin(), t.end());
}

// A training step (forward + backward, gradients zeroed) and an inference
// forward of `model` at batch B, with memory carried.
Timers time_model(const AllAttLM& model, Device device, int64_t B, int reps) {
  const Batch batch = random_batch(B, model.config().seg_len, model.config().vocab, 17);
  Memory mem = model.initial_memory(B);
  RngStream rng{1, 0};
  const bool gated = !model.gate_logits().empty();
  Timers t;
  t.train = fastest_seconds(device, reps, [&] { train_step(model, batch, mem, rng); });
  t.infer = fastest_seconds(device, reps, [&] {
    NoGrad no_grad;
    const std::vector<Variable> gates = gated ? layer_gates(model, rng, false, true) : std::vector<Variable>{};
    model.logits(batch.inputs, mem, false, rng, gates);
  });
  return t;
}

}  // namespace

std::string ConfigTimer::key_of(const AllAttConfig& v) {
  std::string key;
  for (int64_t l = 0; l < v.layers; ++l) key += std::to_string(v.heads_in(l)) + ",";
  return key;
}

const Timers& ConfigTimer::of(const AllAttConfig& v, int slot) {
  const std::pair<std::string, int> key{key_of(v), slot};
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    const double never = std::numeric_limits<double>::infinity();
    it = cache_.emplace(key, Timers{never, never}).first;
    plan_.emplace_back(v, slot);
  }
  return it->second;
}

double ConfigTimer::spent(const AllAttConfig& v) const {
  const auto it = spent_.find(key_of(v));
  return it == spent_.end() ? 0 : it->second;
}

void ConfigTimer::run(Device device, int64_t B, int reps) {
  rounds_ = std::min(reps, 3);
  reps_per_round_ = (reps + rounds_ - 1) / rounds_;
  const int64_t n = static_cast<int64_t>(plan_.size()), T = plan_.empty() ? 0 : plan_[0].first.seg_len;
  // Redrawn on a terminal; in a log, a line per round. The rate counts
  // the tokens of the timed training steps.
  Progress bar("profile sweep", rounds_ * n, n);
  for (int round = 0; round < rounds_; ++round)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t done = round * n + i;
      bar.update(done, double(done) * reps_per_round_ * B * T, "round " + std::to_string(round + 1) + "/" + std::to_string(rounds_));
      const auto& [config, slot] = plan_[size_t(i)];
      const auto t0 = std::chrono::steady_clock::now();
      const AllAttLM m(config, 3, DType::F32, device);
      const Timers t = time_model(m, device, B, reps_per_round_);
      Timers& best = cache_.at({key_of(config), slot});
      best.train = std::min(best.train, t.train);
      best.infer = std::min(best.infer, t.infer);
      spent_[key_of(config)] += seconds_since(t0);
    }
  bar.update(rounds_ * n, double(rounds_ * n) * reps_per_round_ * B * T, "done");
  bar.finish();
}

}  // namespace hc
