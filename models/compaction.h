// Compaction: the weight surgery that physically removes closed heads.
// (docs/spec.md section 9.)
#pragma once

#include <memory>
#include <vector>

#include "models/allatt_lm.h"

namespace hc {

// A new model without the closed heads (log_alpha < 0): the kept heads' rows
// of q/k/v/r, their u/v biases and persistent vectors, the matching columns
// of the output projection (times the output scaling c, folded in),
// everything else copied. Its layers have ragged head counts
// (config.heads_per_layer) and no gates; in evaluation it computes what the
// gated model computes.
std::unique_ptr<AllAttLM> compact(const AllAttLM& gated, bool output_scaling);

// One layer's share of that surgery: `to` (a layer of as many heads as
// `keep` (H) holds true) gets the kept heads of `from`, in order, and the
// output projection's kept columns times out_scale.
void copy_kept_heads(const AllAttLayer& from, const std::vector<bool>& keep, double out_scale, const AllAttLayer& to);

}  // namespace hc
