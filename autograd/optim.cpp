#include "autograd/optim.h"

#include <cmath>
#include <set>

#include "engine/backend.h"

namespace hc {

namespace {
// out (1) = ||t||^2, computed and left on t's device.
void sum_squares_into(const Tensor& t, const Tensor& out) {
  backend_of(t).reduce(Reduce::SumSquares, t, out, Broadcast{t.numel(), 1}, false);
}
}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups, OptimizerConfig config) : config_(config) {
  check(config.kind == "adam" || config.kind == "lamb",
        "optimizer: kind must be adam or lamb, got '" + config.kind + "'");
  std::set<std::string> names;
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (const Variable& p : groups[gi].params) {
      const ParamGroup& g = groups[gi];
      check(!p.name().empty() && names.insert(p.name()).second,
            "optimizer: parameters need unique non-empty names ('" + p.name() + "')");
      const Tensor& w = p.value();
      Slot s{p, Tensor::zeros(w.shape(), w.dtype(), w.device()),
             Tensor::zeros(w.shape(), w.dtype(), w.device()), Tensor(), g.lr_scale, g.weight_decay, gi};
      if (config.kind == "lamb") s.update = Tensor::empty(w.shape(), w.dtype(), w.device());
      slots_.push_back(std::move(s));
    }
}

void Optimizer::set_lr_scale(size_t group, double lr_scale) {
  for (Slot& s : slots_)
    if (s.group == group) s.lr_scale = lr_scale;
}

void Optimizer::step(double lr) {
  ++steps_;
  const double t = static_cast<double>(steps_);
  for (Slot& s : slots_) {
    const Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    AdamStep a;
    a.lr = lr * s.lr_scale;
    a.beta1 = config_.beta1;
    a.beta2 = config_.beta2;
    a.eps = config_.eps;
    a.weight_decay = s.weight_decay;
    if (config_.bias_correction) {
      a.bias_correction1 = 1.0 - std::pow(config_.beta1, t);
      a.bias_correction2 = 1.0 - std::pow(config_.beta2, t);
    }
    const Tensor& w = s.param.value();
    Backend& be = backend_of(w);
    if (config_.kind == "adam") {
      be.adam_update(w, g, s.m, s.v, a, Tensor());
      continue;
    }
    be.adam_update(w, g, s.m, s.v, a, s.update);
    // The trust ratio's two norms stay on the device (lamb_update).
    const Tensor norms_sq = Tensor::empty({2}, w.dtype(), w.device());
    sum_squares_into(w, norms_sq.slice_rows(0, 1));
    sum_squares_into(s.update, norms_sq.slice_rows(1, 2));
    be.lamb_update(w, s.update, norms_sq, a.lr);
  }
}

void Optimizer::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> out;
  for (const Slot& s : slots_) {
    out[s.param.name() + ".exp_avg"] = s.m;
    out[s.param.name() + ".exp_avg_sq"] = s.v;
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state, int64_t steps) {
  for (Slot& s : slots_)
    for (auto [suffix, slot] : {std::pair{".exp_avg", &s.m}, std::pair{".exp_avg_sq", &s.v}}) {
      const std::string key = s.param.name() + suffix;
      auto it = state.find(key);
      check(it != state.end(), "optimizer state: missing '" + key + "'");
      check(it->second.shape() == slot->shape() && it->second.dtype() == slot->dtype(),
            "optimizer state: '" + key + "' is " + it->second.describe() + ", expected " +
                slot->describe());
      slot->copy_from(it->second);
    }
  steps_ = steps;
}

double clip_grad_norm(const std::vector<Variable>& params, double max_norm) {
  // Each gradient's ||g||^2 into its own slot on the device, then one read
  // back for all of them (on a GPU, one wait instead of one per parameter),
  // summed in parameter order.
  std::vector<const Tensor*> grads;
  for (const Variable& p : params)
    if (p.grad().defined()) grads.push_back(&p.grad());
  if (grads.empty()) return 0;
  const Tensor sums = Tensor::empty({static_cast<int64_t>(grads.size())}, grads[0]->dtype(), grads[0]->device());
  for (size_t k = 0; k < grads.size(); ++k) {
    check(grads[k]->dtype() == sums.dtype() && grads[k]->device() == sums.device(),
          "clip_grad_norm: gradients of mixed dtypes or devices");
    sum_squares_into(*grads[k], sums.slice_rows(int64_t(k), int64_t(k) + 1));
  }
  double total = 0;
  for (double s : sums.to_vector()) total += s;
  const double norm = std::sqrt(total);
  if (max_norm > 0 && norm > max_norm) {
    const double factor = max_norm / (norm + 1e-6);
    for (const Variable& p : params)
      if (p.grad().defined()) backend_of(p.grad()).unary(Unary::Scale, p.grad(), p.grad(), factor, false);
  }
  return norm;
}

}  // namespace hc
