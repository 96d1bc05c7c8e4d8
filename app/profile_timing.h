// The clock side of `headcount profile`: a training step and an inference
// forward timed at their fastest, and many head configurations timed in
// interleaved rounds so that a slow stretch of a shared machine does not
// land on a few of them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/allatt_lm.h"

namespace hc {

// Random token ids (B,T) and targets: timing does not depend on their values.
struct Batch {
  Tensor inputs, targets;
};
Batch random_batch(int64_t B, int64_t T, int64_t V, uint64_t seed);

// One training step's work: forward with the deterministic gates (if any),
// backward, gradients zeroed (no optimizer).
void train_step(const AllAttLM& model, const Batch& batch, Memory& mem, RngStream& rng);

struct Timers {
  double train = 0, infer = 0;  // seconds per step / per forward
};

// The configurations to time, each in one or more slots (a slot is one
// independent measurement: the same configuration in two slots says how
// repeatable a measurement is). Every slot is listed first, then all are
// timed in `rounds` rounds, each keeping its fastest run. A shared
// machine's speed drifts over seconds (the 2-core Xeon VM by up to 2x);
// timed one configuration after another, a slow stretch lands on a few
// head counts and bends whatever is fitted to them.
class ConfigTimer {
 public:
  // The timers of configuration v in `slot` (infinite until run() has timed it).
  const Timers& of(const AllAttConfig& v, int slot = 0);
  // Times every slot listed so far: at batch B, reps runs each, split over
  // min(reps, 3) rounds.
  void run(Device device, int64_t B, int reps);
  // Wall seconds run() spent on v (all its slots, warm-ups and model set-up included).
  double spent(const AllAttConfig& v) const;
  size_t slots() const { return plan_.size(); }
  int runs_each() const { return rounds_ * reps_per_round_; }
  int rounds() const { return rounds_; }

 private:
  static std::string key_of(const AllAttConfig& v);  // heads per layer, "2,2,1,1,"
  std::map<std::pair<std::string, int>, Timers> cache_;
  std::map<std::string, double> spent_;
  std::vector<std::pair<AllAttConfig, int>> plan_;
  int rounds_ = 1, reps_per_round_ = 1;
};

}  // namespace hc
