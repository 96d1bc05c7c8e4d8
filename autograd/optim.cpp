#include "autograd/optim.h"

#include <cmath>
#include <set>

#include "engine/backend.h"

namespace hc {

namespace {
// ||t||_2, via a one-element device reduction read back to the host.
double norm_of(const Tensor& t) {
  Tensor out = Tensor::empty({1}, t.dtype(), t.device());
  backend_of(t).reduce(Reduce::SumSquares, t, out, Broadcast{t.numel(), 1}, false);
  return std::sqrt(out.item());
}
}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups, OptimizerConfig config) : config_(config) {
  check(config.kind == "adam" || config.kind == "lamb",
        "optimizer: kind must be adam or lamb, got '" + config.kind + "'");
  std::set<std::string> names;
  for (const ParamGroup& g : groups)
    for (const Variable& p : g.params) {
      check(!p.name().empty() && names.insert(p.name()).second,
            "optimizer: parameters need unique non-empty names ('" + p.name() + "')");
      const Tensor& w = p.value();
      Slot s{p, Tensor::zeros(w.shape(), w.dtype(), w.device()),
             Tensor::zeros(w.shape(), w.dtype(), w.device()), Tensor(), g.lr_scale, g.weight_decay};
      if (config.kind == "lamb") s.update = Tensor::empty(w.shape(), w.dtype(), w.device());
      slots_.push_back(std::move(s));
    }
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
    const double wn = std::min(norm_of(w), 10.0), un = norm_of(s.update);
    const double ratio = (wn > 0 && un > 0) ? wn / un : 1.0;
    be.unary(Unary::Scale, s.update, w, -a.lr * ratio, true);
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
  double total = 0;
  for (const Variable& p : params)
    if (p.grad().defined()) total += std::pow(norm_of(p.grad()), 2);
  const double norm = std::sqrt(total);
  if (max_norm > 0 && norm > max_norm) {
    const double factor = max_norm / (norm + 1e-6);
    for (const Variable& p : params)
      if (p.grad().defined()) backend_of(p.grad()).unary(Unary::Scale, p.grad(), p.grad(), factor, false);
  }
  return norm;
}

}  // namespace hc
