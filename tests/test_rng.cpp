// The counter-based RNG (engine/rng.h) and the random primitives built on it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/backend.h"
#include "engine/rng.h"
#include "tests/test_util.h"

using namespace hc;

TEST_CASE("philox4x32-10 reproduces the Random123 known-answer vectors") {
  // From Random123's examples/kat_vectors (D. E. Shaw Research), the three
  // "philox4x32 10" lines: counter (4 words), key (2 words) -> output (4 words).
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    const philox::Block b =
        philox::philox4x32_10(k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3], k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i) CHECK(b.v[i] == k.out[i]);
  }
}

TEST_CASE("uniform(): open interval, exact extremes") {
  CHECK(philox::uniform(0u) > 0.0f);
  CHECK(philox::uniform(0xffffffffu) < 1.0f);
  CHECK(philox::uniform(0u) == 0.5f / 8388608.0f);
  CHECK(philox::uniform(0xffffffffu) == 1.0f - 0.5f / 8388608.0f);
}

TEST_CASE("keep_threshold: uniform(x) >= p exactly when x >= keep_threshold(p)") {
  // Rates with and without an exact float32 image, the extremes, and rates
  // that sit exactly on a uniform value (k + 0.5) 2^-23 or just beside it.
  const float on_value = 1000.5f / 8388608.0f;
  const std::vector<float> rates = {0.0f, 1e-9f, 0.1f, 1.0f / 3.0f, 0.5f, 0.9f, 0.999999f,
                                    1.0f, on_value, std::nextafter(on_value, 0.0f), std::nextafter(on_value, 1.0f)};
  for (float p : rates) {
    const uint64_t t = philox::keep_threshold(p);
    std::vector<uint64_t> xs = {0, 1, 511, 512, 0xffffffffu};
    for (int64_t d = -1536; d <= 1536; d += 7) xs.push_back(static_cast<uint64_t>(std::clamp<int64_t>(int64_t(t) + d, 0, 0xffffffff)));
    for (uint32_t e = 0; e < 4096; ++e) xs.push_back(philox::philox4x32_10(e, 0, 0, 0, 7, 9).v[0]);
    int wrong = 0;
    for (uint64_t x : xs) wrong += (philox::uniform(static_cast<uint32_t>(x)) >= p) != (x >= t);
    CHECK_MESSAGE(wrong == 0, wrong << " of " << xs.size() << " words disagree at p = " << p);
  }
}

TEST_CASE("random_uniform: mean and variance of a million draws, streams differ by offset") {
  const int64_t n = 1 << 20;
  Tensor u = Tensor::empty({n}, DType::F64);
  backend(Device::CPU).random_uniform(u, RandomKey{42, 7});
  double s = 0, s2 = 0;
  int64_t outside = 0;
  for (double x : u.to_vector()) {
    outside += !(x > 0.0 && x < 1.0);
    s += x;
    s2 += x * x;
  }
  CHECK(outside == 0);
  const double mean = s / n, var = s2 / n - mean * mean;
  // Standard errors: sqrt(1/12 / n) for the mean, sqrt(1/180 / n) for the variance.
  CHECK(std::fabs(mean - 0.5) < 4 * std::sqrt(1.0 / 12 / n));
  CHECK(std::fabs(var - 1.0 / 12) < 4 * std::sqrt(1.0 / 180 / n));

  Tensor other = Tensor::empty({n}, DType::F64);
  backend(Device::CPU).random_uniform(other, RandomKey{42, 8});
  // Offset 8 is offset 7 shifted by one block of four numbers: same stream, new position.
  CHECK(other.to_vector()[0] == u.to_vector()[4]);
  CHECK(other.to_vector()[0] != u.to_vector()[0]);
  Tensor reseeded = Tensor::empty({4}, DType::F64);
  backend(Device::CPU).random_uniform(reseeded, RandomKey{43, 7});
  CHECK(reseeded.to_vector()[0] != u.to_vector()[0]);
}

TEST_CASE("dropout_mask: keeps 1-p of the elements, values 0 or 1/(1-p), any thread count") {
  const int64_t n = 1 << 20;
  const double p = 0.3;
  Tensor mask = Tensor::empty({n}, DType::F32);
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  backend(Device::CPU).dropout_mask(mask, p, RandomKey{5, 0});
  const std::vector<double> one_thread = mask.to_vector();
#ifdef _OPENMP
  omp_set_num_threads(2);
  backend(Device::CPU).dropout_mask(mask, p, RandomKey{5, 0});
  omp_set_num_threads(threads);
#endif
  CHECK(mask.to_vector() == one_thread);
  int64_t kept = 0, other = 0;
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  for (double v : one_thread) {
    other += !(v == 0.0 || v == keep);
    kept += v != 0.0;
  }
  CHECK(other == 0);
  const double frac = double(kept) / n;
  CHECK(std::fabs(frac - (1 - p)) < 4 * std::sqrt(p * (1 - p) / n));
}

