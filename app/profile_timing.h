// The clock side of `headcount profile`: many head configurations, each
// timed in turns with the whole model (a training step and an inference
// forward), in interleaved rounds, so that a slow stretch of a shared
// machine does not land on a few of them.
#pragma once

#include <map>
#include <string>
#include <utility>
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
// timed in `rounds` rounds. A shared machine's speed drifts over seconds
// (the 2-core VMs by 20% and more, up to 2x): timed alone, one after
// another, a slow stretch lands on a few head counts and bends whatever is
// fitted to them. So every call is paired with a call of the reference
// configuration (the whole model) made right after it, and a slot's time is
// the median of its ratios to the reference over all rounds, times the
// reference's fastest call: what the configuration costs on the machine at
// its least disturbed, judged from calls that saw the same machine.
class ConfigTimer {
 public:
  explicit ConfigTimer(AllAttConfig reference) : reference_(std::move(reference)) {}
  // The timers of configuration v in `slot` (infinite until run() has timed it).
  const Timers& of(const AllAttConfig& v, int slot = 0);
  // Times every slot listed so far: at batch B, reps paired runs each,
  // split over min(reps, 3) rounds.
  void run(Device device, int64_t B, int reps);
  // Wall seconds run() spent on v (all its slots, their reference calls,
  // warm-ups and model set-up included).
  double spent(const AllAttConfig& v) const;
  size_t slots() const { return plan_.size(); }
  int runs_each() const { return rounds_ * reps_per_round_; }
  int rounds() const { return rounds_; }

 private:
  struct Ratios {
    std::vector<double> train, infer;  // each call's time over the reference call's after it
  };
  static std::string key_of(const AllAttConfig& v);  // heads per layer, "2,2,1,1,"
  AllAttConfig reference_;
  std::map<std::pair<std::string, int>, Timers> cache_;
  std::map<std::string, double> spent_;
  std::vector<std::pair<AllAttConfig, int>> plan_;
  int rounds_ = 1, reps_per_round_ = 1;
};

}  // namespace hc
