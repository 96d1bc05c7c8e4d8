// The vectorisable e^x of the CPU softmax (engine/cpu_tuned/exp_nonpositive.h) against
// double-precision exp at every float in [-87, 0] (about 1.1e9 of them are
// in that range; every 31st is checked, which keeps the test short).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/cpu_tuned/exp_nonpositive.h"

using namespace hc;

TEST_CASE("exp_nonpositive: within 1.5 ulp of exp over [-87, 0]; 0, NaN and far-negative inputs") {
  double worst = 0;
  float worst_at = 0;
  int64_t checked = 0;
  for (float x = -87.0f; x < 0; ++checked) {
    const double exact = std::exp(double(x)), got = exp_nonpositive(x);
    const double e = std::fabs(got - exact) / exact;
    if (e > worst) worst = e, worst_at = x;
    for (int k = 0; k < 31 && x < 0; ++k) x = std::nextafter(x, 1.0f);
  }
  MESSAGE(checked << " floats checked, worst relative error " << worst << " at " << worst_at);
  CHECK(worst < 1.5 * std::numeric_limits<float>::epsilon() / 2);  // 1.5 ulp of a value in [1, 2)
  CHECK(exp_nonpositive(0.0f) == 1.0f);
  CHECK(exp_nonpositive(-1000.0f) < 2e-38f);
  CHECK(exp_nonpositive(-1000.0f) >= 0.0f);
  CHECK(std::isnan(exp_nonpositive(std::numeric_limits<float>::quiet_NaN())));
}