TEST_CASE("per-stream keys: streams 2..3 drawn alone equal those streams of the whole batch") {
  // (H=3 slices, B=4 streams, 10 numbers each), as attention probabilities
  // are laid out; a data-parallel rank holding streams 2 and 3 draws the
  // (3, 2, 10) part with first_stream = 2.
  const int64_t H = 3, B = 4, inner = 10;
  Tensor whole = Tensor::empty({H * B, inner}, DType::F64), part = Tensor::empty({H * 2, inner}, DType::F64);
  backend(Device::CPU).random_uniform(whole, RandomKey{7, 3, B, inner, 0});
  backend(Device::CPU).random_uniform(part, RandomKey{7, 3, 2, inner, 2});
  const std::vector<double> w = whole.to_vector(), p = part.to_vector();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t j = 0; j < inner; ++j) CHECK(p[(h * 2 + b) * inner + j] == w[(h * B + 2 + b) * inner + j]);
  // Streams and slices draw different numbers from one another.
  CHECK(w[0] != w[inner]);
  CHECK(w[0] != w[B * inner]);
  // A key whose streams do not cut the tensor is refused.
  CHECK_THROWS_WITH_AS(backend(Device::CPU).random_uniform(Tensor::empty({7}, DType::F64), RandomKey{7, 3, 2, 3, 0}),
                       doctest::Contains("do not cut"), std::invalid_argument);
}

TEST_CASE("random_uniform equals RandomKey::bits element by element, across many blocks") {
  // The CPU loop makes 16 blocks (64 numbers) at a time in vector registers;
  // every element is checked against the scalar definition: a flat key whose
  // block counter crosses 2^32 (the counter's second word changes mid-tensor),
  // and a per-stream key with rows of 150 (two whole groups and a partial one).
  // (No structured binding here: clang 14 cannot capture one in CHECK_MESSAGE.)
  struct Draw {
    RandomKey key;
    int64_t n;
  };
  for (const Draw& draw : {Draw{RandomKey{0x0123456789abcdefull, (1ull << 32) - 40}, 1000},
                           Draw{RandomKey{99, 17, 3, 150, 4}, 2 * 3 * 150}}) {
    const RandomKey& key = draw.key;
    const int64_t n = draw.n;
    Tensor u = Tensor::empty({n}, DType::F32);
    backend(Device::CPU).random_uniform(u, key);
    const std::vector<double> got = u.to_vector();
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; ++i) wrong += got[i] != static_cast<double>(philox::uniform(key.bits(i)));
    CHECK_MESSAGE(wrong == 0, wrong << " of " << n << " numbers differ, key streams " << key.streams);
  }
}

