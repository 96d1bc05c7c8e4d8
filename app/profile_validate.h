// `headcount profile --validate K`: the cost models (models/cost_model.h)
// fitted on the calibration configurations and judged on K random pruned
// configurations they were not fitted on, each measured twice so that the
// measurement's own repeatability is known.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "app/profile_timing.h"
#include "models/cost_model.h"

namespace hc {

using HeadCounts = std::vector<int64_t>;

// The model with these heads per layer.
AllAttConfig with_heads(const AllAttConfig& dense, const HeadCounts& heads);

// K distinct configurations, each layer's count uniform in 0..H_l (so
// emptied layers come up), none of them in `excluded` and none the
// emptied model; seeded. Throws if the model has fewer than K such.
std::vector<HeadCounts> random_heads(const AllAttConfig& dense, int64_t K, uint64_t seed,
                                     const std::set<HeadCounts>& excluded);

// The calibration: the structured configurations of calibration_heads()
// and as many random ones (seed 0; fewer where the model has few
// configurations, leaving as many again for validation). Fitted on the
// structured ones alone, whose layers mostly keep every head, the cost
// model read 6-13% low on random mixed configurations, every one of them
// on the same side: what the layers cost together is not quite the sum
// of what each costs beside whole layers.
std::vector<HeadCounts> calibration_with_mixed(const AllAttConfig& dense);

// The validation slots: a configuration's two independent measurements.
constexpr int kFirstSlot = 1, kSecondSlot = 2;

// How well one form predicts, over the validation configurations: the
// relative errors (predicted - measured) / measured, measured being the
// faster of the two slots.
struct FormScore {
  CostModel model;
  std::vector<double> predicted, error;
  // Shares within +-5%, +-10%, and +-10% or the configuration's own
  // repeatability spread where wider; the largest |error|.
  double within5 = 0, within10 = 0, within_spread = 0, worst = 0;
};

// One mode's (training step or inference forward) cost models and their validation.
struct ModeValidation {
  std::string mode;  // "train" or "infer"
  std::vector<HeadCounts> calibration;
  std::vector<double> calibration_seconds;  // measured, slot 0
  std::vector<FormScore> forms;             // every CostForm, fitted on the calibration
  size_t chosen = 0;                        // the form with the largest share within +-10%
  std::vector<HeadCounts> heads;            // the validation configurations
  std::vector<double> first, second, measured;  // seconds: each slot, and the faster
  std::vector<double> spread;                   // |first - second| / measured, the repeatability
  double spread_p95 = 0;
};

// Fits every form on the calibration times and, for K > 0, scores them on
// the validation configurations; `timer` has timed all of them.
ModeValidation validate_mode(const std::string& mode, const AllAttConfig& dense, ConfigTimer& timer,
                             const std::vector<HeadCounts>& calibration, const std::vector<HeadCounts>& validation);

// costs.json's "cost_model": the key and each mode's chosen form, every
// form, the calibration's cost (configurations and seconds), and the validation summary.
nlohmann::json cost_model_json(const CostKey& key, const ModeValidation& train, const ModeValidation& infer,
                               double calibration_seconds);
// validation.json: every configuration, both measurements and each form's prediction.
nlohmann::json validation_json(const ModeValidation& train, const ModeValidation& infer);
// The report's section and the scatter plot (validate.svg in `out`).
std::string validation_report(const ModeValidation& train, const ModeValidation& infer, double calibration_seconds,
                              const std::string& out);

}  // namespace hc
