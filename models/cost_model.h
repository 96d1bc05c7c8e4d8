// What a pruned model's step will cost, predicted from a few measured ones.
//
// A compacted model differs from the dense one only in its heads per layer
// h = (h_0 .. h_{L-1}), 0 <= h_l <= H_l, so its time is a function of h.
// The forms fitted here, each by least squares on measured configurations
// (seconds), from the most general to the least:
//
//   per-layer    t(h) = c + sum_l [h_l > 0] (a_l + b_l h_l)     1 + 2L numbers
//   per-count    t(h) = c + sum_l g(h_l), g(0) = 0              1 + H numbers
//   shared       t(h) = c + a (layers with a head) + b sum_l h_l    3 numbers
//   heads-only   t(h) = c + b sum_l h_l                             2 numbers
//
// c is what runs whatever the heads (embedding, output layer and loss); a_l
// is what a layer costs as long as one head is left (its layernorm, its
// launches, the shared position projection), paid only by a layer that is
// not emptied; b_l is what each head adds (its projections, scores, softmax,
// weighted sum and output columns). g(k) is what a layer of k heads costs,
// any function of k, the same in every layer: a kernel that works in blocks
// of columns makes a layer of 3 heads cost what one of 4 does (H D = 96
// columns run as 128 in 64-column panels), which no straight line in the
// head count can follow. The heads of one config all have the
// same shape, so a roofline (a part's FLOPs over the FMA rate, or its bytes
// over the memory bandwidth, whichever is slower) gives every head the same
// time: it is the shared form with b set from paper numbers instead of
// measured, and no better than measuring b.
//
// A cost model holds for one model shape, device, thread count, batch and
// mode (training step or inference forward): CostKey says which, and a model
// made for another is refused with the reason.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/allatt_lm.h"

namespace hc {

enum class CostForm { PerLayer, PerCount, Shared, HeadsOnly };
const char* cost_form_name(CostForm f);
CostForm cost_form_from_name(const std::string& name);  // throws std::invalid_argument

struct CostModel {
  CostForm form = CostForm::PerLayer;
  double fixed = 0;                 // c, seconds
  std::vector<double> layer_fixed;  // a_l, seconds (all equal in the shared form, 0 in heads-only)
  std::vector<double> per_head;     // b_l, seconds per head (all equal outside the per-layer form)
  std::vector<double> count_cost;   // g(1) .. g(H), seconds: the per-count form's (empty in the others)

  // What layer l costs with h heads, seconds (0 for h = 0).
  double layer_seconds(int64_t l, int64_t h) const;
  // t(h) in seconds; h has one count per layer, each >= 0.
  double predict(const std::vector<int64_t>& heads) const;
  nlohmann::json to_json() const;
  static CostModel from_json(const nlohmann::json& j);
};

// Least squares of `form` on measured configurations: heads[i] (one count
// per layer) took seconds[i]. Throws when the configurations cannot tell
// the numbers apart (e.g. the per-layer form without a configuration that
// empties each layer and one that keeps it with a different head count).
CostModel fit_cost_model(CostForm form, const std::vector<std::vector<int64_t>>& heads,
                         const std::vector<double>& seconds);

// The configurations a cost model is calibrated on: 2 per layer (that layer
// emptied, and at one head, the others whole) and H + 1 joint ones (every
// layer at min(k, H_l) heads, k = 0..H): 2L + H + 1 in all, enough for
// every form.
std::vector<std::vector<int64_t>> calibration_heads(const AllAttConfig& dense);

// What a cost model was measured for.
struct CostKey {
  std::string shape;   // shape_key() of the dense model
  std::string device;  // "cpu", "cuda"
  int64_t threads = 0, batch = 0;
  std::string mode;  // "train" (a training step) or "infer" (an inference forward)
  CostKey with_mode(const std::string& m) const {
    CostKey k = *this;
    k.mode = m;
    return k;
  }
  nlohmann::json to_json() const;
  static CostKey from_json(const nlohmann::json& j);
};
// The key of a measurement made now: the dense model's shape, the device,
// the threads OpenMP runs with, the batch and the mode ("" when the file
// holds both modes).
CostKey cost_key(const AllAttConfig& dense, Device device, int64_t batch, const std::string& mode);
// Every number of the config that changes a step's time, heads per layer
// included: "L4 H4,4,4,4 C128 D32 N128 F0 T64 M64 V205 ...".
std::string shape_key(const AllAttConfig& c);
// The key of a run of `model` (dense, gated or compacted: keyed by the
// dense shape, a compacted config's heads_per_layer cleared) on `device`
// with the engine's threads (OpenMP's), at `batch`, in `mode`.
CostKey run_cost_key(const AllAttConfig& model, Device device, int64_t batch, const std::string& mode);
// Empty when `have` serves `want`, else why not ("batch: measured at 16,
// asked for 1").
std::string cost_key_mismatch(const CostKey& have, const CostKey& want);

// The cost model of `want.mode` in a profile's costs.json ("cost_model":
// {"key": ..., "train": ..., "infer": ...}), refused with the reason when
// its key does not serve `want`.
CostModel cost_model_for(const nlohmann::json& costs, const CostKey& want);

}  // namespace hc