TEST_CASE("dropout_forward/backward with the CPU's bit record equal the float-mask default, at 1-3 threads") {
  // The CPU keeps one bit per element; Backend's default keeps the float
  // multipliers of dropout_mask. Both must give the same y and dx: equal
  // values when writing (x * m either way, so a NaN in x stays NaN even where
  // it is dropped), within a rounding when accumulating. Keys: a flat one, and a per-stream one whose
  // rows of 150 end in a partial group of 22.
  struct Draw {
    RandomKey key;
    int64_t n;
  };
  Backend& be = backend(Device::CPU);
  for (DType dt : {DType::F32, DType::F64})
    for (const Draw& draw : {Draw{RandomKey{3, 11}, 1000}, Draw{RandomKey{99, 17, 3, 150, 4}, 2 * 3 * 150}}) {
      const int64_t n = draw.n;
      Tensor x = Tensor::empty({n}, dt), dy = Tensor::empty({n}, dt), dx0 = Tensor::empty({n}, dt);
      be.random_uniform(x, RandomKey{1, 0});
      be.random_uniform(dy, RandomKey{2, 0});
      be.random_uniform(dx0, RandomKey{4, 0});
      std::vector<double> xs = x.to_vector();
      for (int64_t i = 0; i < n; ++i) xs[i] -= 0.5;
      xs[6] = std::nan("");
      x = Tensor::from_vector({n}, xs, dt);
      Tensor y_ref = Tensor::empty({n}, dt), y = Tensor::empty({n}, dt);
      const Tensor mask = be.Backend::dropout_forward(x, y_ref, 0.3, draw.key);
      Tensor dx_ref = dx0.clone(), dx_acc_ref = dx0.clone();
      be.Backend::dropout_backward(dy, mask, 0.3, draw.key, dx_ref, false);
      be.Backend::dropout_backward(dy, mask, 0.3, draw.key, dx_acc_ref, true);
      const std::vector<double> yr = y_ref.to_vector(), dr = dx_ref.to_vector(), dar = dx_acc_ref.to_vector();
      for (int t = 1; t <= 3; ++t) {
        Tensor dx = dx0.clone(), dx_acc = dx0.clone();
        test::with_threads(t, [&] {
          const Tensor kept = be.dropout_forward(x, y, 0.3, draw.key);
          CHECK(kept.dtype() == DType::I64);
          be.dropout_backward(dy, kept, 0.3, draw.key, dx, false);
          be.dropout_backward(dy, kept, 0.3, draw.key, dx_acc, true);
        });
        const std::vector<double> yv = y.to_vector(), dv = dx.to_vector(), dav = dx_acc.to_vector();
        int64_t wrong = 0;
        for (int64_t i = 0; i < n; ++i) {
          const bool same_y = std::isnan(yr[i]) ? std::isnan(yv[i]) : yv[i] == yr[i];
          wrong += !same_y || dv[i] != dr[i] || std::fabs(dav[i] - dar[i]) > 1e-6 * std::fabs(dar[i]);
        }
        CHECK_MESSAGE(wrong == 0, wrong << " of " << n << " elements differ at " << t << " threads, key streams "
                                        << draw.key.streams);
      }
    }
  // A record from another key's geometry is refused.
  Tensor x = Tensor::empty({900}, DType::F32), y = Tensor::empty({900}, DType::F32);
  be.fill(x, 1.0);
  const Tensor kept = be.dropout_forward(x, y, 0.3, RandomKey{3, 11});
  CHECK_THROWS_WITH_AS(be.dropout_backward(x, kept, 0.3, RandomKey{99, 17, 3, 150, 4}, y, false),
                       doctest::Contains("not dropout_forward's record"), std::invalid_argument);
}

TEST_CASE("softmax_dropout_backward: the CPU's one pass equals dropout's then softmax's backward, bit for bit") {
  // Backend's default writes g = dout * m out and runs softmax_backward on
  // it; the CPU makes each row's g from the bits as it goes. Keys: the
  // model's (H=4 slices, B=2 streams, each stream row T=16 whole softmax
  // rows of W=80, 20 groups of 64), a flat one, stream rows of 256 numbers
  // that end inside softmax rows, and stream rows of 40 (half a softmax row,
  // each a single group that stops part-way). At 1-3 threads.
  Backend& be = backend(Device::CPU);
  const int64_t G = 8, T = 16, W = 80;
  const BandMask mask{T, 48, 0, 32};
  for (const RandomKey& key : {RandomKey{2024, 3, 2, T * W, 3}, RandomKey{7, 1}, RandomKey{9, 4, 2, 256, 0},
                               RandomKey{11, 2, 2, 40, 1}})
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor x = Tensor::empty({G, T, W}, dt), dout = Tensor::empty({G, T, W}, dt), dx0 = Tensor::empty({G, T, W}, dt);
      be.random_uniform(x, RandomKey{1, 0});
      be.random_uniform(dout, RandomKey{2, 0});
      be.random_uniform(dx0, RandomKey{3, 0});
      Tensor y = Tensor::empty(x.shape(), dt), out = Tensor::empty(x.shape(), dt);
      be.softmax_forward(x, y, mask);
      const Tensor kept = be.dropout_forward(y, out, 0.2, key);
      Tensor dx_ref = dx0.clone(), dx_acc_ref = dx0.clone();
      be.Backend::softmax_dropout_backward(y, dout, kept, 0.2, key, dx_ref, false);
      be.Backend::softmax_dropout_backward(y, dout, kept, 0.2, key, dx_acc_ref, true);
      for (int t = 1; t <= 3; ++t) {
        Tensor dx = dx0.clone(), dx_acc = dx0.clone();
        test::with_threads(t, [&] {
          be.softmax_dropout_backward(y, dout, kept, 0.2, key, dx, false);
          be.softmax_dropout_backward(y, dout, kept, 0.2, key, dx_acc, true);
        });
        CHECK_MESSAGE(dx.to_vector() == dx_ref.to_vector(), t << " threads, key streams " << key.streams);
        CHECK_MESSAGE(dx_acc.to_vector() == dx_acc_ref.to_vector(), "accumulating, " << t << " threads, key streams "
                                                                                     << key.streams);
      }
    }
}
