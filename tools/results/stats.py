"""The statistics every timing stage of `make results` reports: the median of
paired ratios and a distribution-free confidence interval for it, the same
computation as app/bench_stats.cpp (which `headcount bench` uses).

For n independent ratios, the number below the true median is
Binomial(n, 1/2), so the j-th smallest and j-th largest enclose the median
with probability 1 - 2 P(Binomial(n, 1/2) <= j - 1). The largest j whose
coverage is at least `confidence` is taken; with fewer than 6 values even
the whole range covers less than 95%, and then the range is returned with
its smaller coverage.
"""
import math


def binomial_half_cdf(n, k):
    """P(Binomial(n, 1/2) <= k)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def median_interval(values, confidence=0.95):
    """{"median", "lo", "hi", "coverage", "n"} of a non-empty list of numbers."""
    v = sorted(values)
    n = len(v)
    if n == 0:
        raise ValueError("median_interval: no values")
    median = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    j = 1
    while j + 1 <= (n + 1) // 2 and 1 - 2 * binomial_half_cdf(n, j) >= confidence:
        j += 1
    return {"median": median, "lo": v[j - 1], "hi": v[n - j],
            "coverage": 1 - 2 * binomial_half_cdf(n, j - 1), "n": n}


if __name__ == "__main__":
    # python3 tools/results/stats.py 1.2 1.3 ...: the interval of those numbers, as JSON
    # (tests/test_results.cpp sets it against the C++ version).
    import json
    import sys
    print(json.dumps(median_interval([float(a) for a in sys.argv[1:]])))
