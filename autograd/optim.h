// Optimizers: AdamW and LAMB, with parameter groups and global-norm clipping.
//
// Both keep, per parameter, running averages of the gradient g and of g^2:
//   m <- b1 m + (1-b1) g,   v <- b2 v + (1-b2) g^2
//   u  = m_hat / (sqrt(v_hat) + eps) + wd * w,   m_hat = m / (1-b1^t), v_hat = v / (1-b2^t)
// (the hats are the bias correction, which undoes the averages' start at
// zero; the paper's LAMB switches it off).
//
// AdamW:  w <- w - lr * u. The weight decay is "decoupled": it shrinks w
//   directly instead of being added to g, where Adam's per-element scaling
//   would make it weaker for parameters with large gradients.
// LAMB:   w <- w - lr * r * u with the trust ratio r = min(||w||, 10) / ||u||
//   per parameter tensor (r = 1 if either norm is 0): each tensor moves by a
//   step proportional to its own size, which keeps large-batch training
//   stable. This is the variant of the seed paper's code (NVIDIA
//   Transformer-XL style), docs/spec.md section 7.
//
// Learning rates: step(lr) takes the scheduled base rate; each group
// multiplies it by its own factor (the pruning gates train at 10x) and has
// its own weight decay (gates get none).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace hc {

struct ParamGroup {
  std::vector<Variable> params;
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

struct OptimizerConfig {
  std::string kind = "adam";  // adam (AdamW) | lamb
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool bias_correction = true;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, OptimizerConfig config);

  // One update of every parameter that has a gradient.
  void step(double lr);
  // Change group `group`'s learning-rate factor (a pruning run freezes its
  // gates for the fine-tuning phase with 0: w - 0 * u leaves w as it is).
  void set_lr_scale(size_t group, double lr_scale);
  // Set every parameter gradient to zero.
  void zero_grad();
  int64_t steps_taken() const { return steps_; }

  // For checkpoints: "<param name>.exp_avg" / ".exp_avg_sq" moment tensors.
  std::map<std::string, Tensor> state() const;
  // Restore moments and the step count; a missing or misshapen entry is an
  // error naming it.
  void load_state(const std::map<std::string, Tensor>& state, int64_t steps);

 private:
  struct Slot {
    Variable param;
    Tensor m, v;
    Tensor update;  // LAMB's scratch for u
    double lr_scale, weight_decay;
    size_t group;  // index into the constructor's groups
  };
  std::vector<Slot> slots_;
  OptimizerConfig config_;
  int64_t steps_ = 0;
};

// Global L2 norm of all gradients; if above max_norm (> 0), every gradient is
// scaled by max_norm / (norm + 1e-6), as PyTorch's clip_grad_norm_ does.
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<Variable>& params, double max_norm);

}  // namespace hc
