#include "app/profile_validate.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "app/svg_plot.h"
#include "engine/safetensors.h"

namespace hc {

AllAttConfig with_heads(const AllAttConfig& dense, const HeadCounts& heads) {
  AllAttConfig v = dense;
  v.heads_per_layer = heads;
  return v;
}

std::vector<HeadCounts> random_heads(const AllAttConfig& dense, int64_t K, uint64_t seed,
                                     const std::set<HeadCounts>& excluded) {
  double possible = 1;
  for (int64_t l = 0; l < dense.layers; ++l) possible *= double(dense.heads_in(l) + 1);
  std::set<HeadCounts> seen = excluded;
  seen.insert(HeadCounts(size_t(dense.layers), 0));
  check(double(K) <= possible - double(seen.size()),
        "--validate " + std::to_string(K) + ": the model has only " + std::to_string(int64_t(possible)) +
            " head configurations, of which " + std::to_string(seen.size()) + " are calibration or empty");
  std::mt19937_64 gen(seed);
  std::vector<HeadCounts> out;
  while (int64_t(out.size()) < K) {
    HeadCounts h;
    for (int64_t l = 0; l < dense.layers; ++l) h.push_back(int64_t(gen() % uint64_t(dense.heads_in(l) + 1)));
    if (seen.insert(h).second) out.push_back(h);
  }
  return out;
}

std::vector<HeadCounts> calibration_with_mixed(const AllAttConfig& dense) {
  std::vector<HeadCounts> cal = calibration_heads(dense);
  std::set<HeadCounts> taken(cal.begin(), cal.end());
  taken.insert(HeadCounts(size_t(dense.layers), 0));
  double possible = 1;
  for (int64_t l = 0; l < dense.layers; ++l) possible *= double(dense.heads_in(l) + 1);
  const int64_t room = int64_t(possible) - int64_t(taken.size());
  const int64_t mixed = std::min(int64_t(cal.size()), room / 2);
  for (const HeadCounts& h : random_heads(dense, mixed, 0, taken)) cal.push_back(h);
  return cal;
}

namespace {

double seconds_of(const Timers& t, const std::string& mode) { return mode == "train" ? t.train : t.infer; }

// The value below which 95% of `v` lie (the nearest rank).
double p95(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[size_t(std::ceil(0.95 * double(v.size()))) - 1];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// The share of errors within +-bound, or within their own configuration's
// repeatability spread where that is wider (a prediction cannot be judged
// finer than the measurement it is judged against).
double share_within(const std::vector<double>& error, double bound, const std::vector<double>& spread) {
  if (error.empty()) return 0;
  double n = 0;
  for (size_t i = 0; i < error.size(); ++i) n += std::fabs(error[i]) <= std::max(bound, spread[i]) ? 1 : 0;
  return n / double(error.size());
}

FormScore score(const CostModel& m, const ModeValidation& v) {
  FormScore s{m, {}, {}};
  for (size_t i = 0; i < v.heads.size(); ++i) {
    s.predicted.push_back(m.predict(v.heads[i]));
    s.error.push_back((s.predicted.back() - v.measured[i]) / v.measured[i]);
    s.worst = std::max(s.worst, std::fabs(s.error.back()));
  }
  const std::vector<double> none(s.error.size(), 0.0);
  s.within5 = share_within(s.error, 0.05, none);
  s.within10 = share_within(s.error, 0.10, none);
  s.within_spread = share_within(s.error, 0.10, v.spread);
  return s;
}

int numbers_of(const CostModel& m) {
  switch (m.form) {
    case CostForm::PerLayer: return 1 + 2 * int(m.per_head.size());
    case CostForm::PerCount: return 1 + int(m.count_cost.size());
    case CostForm::Shared: return 3;
    case CostForm::HeadsOnly: return 2;
  }
  return 0;
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v);
  return buf;
}

}  // namespace

ModeValidation validate_mode(const std::string& mode, const AllAttConfig& dense, ConfigTimer& timer,
                             const std::vector<HeadCounts>& calibration, const std::vector<HeadCounts>& validation) {
  ModeValidation v;
  v.mode = mode;
  v.calibration = calibration;
  for (const HeadCounts& h : calibration) v.calibration_seconds.push_back(seconds_of(timer.of(with_heads(dense, h)), mode));
  v.heads = validation;
  for (const HeadCounts& h : validation) {
    v.first.push_back(seconds_of(timer.of(with_heads(dense, h), kFirstSlot), mode));
    v.second.push_back(seconds_of(timer.of(with_heads(dense, h), kSecondSlot), mode));
    v.measured.push_back(std::min(v.first.back(), v.second.back()));
    v.spread.push_back(std::fabs(v.first.back() - v.second.back()) / v.measured.back());
  }
  v.spread_p95 = p95(v.spread);
  for (CostForm f : {CostForm::PerLayer, CostForm::PerCount, CostForm::Shared, CostForm::HeadsOnly})
    v.forms.push_back(score(fit_cost_model(f, calibration, v.calibration_seconds), v));
  // The largest share within +-10%, a tie broken by the share within +-5%,
  // then by fewer numbers (listed last). Without validation, the per-layer
  // form: it holds the others but for the per-count one.
  for (size_t i = 1; i < v.forms.size() && !validation.empty(); ++i) {
    const FormScore &f = v.forms[i], &best = v.forms[v.chosen];
    if (f.within10 > best.within10 || (f.within10 == best.within10 && f.within5 >= best.within5)) v.chosen = i;
  }
  return v;
}

nlohmann::json cost_model_json(const CostKey& key, const ModeValidation& train, const ModeValidation& infer,
                               double calibration_seconds) {
  nlohmann::json j = {{"key", key.to_json()},
                      {"calibration", {{"configurations", train.calibration.size()}, {"seconds", calibration_seconds}}}};
  for (const ModeValidation* v : {&train, &infer}) {
    j[v->mode] = v->forms[v->chosen].model.to_json();
    for (const FormScore& f : v->forms) {
      nlohmann::json form = f.model.to_json();
      if (!v->heads.empty())
        form["validation"] = {{"within5", f.within5}, {"within10", f.within10}, {"within_spread", f.within_spread},
                              {"worst", f.worst}};
      j["forms"][v->mode].push_back(form);
    }
    if (!v->heads.empty())
      j["validation"][v->mode] = {{"configurations", v->heads.size()}, {"spread_median", median(v->spread)},
                                  {"spread_p95", v->spread_p95}};
  }
  return j;
}

nlohmann::json validation_json(const ModeValidation& train, const ModeValidation& infer) {
  nlohmann::json j;
  for (const ModeValidation* v : {&train, &infer}) {
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i = 0; i < v->heads.size(); ++i) {
      nlohmann::json row = {{"heads", v->heads[i]}, {"first_s", v->first[i]}, {"second_s", v->second[i]},
                            {"measured_s", v->measured[i]}};
      for (const FormScore& f : v->forms) row["predicted_s"][cost_form_name(f.model.form)] = f.predicted[i];
      rows.push_back(row);
    }
    j[v->mode] = {{"chosen", cost_form_name(v->forms[v->chosen].model.form)}, {"configurations", rows}};
  }
  return j;
}

