#include "app/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace hc {

double binomial_half_cdf(size_t n, long long k) {
  if (k < 0) return 0;
  if (k >= static_cast<long long>(n)) return 1;
  // Sum of C(n, i) / 2^n in logs, so that large n neither overflows nor
  // loses the small terms' precision.
  const double log_n_fact = std::lgamma(double(n) + 1), log_half_n = double(n) * std::log(0.5);
  double sum = 0;
  for (long long i = 0; i <= k; ++i)
    sum += std::exp(log_n_fact - std::lgamma(double(i) + 1) - std::lgamma(double(n) - double(i) + 1) + log_half_n);
  return std::min(sum, 1.0);
}

MedianInterval median_interval(std::vector<double> values, double confidence) {
  if (values.empty()) throw std::invalid_argument("median_interval: no values");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  MedianInterval r;
  r.n = n;
  r.median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  // j = 1 is the whole range; move inwards while the coverage still holds.
  size_t j = 1;
  while (j + 1 <= (n + 1) / 2 && 1 - 2 * binomial_half_cdf(n, static_cast<long long>(j)) >= confidence) ++j;
  r.lo = values[j - 1];
  r.hi = values[n - j];
  r.coverage = 1 - 2 * binomial_half_cdf(n, static_cast<long long>(j) - 1);
  return r;
}

}  // namespace hc
