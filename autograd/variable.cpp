#include "autograd/variable.h"

#include <atomic>
#include <stdexcept>
#include <unordered_set>

#include "engine/backend.h"
#include "engine/profiler.h"

namespace hc {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }

namespace {
std::atomic<int64_t> g_nodes_created{0};
}  // namespace
int64_t graph_nodes_created() { return g_nodes_created.load(); }
NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

Node::~Node() {
  // Take over our inputs, then drop the closure (whose captured copies are now
  // not the last owners). Any input we alone own is taken apart the same way
  // before it dies, so no destructor ever runs another node's destructor.
  std::vector<std::shared_ptr<VarData>> pending = std::move(inputs);
  backward = nullptr;
  while (!pending.empty()) {
    std::shared_ptr<VarData> v = std::move(pending.back());
    pending.pop_back();
    if (v.use_count() == 1 && v->node && v->node.use_count() == 1) {
      for (auto& in : v->node->inputs) pending.push_back(std::move(in));
      v->node->inputs.clear();
      v->node->backward = nullptr;
    }
  }
}

Variable::Variable(Tensor value, bool requires_grad, std::string name)
    : data_(std::make_shared<VarData>()) {
  data_->value = std::move(value);
  data_->requires_grad = requires_grad;
  data_->name = std::move(name);
}

const Tensor& Variable::grad_buffer() const {
  if (!data_->grad.defined())
    data_->grad = Tensor::zeros(value().shape(), value().dtype(), value().device());
  return data_->grad;
}

const Tensor& Variable::grad_target(bool& accumulate) const {
  accumulate = data_->grad.defined();
  if (!accumulate) data_->grad = Tensor::empty(value().shape(), value().dtype(), value().device());
  return data_->grad;
}

void Variable::add_grad(const Tensor& g) const {
  check(g.numel() == value().numel(), "add_grad: gradient " + g.describe() + " for " + value().describe());
  if (!data_->grad.defined()) {
    data_->grad = g.reshape(value().shape());
    return;
  }
  backend_of(g).unary(Unary::Scale, g.reshape(value().shape()), data_->grad, 1.0, true);
}

void Variable::zero_grad() const {
  if (data_->grad.defined()) data_->grad.fill_(0.0);
}

Variable make_result(Tensor value, const char* op, std::vector<Variable> inputs,
                     std::function<void(const Tensor& dy)> backward) {
  Variable out(std::move(value));
  out.data()->op = op;
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Variable& v : inputs) any = any || (v.defined() && v.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  ++g_nodes_created;
  node->op = op;
  for (const Variable& v : inputs)
    if (v.defined()) node->inputs.push_back(v.data());
  node->backward = std::move(backward);
  if (profiler::enabled()) node->region = profiler::g_region;
  out.data()->requires_grad = true;
  out.data()->node = std::move(node);
  return out;
}

void Variable::backward() const {
  check(numel() == 1, "backward(): the output has " + std::to_string(numel()) +
                          " elements; pass a seed gradient for a non-scalar output");
  backward(Tensor::full(shape(), 1.0, value().dtype(), value().device()));
}

void Variable::backward(const Tensor& seed) const {
  check(requires_grad(), "backward(): this value does not require a gradient (no parameter "
                         "that needs one was used to compute it, or it was made under NoGrad)");
  check_same_shape(seed, value(), "backward(seed)");
  auto freed_error = [](const VarData* v) {
    return std::logic_error(std::string("backward(): the graph through '") + v->op +
                            "' was already freed by an earlier backward(); run the forward "
                            "pass again before calling backward() a second time");
  };
  if (!is_leaf() && !data_->node) throw freed_error(data_.get());

  // Reverse topological order by an iterative depth-first search: a node is
  // appended after all its inputs, so walking the list backwards visits every
  // value before the values it was computed from.
  // `order` owns what it lists, so values stay alive while their nodes are released.
  std::vector<std::shared_ptr<VarData>> order;
  std::unordered_set<VarData*> seen;
  std::vector<std::pair<std::shared_ptr<VarData>, size_t>> stack{{data_, 0}};
  seen.insert(data_.get());
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    if (v->node && next < v->node->inputs.size()) {
      std::shared_ptr<VarData> in = v->node->inputs[next++];
      if (!in->requires_grad || seen.count(in.get())) continue;
      if (in->op && !in->node) throw freed_error(in.get());
      seen.insert(in.get());
      stack.push_back({std::move(in), 0});
    } else {
      order.push_back(std::move(v));
      stack.pop_back();
    }
  }

  Variable(*this).grad_buffer();
  backend_of(seed).binary(Binary::Add, data_->grad, seed, data_->grad, Broadcast{}, false);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VarData* v = it->get();
    if (!v->node) continue;  // a leaf: its grad is the result
    if (v->grad.defined()) {
      const profiler::AtRegion region(v->node->region);
      v->node->backward(v->grad);
    }
    v->node.reset();    // frees the closure and what it saved
    v->grad = Tensor();  // intermediate gradients are not kept
  }
}

}  // namespace hc