std::string validation_report(const ModeValidation& train, const ModeValidation& infer, double calibration_seconds,
                              const std::string& out) {
  std::ostringstream md;
  md << "\n## The cost model, checked on " << train.heads.size() << " random pruned configurations\n\n"
     << "Calibrated on " << train.calibration.size() << " configurations (each layer emptied and at one head, every "
     << "layer emptied, at half and whole), " << std::lround(calibration_seconds) << " s of timing. Checked on "
     << "configurations drawn at random (none a calibration one), each timed in two independent slots (in turns with the whole model, as above); measured = "
     << "the lower, repeatability = how far apart the two are.\n\n"
     << "| mode | form | numbers | within +-5% | within +-10% | worst error | within +-10% or the spread |\n"
     << "|---|---|---:|---:|---:|---:|---:|\n";
  std::vector<Series> points;
  for (const ModeValidation* v : {&train, &infer}) {
    const std::string mode = v->mode == "train" ? "training step" : "inference forward";
    for (size_t i = 0; i < v->forms.size(); ++i) {
      const FormScore& f = v->forms[i];
      md << "| " << mode << " | " << cost_form_name(f.model.form) << (i == v->chosen ? " (chosen)" : "") << " | "
         << numbers_of(f.model) << " | " << pct(f.within5) << " | " << pct(f.within10) << " | " << pct(f.worst) << " | "
         << pct(f.within_spread) << " |\n";
    }
    Series s{mode + " (" + cost_form_name(v->forms[v->chosen].model.form) + ")", {}};
    for (size_t i = 0; i < v->heads.size(); ++i) s.points.push_back({v->measured[i] * 1e3, v->forms[v->chosen].predicted[i] * 1e3});
    points.push_back(s);
  }
  for (const ModeValidation* v : {&train, &infer}) {
    const FormScore& f = v->forms[v->chosen];
    md << "\n" << (v->mode == "train" ? "Training step" : "Inference forward") << ": repeatability median "
       << pct(median(v->spread)) << ", 95th percentile " << pct(v->spread_p95) << ". The chosen "
       << cost_form_name(f.model.form) << " form has " << pct(f.within10) << " within +-10% ("
       << (f.within10 >= 0.95 ? "meets" : "misses") << " the 95% aim), " << pct(f.within_spread)
       << " within +-10% or the configuration's own spread, where that is wider ("
       << (f.within_spread >= 0.95 ? "meets" : "misses") << " it).\n";
  }
  safetensors::write_file_atomically(
      out + "/validate.svg", scatter_plot("predicted against measured time, random pruned configurations",
                                          "measured ms", "predicted ms", points, 0.10));
  md << "\nPlot: validate.svg (dashed: +-10%); every configuration's numbers: validation.json.\n";
  return md.str();
}

}  // namespace hc
