// The statistics of a paired timing comparison (`headcount bench`): the
// median of the per-pair ratios and a distribution-free 95% confidence
// interval for it.
//
// The interval comes from order statistics. For n independent ratios, the
// number that fall below the true median is Binomial(n, 1/2), so the j-th
// smallest and the j-th largest of them enclose the median with probability
// 1 - 2 P(Binomial(n, 1/2) <= j - 1), whatever the ratios' distribution.
// The largest j whose coverage is at least the asked confidence is taken;
// below 6 pairs even the smallest and largest (j = 1) cover the median with
// less than 95% (1 - 2/2^n), and then that is the interval, with its
// smaller coverage reported. tools/results/stats.py computes the same.
#pragma once

#include <cstddef>
#include <vector>

namespace hc {

struct MedianInterval {
  double median = 0;   // the middle value; the mean of the two middle ones for an even count
  double lo = 0, hi = 0;
  double coverage = 0;  // the interval's probability of holding the true median
  size_t n = 0;
};

// P(Binomial(n, 1/2) <= k).
double binomial_half_cdf(size_t n, long long k);

// The median of `values` (at least one) and its interval at `confidence`.
MedianInterval median_interval(std::vector<double> values, double confidence = 0.95);

}  // namespace hc
