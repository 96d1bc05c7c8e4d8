// `dsp`: Differentiable Subset Pruning (Li, Cotterell and Sachan, "Differentiable
// Subset Pruning of Transformer Heads", TACL 2021, arXiv 2108.04657).
//
// The paper: every head h has a learned importance logit w_h. Each training
// step perturbs them with Gumbel noise, r_h = w_h + g_h, g_h = -log(-log u_h),
// u_h ~ U(0, 1), and masks the heads with the Gumbel-Soft-Top-K of r at a
// temperature tau: K rounds of a softmax, each round pushing down what the
// earlier rounds took (relaxed_top_k in dsp.h), a mask whose entries sum to
// exactly K. The top K of r is an exact sample of a K-subset (Gumbel-top-K),
// so the logits learn a distribution over subsets of exactly K heads;
// tau anneals geometrically so the relaxation hardens as training goes on.
// At the end the K largest w_h stay.
//
// Here, over all heads of all layers at once (as the paper's global mask):
//   forward   z = the hard K-hot top-K of r: every forward pass runs with
//             exactly K heads, the model compaction will produce;
//   backward  dL/dw = J^T dL/dz, J the Jacobian of the relaxed top-K of r at
//             the step's tau (straight-through Gumbel);
//   tau       dsp_temperature at the first step, dsp_final_temperature at
//             the last step of the selection, geometric in between;
//   centring  after every other step all w_h move by one constant so that
//             the K largest sit at >= 0 (neither the Gumbel-top-K nor its
//             relaxation changes under a common shift): the deterministic
//             gates that validation uses are the subset DSP favours;
//   readout   after the last selection step the K largest w_h stay (their
//             logits raised to >= 0, the others lowered below 0).
// What differs from the paper, and why: the paper's default forward pass
// multiplies each head by its soft mask entry (fractional, summing to K),
// and its STE variant passes dL/dz through unchanged; this forward pass is
// hard so the selection trains the shape that fine-tuning and compaction
// keep, and the gradient is the relaxation's, so the temperature still
// shapes it. The logits are the gate logits (layers.{i}.attn.gate.log_alpha),
// so checkpoints and resume carry them; they start equal (gate_init), where
// the Gumbel-top-K is a uniform draw of K heads, and learn gate_lr_scale
// times faster than the weights. Unlike `topk`, K does not ramp: exactly
// the budget from the first step.
#include "models/methods/dsp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/ops.h"
#include "models/gates.h"
#include "models/methods/head_sets.h"

namespace hc {

namespace {

constexpr double kTiny = std::numeric_limits<double>::min();  // floor of 1 - a before its log

// One round of the relaxation: a = softmax(x), and log(1 - a) computed as
// log(sum of the others / sum), so a head that takes nearly all the mass
// does not lose its remainder to rounding.
void softmax_round(const std::vector<double>& x, std::vector<double>& a, std::vector<double>& log_rest) {
  const size_t N = x.size();
  const double top = *std::max_element(x.begin(), x.end());
  std::vector<double> e(N);
  for (size_t i = 0; i < N; ++i) e[i] = std::exp(x[i] - top);
  const double sum = std::accumulate(e.begin(), e.end(), 0.0);
  a.resize(N);
  log_rest.resize(N);
  for (size_t i = 0; i < N; ++i) {
    a[i] = e[i] / sum;
    double rest = sum - e[i];
    if (e[i] > 0.5 * sum) {  // the dominant entry: sum the others directly
      rest = 0;
      for (size_t k = 0; k < N; ++k) rest += k == i ? 0.0 : e[k];
    }
    log_rest[i] = std::log(std::max(rest / sum, kTiny));
  }
}

// The K rounds, keeping each round's distribution a_j for the backward pass.
struct Relaxation {
  std::vector<std::vector<double>> a;  // (K, N)
  std::vector<double> mask;            // (N): sum over rounds
};

Relaxation relax(const std::vector<double>& r, int64_t K, double tau) {
  check(K >= 0 && K <= static_cast<int64_t>(r.size()) && tau > 0,
        "relaxed_top_k: need 0 <= K <= " + std::to_string(r.size()) + " and tau > 0, got K = " + std::to_string(K) +
            ", tau = " + std::to_string(tau));
  const size_t N = r.size();
  Relaxation out{{}, std::vector<double>(N, 0.0)};
  std::vector<double> shifted = r, x(N), log_rest;
  for (int64_t j = 0; j < K; ++j) {
    for (size_t i = 0; i < N; ++i) x[i] = shifted[i] / tau;
    out.a.emplace_back();
    softmax_round(x, out.a.back(), log_rest);
    for (size_t i = 0; i < N; ++i) {
      out.mask[i] += out.a.back()[i];
      shifted[i] += log_rest[i];
    }
  }
  return out;
}

// dL/dr from dL/dm, backwards through the rounds. With r_{j+1} = r_j +
// log(1 - a_j), a_j = softmax(r_j / tau) and m = sum_j a_j:
//   da_j  = dm - dr_{j+1} / (1 - a_j)         (0 where 1 - a_j hit the floor)
//   dr_j  = dr_{j+1} + a_j (da_j - <da_j, a_j>) / tau
std::vector<double> relaxation_backward(const Relaxation& fwd, const std::vector<double>& dm, double tau) {
  const size_t N = dm.size();
  std::vector<double> dr(N, 0.0), da(N);
  for (size_t j = fwd.a.size(); j-- > 0;) {
    const std::vector<double>& a = fwd.a[j];
    double dot = 0;
    for (size_t i = 0; i < N; ++i) {
      const double rest = 1.0 - a[i];
      da[i] = dm[i] - (rest > kTiny ? dr[i] / rest : 0.0);
      dot += da[i] * a[i];
    }
    for (size_t i = 0; i < N; ++i) dr[i] += a[i] * (da[i] - dot) / tau;
  }
  return dr;
}

class Dsp final : public PruningMethod {
 public:
  explicit Dsp(const PruneSetup& s) : s_(s) {}
  double gate_lr_scale() const override { return s_.config.gate_lr_scale; }

