#include "models/cost_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/cpu_util.h"

namespace hc {

const char* cost_form_name(CostForm f) {
  switch (f) {
    case CostForm::PerLayer: return "per-layer";
    case CostForm::PerCount: return "per-count";
    case CostForm::Shared: return "shared";
    case CostForm::HeadsOnly: return "heads-only";
  }
  return "?";
}

CostForm cost_form_from_name(const std::string& name) {
  for (CostForm f : {CostForm::PerLayer, CostForm::PerCount, CostForm::Shared, CostForm::HeadsOnly})
    if (name == cost_form_name(f)) return f;
  throw std::invalid_argument("cost model: unknown form '" + name + "' (per-layer, per-count, shared, heads-only)");
}

double CostModel::layer_seconds(int64_t l, int64_t h) const {
  check(l >= 0 && l < int64_t(per_head.size()), "cost model: no layer " + std::to_string(l));
  check(h >= 0 && (count_cost.empty() || h <= int64_t(count_cost.size())),
        "cost model: " + std::to_string(h) + " heads in layer " + std::to_string(l) + ", more than it was measured with");
  if (h == 0) return 0;
  return layer_fixed[size_t(l)] + per_head[size_t(l)] * double(h) + (count_cost.empty() ? 0 : count_cost[size_t(h - 1)]);
}

double CostModel::predict(const std::vector<int64_t>& heads) const {
  check(heads.size() == per_head.size(), "cost model: " + std::to_string(heads.size()) + " head counts for a model of " +
                                             std::to_string(per_head.size()) + " layers");
  double t = fixed;
  for (size_t l = 0; l < heads.size(); ++l) t += layer_seconds(int64_t(l), heads[l]);
  return t;
}

nlohmann::json CostModel::to_json() const {
  return {{"form", cost_form_name(form)}, {"fixed_s", fixed}, {"layer_fixed_s", layer_fixed}, {"per_head_s", per_head},
          {"count_s", count_cost}};
}

CostModel CostModel::from_json(const nlohmann::json& j) {
  CostModel m;
  m.form = cost_form_from_name(j.at("form").get<std::string>());
  m.fixed = j.at("fixed_s").get<double>();
  m.layer_fixed = j.at("layer_fixed_s").get<std::vector<double>>();
  m.per_head = j.at("per_head_s").get<std::vector<double>>();
  m.count_cost = j.at("count_s").get<std::vector<double>>();
  check(m.layer_fixed.size() == m.per_head.size(), "cost model: layer_fixed_s and per_head_s differ in length");
  return m;
}

namespace {

// The regressors of one configuration in `form`: t = sum_k x_k theta_k.
// H is the most heads a layer has (the per-count form's g(1) .. g(H)).
std::vector<double> features(CostForm form, const std::vector<int64_t>& h, int64_t H) {
  const size_t L = h.size();
  double open_layers = 0, total = 0;
  for (int64_t n : h) open_layers += n > 0 ? 1 : 0, total += double(n);
  switch (form) {
    case CostForm::HeadsOnly: return {1, total};
    case CostForm::Shared: return {1, open_layers, total};
    case CostForm::PerCount: {
      std::vector<double> x(size_t(1 + H), 0.0);  // 1, then how many layers have k = 1..H heads
      x[0] = 1;
      for (int64_t n : h)
        if (n > 0) x[size_t(n)] += 1;
      return x;
    }
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
  int64_t H = 0;
  for (const std::vector<int64_t>& h : heads) {
    check(h.size() == L, "cost model: configurations differ in their number of layers");
    for (int64_t n : h) H = std::max(H, n);
  }
  std::vector<std::vector<double>> X;
  for (const std::vector<int64_t>& h : heads) X.push_back(features(form, h, H));
  check(X.size() >= X[0].size(), "cost model: " + std::to_string(X.size()) + " configurations for " +
                                     std::to_string(X[0].size()) + " numbers");
  const std::vector<double> theta = least_squares(X, seconds);
  CostModel m;
  m.form = form;
  m.fixed = theta[0];
  for (size_t l = 0; l < L; ++l) {
    switch (form) {
      case CostForm::HeadsOnly: m.layer_fixed.push_back(0), m.per_head.push_back(theta[1]); break;
      case CostForm::PerCount: m.layer_fixed.push_back(0), m.per_head.push_back(0); break;
      case CostForm::Shared: m.layer_fixed.push_back(theta[1]), m.per_head.push_back(theta[2]); break;
      case CostForm::PerLayer: m.layer_fixed.push_back(theta[1 + l]), m.per_head.push_back(theta[1 + L + l]); break;
    }
  }
  if (form == CostForm::PerCount) m.count_cost.assign(theta.begin() + 1, theta.end());
  return m;
}

std::vector<std::vector<int64_t>> calibration_heads(const AllAttConfig& dense) {
  const int64_t L = dense.layers;
  std::vector<int64_t> whole;
  for (int64_t l = 0; l < L; ++l) whole.push_back(dense.heads_in(l));
  std::vector<std::vector<int64_t>> out;
  auto add = [&](const std::vector<int64_t>& v) {  // once each (a layer of one head repeats the whole model)
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  };
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h : {int64_t{0}, int64_t{1}}) {
      std::vector<int64_t> v = whole;
      v[size_t(l)] = std::min(h, whole[size_t(l)]);
      add(v);
    }
  int64_t H = 0;
  for (int64_t h : whole) H = std::max(H, h);
  for (int64_t k = 0; k <= H; ++k) {
    std::vector<int64_t> v = whole;
    for (int64_t& h : v) h = std::min(h, k);
    add(v);
  }
  return out;
}

nlohmann::json CostKey::to_json() const {
  return {{"shape", shape}, {"device", device}, {"threads", threads}, {"batch", batch}, {"mode", mode}};
}

CostKey CostKey::from_json(const nlohmann::json& j) {
  return {j.at("shape").get<std::string>(), j.at("device").get<std::string>(), j.at("threads").get<int64_t>(),
          j.at("batch").get<int64_t>(), j.value("mode", "")};
}

CostKey cost_key(const AllAttConfig& dense, Device device, int64_t batch, const std::string& mode) {
  return {shape_key(dense), device_name(device), cpu::free_threads(), batch, mode};
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
  return cost_key(dense, device, batch, mode);
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
