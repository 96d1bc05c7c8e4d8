// Compaction: the weight surgery that physically removes closed heads.
// (docs/spec.md section 9.)
#pragma once

#include <memory>

#include "models/allatt_lm.h"

namespace hc {

// A new model without the closed heads (log_alpha < 0): the kept heads' rows
// of q/k/v/r, their u/v biases and persistent vectors, the matching columns
// of the output projection (times the output scaling c, folded in),
// everything else copied. Its layers have ragged head counts
// (config.heads_per_layer) and no gates; in evaluation it computes what the
// gated model computes.
std::unique_ptr<AllAttLM> compact(const AllAttLM& gated, bool output_scaling);

}  // namespace hc
