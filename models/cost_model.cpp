#include "models/cost_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace hc {

const char* cost_form_name(CostForm f) {
  switch (f) {
    case CostForm::PerLayer: return "per-layer";
    case CostForm::Shared: return "shared";
    case CostForm::HeadsOnly: return "heads-only";
  }
  return "?";
}

CostForm cost_form_from_name(const std::string& name) {
  for (CostForm f : {CostForm::PerLayer, CostForm::Shared, CostForm::HeadsOnly})
    if (name == cost_form_name(f)) return f;
  throw std::invalid_argument("cost model: unknown form '" + name + "' (per-layer, shared, heads-only)");
}

double CostModel::predict(const std::vector<int64_t>& heads) const {
  check(heads.size() == per_head.size(), "cost model: " + std::to_string(heads.size()) + " head counts for a model of " +
                                             std::to_string(per_head.size()) + " layers");
  double t = fixed;
  for (size_t l = 0; l < heads.size(); ++l)
    if (heads[l] > 0) t += layer_fixed[l] + per_head[l] * double(heads[l]);
  return t;
}

nlohmann::json CostModel::to_json() const {
  return {{"form", cost_form_name(form)}, {"fixed_s", fixed}, {"layer_fixed_s", layer_fixed}, {"per_head_s", per_head}};
}

CostModel CostModel::from_json(const nlohmann::json& j) {
  CostModel m;
  m.form = cost_form_from_name(j.at("form").get<std::string>());
  m.fixed = j.at("fixed_s").get<double>();
  m.layer_fixed = j.at("layer_fixed_s").get<std::vector<double>>();
  m.per_head = j.at("per_head_s").get<std::vector<double>>();
  check(m.layer_fixed.size() == m.per_head.size(), "cost model: layer_fixed_s and per_head_s differ in length");
  return m;
}

namespace {

// The regressors of one configuration in `form`: t = sum_k x_k theta_k.
std::vector<double> features(CostForm form, const std::vector<int64_t>& h) {
  const size_t L = h.size();
  double open_layers = 0, total = 0;
  for (int64_t n : h) open_layers += n > 0 ? 1 : 0, total += double(n);
  switch (form) {
    case CostForm::HeadsOnly: return {1, total};
    case CostForm::Shared: return {1, open_layers, total};
    case CostForm::PerLayer: break;
  }
  std::vector<double> x(1 + 2 * L, 0.0);
  x[0] = 1;
  for (size_t l = 0; l < L; ++l) {
    x[1 + l] = h[l] > 0 ? 1 : 0;
    x[1 + L + l] = double(h[l]);
  }
  return x;
}

// Solves (X^T X) theta = X^T y by Gaussian elimination with partial
// pivoting; a pivot below 1e-9 of the largest diagonal means two numbers
// the data cannot tell apart.
std::vector<double> least_squares(const std::vector<std::vector<double>>& X, const std::vector<double>& y) {
  const size_t k = X[0].size();
  std::vector<std::vector<double>> A(k, std::vector<double>(k + 1, 0.0));  // [X^T X | X^T y]
  for (size_t i = 0; i < X.size(); ++i)
    for (size_t r = 0; r < k; ++r) {
      for (size_t c = 0; c < k; ++c) A[r][c] += X[i][r] * X[i][c];
      A[r][k] += X[i][r] * y[i];
    }
  double scale = 0;
  for (size_t r = 0; r < k; ++r) scale = std::max(scale, A[r][r]);
  for (size_t c = 0; c < k; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(A[r][c]) > std::fabs(A[p][c])) p = r;
    check(std::fabs(A[p][c]) > 1e-9 * scale, "cost model: the configurations do not determine every number of the form");
    std::swap(A[c], A[p]);
    for (size_t r = 0; r < k; ++r)
      if (r != c) {
        const double f = A[r][c] / A[c][c];
        for (size_t j = c; j <= k; ++j) A[r][j] -= f * A[c][j];
      }
  }
  std::vector<double> theta(k);
  for (size_t r = 0; r < k; ++r) theta[r] = A[r][k] / A[r][r];
  return theta;
}

}  // namespace

