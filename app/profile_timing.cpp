#include "app/profile_timing.h"

#include <algorithm>
#include <chrono>
#include <functional>
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

// One call of `run`, timed; the device is synchronised before the clock
// stops: GPU work is asynchronous.
double seconds_of_call(Device device, const std::function<void()>& run) {
  const auto t0 = std::chrono::steady_clock::now();
  run();
  backend(device).synchronize();
  return seconds_since(t0);
}

// A model ready to time at batch B: random tokens, memory carried from
// step to step, its own random stream.
struct TimedModel {
  const AllAttLM& model;
  Device device;
  Batch batch;
  Memory mem;
  RngStream rng{1, 0};

  TimedModel(const AllAttLM& m, Device d, int64_t B)
      : model(m), device(d), batch(random_batch(B, m.config().seg_len, m.config().vocab, 17)),
        mem(m.initial_memory(B)) {}

  // A training step (forward + backward, gradients zeroed).
  void train() { train_step(model, batch, mem, rng); }

  // An inference forward (no gradient, memory carried).
  void infer() {
    NoGrad no_grad;
    const std::vector<Variable> gates =
        model.gate_logits().empty() ? std::vector<Variable>{} : layer_gates(model, rng, false, true);
    model.logits(batch.inputs, mem, false, rng, gates);
  }
};

// `reps` turns of (run, reference), after one warm-up call of each: each
// turn's time of `run` over the reference's, appended to `ratios`; the
// reference's fastest call lowers `reference_best`. Two calls a few
// milliseconds apart see the same machine, so their ratio does not move
// when a shared machine slows down for seconds; a time taken alone does.
void paired_ratios(Device device, int reps, const std::function<void()>& run, const std::function<void()>& reference,
                   std::vector<double>& ratios, double& reference_best) {
  seconds_of_call(device, run);
  seconds_of_call(device, reference);
  for (int r = 0; r < reps; ++r) {
    const double mine = seconds_of_call(device, run), theirs = seconds_of_call(device, reference);
    ratios.push_back(mine / theirs);
    reference_best = std::min(reference_best, theirs);
  }
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
  return v[v.size() / 2];
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
  const int64_t n = static_cast<int64_t>(plan_.size()), T = reference_.seg_len;
  std::map<std::pair<std::string, int>, Ratios> ratios;
  double best_train = std::numeric_limits<double>::infinity(), best_infer = best_train;
  // Redrawn on a terminal; in a log, a line per round. The rate counts
  // the tokens of the timed training steps (the reference's too).
  Progress bar("profile sweep", rounds_ * n, n);
  for (int round = 0; round < rounds_; ++round) {
    const AllAttLM reference_model(reference_, 3, DType::F32, device);
    TimedModel ref(reference_model, device, B);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t done = round * n + i;
      bar.update(done, double(done) * 2 * reps_per_round_ * B * T,
                 "round " + std::to_string(round + 1) + "/" + std::to_string(rounds_));
      const auto& [config, slot] = plan_[size_t(i)];
      const auto t0 = std::chrono::steady_clock::now();
      const AllAttLM m(config, 3, DType::F32, device);
      TimedModel mine(m, device, B);
      Ratios& r = ratios[{key_of(config), slot}];
      paired_ratios(device, reps_per_round_, [&] { mine.train(); }, [&] { ref.train(); }, r.train, best_train);
      paired_ratios(device, reps_per_round_, [&] { mine.infer(); }, [&] { ref.infer(); }, r.infer, best_infer);
      spent_[key_of(config)] += seconds_since(t0);
    }
  }
  for (auto& [key, r] : ratios) cache_.at(key) = Timers{median(r.train) * best_train, median(r.infer) * best_infer};
  bar.update(rounds_ * n, double(rounds_ * n) * 2 * reps_per_round_ * B * T, "done");
  bar.finish();
}

}  // namespace hc
