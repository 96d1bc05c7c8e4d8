// Variable: a tensor that remembers how it was computed, for reverse-mode
// automatic differentiation.
//
// Every op (autograd/ops/*.cpp) computes its output tensor and, when gradients
// are wanted, attaches a Node: the op's name, its input Variables and a
// closure that, given dL/d(output), ADDS dL/d(input) into each input's grad.
// backward() walks the nodes from the loss back to the leaves in reverse
// topological order (iteratively: no recursion, so depth is not limited by the
// stack) and runs each closure once.
//
// Rules (tested in tests/test_autograd.cpp):
// - Gradients always accumulate. A value used twice (a + a) receives both
//   contributions. Leaf gradients (parameters) keep accumulating across
//   backward() calls until zero_grad(): that is how gradient accumulation over
//   micro-batches works, and why the training loop calls zero_grad() once per
//   optimizer step.
// - backward() frees the graph as it goes (closures and saved tensors are
//   released, intermediate gradients dropped). A second backward() through a
//   freed graph throws an error that names the op.
// - Inside a NoGrad scope no graph is built at all.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace hc {

struct VarData;

struct Node {
  const char* op;
  std::vector<std::shared_ptr<VarData>> inputs;
  std::function<void(const Tensor& dy)> backward;  // adds into the inputs' grads
  std::string region;  // the profiler region the forward op ran in (recorded only while profiling)
  // Releases a long chain of nodes iteratively: the default destructor would
  // recurse once per op and overflow the stack on a deep graph.
  ~Node();
};

struct VarData {
  Tensor value;
  Tensor grad;                  // undefined until something flows into it
  bool requires_grad = false;
  const char* op = nullptr;     // the op that made this value; nullptr for a leaf
  std::shared_ptr<Node> node;   // released by backward()
  std::string name;             // parameter name, for messages and checkpoints
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor value, bool requires_grad = false, std::string name = "");

  bool defined() const { return data_ != nullptr; }
  const Tensor& value() const { return data_->value; }
  const Tensor& grad() const { return data_->grad; }
  const Shape& shape() const { return data_->value.shape(); }
  int64_t size(int64_t axis) const { return data_->value.size(axis); }
  int64_t numel() const { return data_->value.numel(); }
  bool requires_grad() const { return data_->requires_grad; }
  bool is_leaf() const { return data_->op == nullptr; }
  const std::string& name() const { return data_->name; }
  const std::shared_ptr<VarData>& data() const { return data_; }

  // Three ways for a backward closure to deliver a contribution g:
  // - grad_buffer(): the gradient, created as zeros on first use, to ADD into
  //   (for primitives that always accumulate).
  // - grad_target(accumulate): the buffer to write into; on first use it is
  //   created uninitialised and `accumulate` is false, so the closure
  //   overwrites (GEMM beta = 0) instead of zero-filling and adding.
  // - add_grad(g): on first use the gradient BECOMES g (shared, no copy);
  //   afterwards g is added. Only for a g that nothing else will write into,
  //   and that the closure hands to no other input.
  const Tensor& grad_buffer() const;
  const Tensor& grad_target(bool& accumulate) const;
  void add_grad(const Tensor& g) const;
  // Set every element of the gradient to zero (keeps the buffer).
  void zero_grad() const;

  // Backpropagate from this scalar (seed 1) or with an explicit seed dL/d(this).
  void backward() const;
  void backward(const Tensor& seed) const;

 private:
  std::shared_ptr<VarData> data_;
};

// Wrap an op's output. If gradients are enabled and any input needs one, the
// result records `op`, its inputs and the backward closure.
Variable make_result(Tensor value, const char* op, std::vector<Variable> inputs,
                     std::function<void(const Tensor& dy)> backward);

// While a NoGrad object lives (on this thread), ops build no graph.
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};
bool grad_enabled();

// Graph nodes recorded since the program started (all threads). A training
// step records the same graph every time; the count per step is how a test
// sees that nothing piles up from step to step.
int64_t graph_nodes_created();

}  // namespace hc