CostModel fit_cost_model(CostForm form, const std::vector<std::vector<int64_t>>& heads,
                         const std::vector<double>& seconds) {
  check(!heads.empty() && heads.size() == seconds.size(), "cost model: need as many times as configurations, at least one");
  const size_t L = heads[0].size();
  std::vector<std::vector<double>> X;
  for (const std::vector<int64_t>& h : heads) {
    check(h.size() == L, "cost model: configurations differ in their number of layers");
    X.push_back(features(form, h));
  }
  check(X.size() >= X[0].size(), "cost model: " + std::to_string(X.size()) + " configurations for " +
                                     std::to_string(X[0].size()) + " numbers");
  const std::vector<double> theta = least_squares(X, seconds);
  CostModel m;
  m.form = form;
  m.fixed = theta[0];
  for (size_t l = 0; l < L; ++l) {
    switch (form) {
      case CostForm::HeadsOnly: m.layer_fixed.push_back(0), m.per_head.push_back(theta[1]); break;
      case CostForm::Shared: m.layer_fixed.push_back(theta[1]), m.per_head.push_back(theta[2]); break;
      case CostForm::PerLayer: m.layer_fixed.push_back(theta[1 + l]), m.per_head.push_back(theta[1 + L + l]); break;
    }
  }
  return m;
}

std::vector<std::vector<int64_t>> calibration_heads(const AllAttConfig& dense) {
  const int64_t L = dense.layers;
  std::vector<int64_t> whole;
  for (int64_t l = 0; l < L; ++l) whole.push_back(dense.heads_in(l));
  std::vector<std::vector<int64_t>> out;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h : {int64_t{0}, int64_t{1}}) {
      std::vector<int64_t> v = whole;
      v[size_t(l)] = h;
      out.push_back(v);
    }
  std::vector<int64_t> empty(size_t(L), 0), half = whole;
  for (int64_t& h : half) h = (h + 1) / 2;
  out.push_back(empty);
  out.push_back(half);
  out.push_back(whole);
  return out;
}

nlohmann::json CostKey::to_json() const {
  return {{"shape", shape}, {"device", device}, {"threads", threads}, {"batch", batch}, {"mode", mode}};
}

CostKey CostKey::from_json(const nlohmann::json& j) {
  return {j.at("shape").get<std::string>(), j.at("device").get<std::string>(), j.at("threads").get<int64_t>(),
          j.at("batch").get<int64_t>(), j.value("mode", "")};
}

std::string shape_key(const AllAttConfig& c) {
  std::string s = "L" + std::to_string(c.layers) + " H";
  for (int64_t l = 0; l < c.layers; ++l) s += (l ? "," : "") + std::to_string(c.heads_in(l));
  s += " C" + std::to_string(c.d_model) + " D" + std::to_string(c.d_head) + " N" + std::to_string(c.persist) + " F" +
       std::to_string(c.d_ffn) + " T" + std::to_string(c.seg_len) + " M" + std::to_string(c.mem_len) + " V" +
       std::to_string(c.vocab);
  if (!c.adaptive_cutoffs.empty()) {
    s += " adaptive";
    for (int64_t k : c.adaptive_cutoffs) s += "," + std::to_string(k);
  }
  s += c.dropout_attn > 0 ? " attn-dropout" : "";
  s += c.fused_attention ? " fused" : "";
  return s;
}

CostKey run_cost_key(const AllAttConfig& model, Device device, int64_t batch, const std::string& mode) {
  AllAttConfig dense = model;
  dense.heads_per_layer.clear();
  int64_t threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  return {shape_key(dense), device_name(device), threads, batch, mode};
}

std::string cost_key_mismatch(const CostKey& have, const CostKey& want) {
  if (have.shape != want.shape) return "model: measured for '" + have.shape + "', this one is '" + want.shape + "'";
  if (have.device != want.device) return "device: measured on " + have.device + ", asked for " + want.device;
  if (have.threads != want.threads)
    return "threads: measured with " + std::to_string(have.threads) + ", running with " + std::to_string(want.threads);
  if (have.batch != want.batch)
    return "batch: measured at " + std::to_string(have.batch) + ", asked for " + std::to_string(want.batch);
  return "";
}

CostModel cost_model_for(const nlohmann::json& costs, const CostKey& want) {
  check(want.mode == "train" || want.mode == "infer", "cost model: mode is train or infer, not '" + want.mode + "'");
  check(costs.contains("cost_model"), "cost model: this costs.json has none (written by an older headcount profile?)");
  const nlohmann::json& cm = costs.at("cost_model");
  const std::string why = cost_key_mismatch(CostKey::from_json(cm.at("key")), want);
  check(why.empty(), "cost model refused: " + why);
  return CostModel::from_json(cm.at(want.mode));
}

}  // namespace hc
