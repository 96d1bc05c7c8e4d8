// Benchmark: fused against op-by-op attention (the config key
// fused_attention), interleaved in one process. The two models share a
// config and seed (the same weights); each round times one training step
// (forward + backward, no optimizer: it is the same for both) and one
// inference forward pass of each, in alternating order, on the same random
// tokens. Prints every round's unfused/fused ratio (> 1: fused is faster) and
// the median, per mode. On a shared machine whose speed drifts, only the
// ratio of two runs side by side means something.
//
// usage: bench_fused_attention CONFIG.json [--vocab V] [--rounds R] [--batch B]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <vector>

#include "app/config.h"
#include "models/allatt_lm.h"

using namespace hc;

namespace {

struct Model {
  AllAttLM lm;
  Memory mem;
};

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fputs("usage: bench_fused_attention CONFIG.json [--vocab V] [--rounds R] [--batch B]\n", stderr);
    return 2;
  }
  int64_t vocab = 86, rounds = 10, batch = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--vocab")) vocab = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
    else return std::fprintf(stderr, "bench_fused_attention: unknown argument %s\n", argv[i]), 2;
  }
  const RunConfig cfg = load_config(argv[1], {});
  AllAttConfig mc = cfg.model;
  mc.vocab = vocab;
  const int64_t B = batch > 0 ? batch : cfg.batch, T = mc.seg_len;
  std::vector<int64_t> ids(B * T);
  for (int64_t e = 0; e < B * T; ++e) ids[e] = (e * 7919 + 13) % vocab;
  const Tensor tokens = Tensor::from_ids({B, T}, ids);
  mc.fused_attention = false;
  Model unfused{AllAttLM(mc, 1), {}};
  mc.fused_attention = true;
  Model fused{AllAttLM(mc, 1), {}};
  RngStream rng{1, 0};
  auto train = [&](Model& m) {
    m.mem = m.lm.initial_memory(B);
    m.lm.loss(tokens, tokens, m.mem, true, rng).backward();
    for (const Variable& p : m.lm.parameters()) p.zero_grad();
  };
  auto infer = [&](Model& m) {
    NoGrad no_grad;
    m.lm.logits(tokens, m.mem, false, rng);
  };
  for (Model* m : {&unfused, &fused}) train(*m), infer(*m);  // warm-up
  std::vector<double> train_ratio, infer_ratio;
  for (int64_t r = 0; r < rounds; ++r) {
    Model& first = r % 2 ? unfused : fused;
    Model& second = r % 2 ? fused : unfused;
    const double t1 = seconds_of([&] { train(first); }), t2 = seconds_of([&] { train(second); });
    const double i1 = seconds_of([&] { infer(first); }), i2 = seconds_of([&] { infer(second); });
    const double tu = r % 2 ? t1 : t2, tf = r % 2 ? t2 : t1, iu = r % 2 ? i1 : i2, inf = r % 2 ? i2 : i1;
    train_ratio.push_back(tu / tf);
    infer_ratio.push_back(iu / inf);
    std::printf("round %lld: train unfused %.1f ms fused %.1f ms ratio %.3f | infer unfused %.1f ms fused %.1f ms ratio %.3f\n",
                static_cast<long long>(r), tu * 1e3, tf * 1e3, tu / tf, iu * 1e3, inf * 1e3, iu / inf);
  }
  std::printf("%s B=%lld: median unfused/fused, training step %.3f, inference %.3f (%lld rounds)\n", argv[1],
              static_cast<long long>(B), median(train_ratio), median(infer_ratio), static_cast<long long>(rounds));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_fused_attention: %s\n", e.what());
    return 1;
  }
}