  // The logits shifted by one constant after each step (the Gumbel-top-K and
  // its relaxation do not change under a common shift) so that the K
  // largest, the subset the distribution favours, are the deterministic
  // gates validation and compaction use; exactly those at the end.
  void after_step(AllAttLM& model, int64_t done) override {
    if (done < s_.steps) set_logits_centred(model, gate_logit_values(model), s_.budget);
    else if (done == s_.steps) read_out_top(model, s_.budget);
  }
  int64_t heads_in_use(const AllAttLM& model, int64_t done) const override {
    return done < s_.steps ? s_.budget : PruningMethod::heads_in_use(model, done);
  }

 protected:
  // One Gumbel draw per head and forward pass, shared by the batch.
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t step, RngStream& rng) override {
    int64_t N = 0;
    for (const Variable& w : model.gate_logits()) N += w.numel();
    const RandomKey key = rng.next(N);
    std::vector<double> noise(N);
    for (int64_t h = 0; h < N; ++h)
      noise[h] = -std::log(-std::log(double(philox::uniform(philox::bits(key.seed, key.offset, h)))));
    std::vector<Variable> gates = subset_gates(model.gate_logits(), noise, s_.budget, dsp_temperature_at(s_, step));
    if (s_.config.output_scaling)
      for (Variable& z : gates) z = with_output_scaling(z);
    return gates;
  }
  void report_own(int64_t done, nlohmann::json& m) const override {
    m["temperature"] = dsp_temperature_at(s_, done - 1);
  }

 private:
  PruneSetup s_;
};

}  // namespace

std::vector<double> relaxed_top_k(const std::vector<double>& r, int64_t K, double tau) { return relax(r, K, tau).mask; }

std::vector<Variable> subset_gates(const std::vector<Variable>& logits, const std::vector<double>& noise, int64_t K,
                                   double tau) {
  std::vector<double> r;
  for (const Variable& w : logits) {
    check(w.value().dim() == 1, "subset_gates: each layer's logits must be (H), got " + shape_str(w.shape()));
    for (double v : w.value().to_vector()) r.push_back(v);
  }
  check(noise.size() == r.size(), "subset_gates: one noise value per head");
  for (size_t i = 0; i < r.size(); ++i) r[i] += noise[i];
  auto fwd = std::make_shared<const Relaxation>(relax(r, K, tau));
  std::vector<size_t> order(r.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r[a] > r[b]; });
  std::vector<double> z(r.size(), 0.0);
  for (int64_t k = 0; k < K; ++k) z[order[k]] = 1.0;

  // One op over all heads, cut into layers: its backward gets every layer's
  // dL/dz at once and runs the relaxation backward.
  const Tensor host = Tensor::from_vector({static_cast<int64_t>(z.size())}, z, logits.at(0).value().dtype());
  const Device device = logits[0].value().device();
  const Variable all = make_result(device == Device::CPU ? host : host.to(device), "subset_gate", logits,
                                   [logits, fwd, tau](const Tensor& dy) {
                                     const std::vector<double> dr = relaxation_backward(*fwd, dy.to_vector(), tau);
                                     size_t at = 0;
                                     for (const Variable& w : logits) {
                                       const std::vector<double> part(dr.begin() + at, dr.begin() + at + w.numel());
                                       at += w.numel();
                                       const Tensor t = Tensor::from_vector(w.shape(), part, w.value().dtype());
                                       w.add_grad(w.value().device() == Device::CPU ? t : t.to(w.value().device()));
                                     }
                                   });
  std::vector<Variable> gates;
  int64_t at = 0;
  for (const Variable& w : logits) {
    gates.push_back(slice(all, 0, at, at + w.numel()));
    at += w.numel();
  }
  return gates;
}

double dsp_temperature_at(const PruneSetup& s, int64_t step) {
  const double progress = s.steps > 1 ? std::clamp(double(step) / double(s.steps - 1), 0.0, 1.0) : 1.0;
  return s.config.dsp_temperature * std::pow(s.config.dsp_final_temperature / s.config.dsp_temperature, progress);
}

std::unique_ptr<PruningMethod> make_dsp(const PruneSetup& s) { return std::make_unique<Dsp>(s); }

}  // namespace hc
