// CUDA backend tests. They run only when a GPU is visible; otherwise the whole
// suite prints one SKIPPED line. On a machine with nvcc but no GPU (this
// project's CI) the CUDA code is still compiled, so it cannot rot unseen.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "autograd/optim.h"
#include "engine/profiler.h"
#include "models/allatt_lm.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;
using namespace hc::test;

TEST_CASE("cuda backend") {
  if (!cuda_available()) {
    skip("CUDA backend (every CUDA case)",
#ifdef HEADCOUNT_HAVE_CUDA
         "no CUDA GPU visible (the CUDA backend was compiled)"
#else
         "no CUDA GPU visible, and this build has no CUDA backend (nvcc not found)"
#endif
    );
    return;
  }

  SUBCASE("copies round-trip and fill") {
    Tensor host = random_tensor({3, 5}, DType::F32, 5);
    Tensor dev = host.to(Device::CUDA);
    CHECK(dev.device() == Device::CUDA);
    CHECK(dev.to_vector() == host.to_vector());
    dev.fill_(2.5);
    for (double v : dev.to_vector()) CHECK(v == 2.5);
  }

  SUBCASE("gemm: cuBLAS against the CPU, all transposes, batched") {
    const int64_t G = 3, M = 37, N = 29, K = 41;
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      CAPTURE(ta);
      CAPTURE(tb);
      Tensor a = random_tensor(ta ? Shape{G, K, M} : Shape{G, M, K}, DType::F32, 1);
      Tensor b = random_tensor(tb ? Shape{G, N, K} : Shape{G, K, N}, DType::F32, 2);
      Tensor c = random_tensor({G, M, N}, DType::F32, 3);
      auto run = [&](Device d) {
        Tensor ad = a.to(d), bd = b.to(d), cd = c.to(d);
        backend(d).gemm(ta, tb, M, N, K, 0.5, {ad, 0, ta ? M : K, M * K},
                        {bd, 0, tb ? K : N, K * N}, 2.0, {cd, 0, N, M * N}, G);
        return cd.to_vector();
      };
      // fp32 sums of 41 products in a different order: a few ulps.
      CHECK(max_rel_diff(run(Device::CUDA), run(Device::CPU)) <= 1e-5);
    }
  }

  SUBCASE("op harness backend mode: every op, forward and backward, CUDA against CPU") {
    for (const OpCase& c : op_cases()) {
      CAPTURE(c.name);
      auto run_on = [&](Device d) {
        std::vector<Variable> xs = make_inputs(c, DType::F32, d, true);
        Variable y = c.run(xs);
        Tensor seed = random_tensor(y.shape(), DType::F32, 77).to(d);
        std::vector<std::vector<double>> out{y.value().to_vector()};
        y.backward(seed);
        for (const Variable& x : xs) out.push_back(x.grad().to_vector());
        return out;
      };
      const auto cpu = run_on(Device::CPU), gpu = run_on(Device::CUDA);
      for (size_t k = 0; k < cpu.size(); ++k) {
        CAPTURE(k);
        CHECK(max_rel_diff(gpu[k], cpu[k]) <= 1e-5);
      }
    }
  }

  SUBCASE("model: one step's loss and gradients, then 20 Adam steps, CUDA against CPU") {
    AllAttConfig c = test::tiny_model({.vocab = 29, .d_model = 32, .heads = 4, .d_head = 8, .persist = 16, .seg_len = 12,
                                       .mem_len = 8, .max_len = 32, .dropout = true});
    c.dropout_attn = 0.1;  // dropout on: the masks must be the same numbers on both devices
    const int64_t B = 3;
    std::vector<int64_t> ids(B * c.seg_len), next(B * c.seg_len);
    for (size_t i = 0; i < ids.size(); ++i) {
      ids[i] = (i * 7 + 3) % c.vocab;
      next[i] = (i * 11 + 5) % c.vocab;
    }
    const Tensor x = Tensor::from_ids({B, c.seg_len}, ids), y = Tensor::from_ids({B, c.seg_len}, next);
    auto run = [&](Device d) {
      AllAttLM model(c, 3, DType::F32, d);  // initialised on the host from the same seed
      Optimizer opt({ParamGroup{model.parameters(), 1.0, 0.0}}, OptimizerConfig{});
      Memory mem = model.initial_memory(B);
      RngStream rng{9, 0};
      std::vector<double> losses;
      std::vector<std::vector<double>> first_grads;
      for (int step = 0; step < 20; ++step) {
        Variable loss = model.loss(x, y, mem, true, rng);
        losses.push_back(loss.value().item());
        loss.backward();
        if (step == 0)
          for (const Variable& p : model.parameters()) first_grads.push_back(p.grad().to_vector());
        opt.step(1e-3);
        opt.zero_grad();
      }
      return std::pair{losses, first_grads};
    };
    const auto [cpu_losses, cpu_grads] = run(Device::CPU);
    const auto [gpu_losses, gpu_grads] = run(Device::CUDA);
    CHECK(gpu_losses[0] == doctest::Approx(cpu_losses[0]).epsilon(1e-5));
    for (size_t k = 0; k < cpu_grads.size(); ++k) {
      CAPTURE(k);
      CHECK(max_rel_diff(gpu_grads[k], cpu_grads[k]) <= 1e-4);
    }
    // fp32 rounding in different orders, compounded by 20 Adam steps.
    for (size_t s = 0; s < cpu_losses.size(); ++s) CHECK(gpu_losses[s] == doctest::Approx(cpu_losses[s]).epsilon(1e-3));
  }

  SUBCASE("training on the GPU resumes bit for bit") {
    test::TempDir dir;
    const std::string corpus = test::write_tiny_corpus(dir);
    auto args = [&](const std::string& out) {
      return "train --device cuda " + test::tiny_training(corpus, out, 10);
    };
    std::string out;
    REQUIRE(test::run_headcount(args(dir.file("a")), out) == 0);
    CHECK(test::run_headcount(args(dir.file("b")) + " --stop-at 4", out) == 130);
    REQUIRE(test::run_headcount(args(dir.file("b")) + " --resume", out) == 0);
    auto losses = [&](const std::string& path) {
      std::vector<double> l;
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) l.push_back(nlohmann::json::parse(line)["loss"].get<double>());
      return l;
    };
    CHECK(losses(dir.file("a/metrics.jsonl")) == losses(dir.file("b/metrics.jsonl")));
  }

  SUBCASE("profiler: CUDA events time the work, not its launch") {
    // Ten 4096^3 products (137 GFLOP each), back to back: the device is busy
    // for nearly all of the wall time, and the event times must say so. Host
    // time around each asynchronous launch would be microseconds.
    Variable x(random_tensor({4096, 4096}, DType::F32, 7).to(Device::CUDA), false, "x");
    Variable w(random_tensor({4096, 4096}, DType::F32, 8).to(Device::CUDA), false, "w");
    linear(x, w, Variable());  // warm-up: cuBLAS workspace, cached blocks
    backend(Device::CUDA).synchronize();
    profiler::use_device_clock(backend(Device::CUDA).device_clock());
    profiler::clear();
    profiler::enable(true);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) linear(x, w, Variable());
    backend(Device::CUDA).synchronize();
    const double wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    profiler::enable(false);
    double device_ns = 0;
    const std::vector<profiler::Event> ev = profiler::events();
    CHECK(ev.size() == 10);
    for (const profiler::Event& e : ev) {
      CHECK(e.end_ns >= e.start_ns);
      device_ns += double(e.end_ns - e.start_ns);
    }
    profiler::use_device_clock(nullptr);
    profiler::clear();
    CAPTURE(wall_ns);
    CHECK(device_ns <= wall_ns * 1.01);
    CHECK(device_ns >= 0.5 * wall_ns);
  }

  SUBCASE("long sums in two stages: squared norms, bias columns, layernorm's dw and db, against the CPU") {
    // Sizes past one chunk, so the partial sums and their totals both run:
    // a norm over a million numbers, column sums over 1037 rows.
    Backend& cpu = backend(Device::CPU);
    Backend& gpu = backend(Device::CUDA);
    auto both = [&](auto&& run) {  // run(backend, device) -> outputs
      return max_rel_diff(run(gpu, Device::CUDA), run(cpu, Device::CPU));
    };
    const int64_t n = 1000003, R = 1037, C = 300;
    const Tensor flat = random_tensor({n}, DType::F32, 41);
    const Tensor rows = random_tensor({R, C}, DType::F32, 42);
    for (bool acc : {false, true}) {
      CAPTURE(acc);
      CHECK(both([&](Backend& be, Device d) {
              Tensor norm = Tensor::full({1}, 3.0, DType::F32, d), sums = random_tensor({C}, DType::F32, 43).to(d);
              be.reduce(Reduce::SumSquares, flat.to(d), norm, Broadcast{n, 1}, acc);
              be.reduce(Reduce::Sum, rows.to(d), sums, Broadcast{R, 1}, acc);
              std::vector<double> out = norm.to_vector(), s = sums.to_vector();
              out.insert(out.end(), s.begin(), s.end());
              return out;
            }) <= 1e-6);
    }
    CHECK(both([&](Backend& be, Device d) {
            const Tensor x = rows.to(d), w = random_tensor({C}, DType::F32, 44).to(d),
                         b = random_tensor({C}, DType::F32, 45).to(d), dy = random_tensor({R, C}, DType::F32, 46).to(d);
            Tensor y = Tensor::empty({R, C}, DType::F32, d), mean = Tensor::empty({R}, DType::F32, d),
                   rstd = Tensor::empty({R}, DType::F32, d);
            Tensor dx = random_tensor({R, C}, DType::F32, 47).to(d), dw = random_tensor({C}, DType::F32, 48).to(d),
                   db = random_tensor({C}, DType::F32, 49).to(d);
            be.layernorm_forward(x, w, b, 1e-5, y, mean, rstd);
            be.layernorm_backward(x, w, mean, rstd, dy, dx, dw, db);
            std::vector<double> out = dx.to_vector();
            for (const Tensor& t : {dw, db})
              for (double v : t.to_vector()) out.push_back(v);
            return out;
          }) <= 1e-5);
  }

  SUBCASE("dropout drawn again from the key: equal to the float-mask default and to the CPU") {
    // CUDA keeps no mask; its forward, backward and softmax-through-dropout
    // backward draw the multipliers again, a Philox block per four elements
    // where the four share one, else one by one. Keys: flat with a partial
    // last four (1001), per-stream rows of 150 (not a multiple of 4: one by
    // one) and of 64.
    Backend& gpu = backend(Device::CUDA);
    Backend& cpu = backend(Device::CPU);
    struct Draw {
      RandomKey key;
      int64_t n;
    };
    for (const Draw& draw : {Draw{RandomKey{3, 11}, 1001}, Draw{RandomKey{99, 17, 3, 150, 4}, 2 * 3 * 150},
                             Draw{RandomKey{5, 2, 2, 64, 1}, 2 * 2 * 64}}) {
      CAPTURE(draw.key.streams);
      const int64_t n = draw.n;
      const Tensor x = random_tensor({n}, DType::F32, 51), dy = random_tensor({n}, DType::F32, 52),
                   dx0 = random_tensor({n}, DType::F32, 53);
      auto run = [&](Backend& be, bool as_default) {
        const Device d = be.device();
        Tensor y = Tensor::empty({n}, DType::F32, d), dx = dx0.to(d), dx_acc = dx0.to(d);
        const Tensor xd = x.to(d), dyd = dy.to(d);
        const Tensor kept = as_default ? be.Backend::dropout_forward(xd, y, 0.3, draw.key)
                                       : be.dropout_forward(xd, y, 0.3, draw.key);
        if (as_default) {
          be.Backend::dropout_backward(dyd, kept, 0.3, draw.key, dx, false);
          be.Backend::dropout_backward(dyd, kept, 0.3, draw.key, dx_acc, true);
        } else {
          be.dropout_backward(dyd, kept, 0.3, draw.key, dx, false);
          be.dropout_backward(dyd, kept, 0.3, draw.key, dx_acc, true);
        }
        return std::vector<std::vector<double>>{y.to_vector(), dx.to_vector(), dx_acc.to_vector()};
      };
      // Writing, each side forms the same product x * m: equal bit for bit.
      // Accumulating, dx + dy * m may be one fused multiply-add on one side
      // and two roundings on the other: equal within a rounding.
      const auto fast = run(gpu, false);
      for (const auto& other : {run(gpu, true), run(cpu, false)}) {
        CHECK(fast[0] == other[0]);
        CHECK(fast[1] == other[1]);
        CHECK(max_rel_diff(fast[2], other[2]) <= 1e-6);
      }
    }
    // Through the softmax: (G, T, W) probabilities, the model's key (stream
    // rows of T whole softmax rows), a flat key, stream rows that end inside
    // softmax rows (256 of W=80), and a flat key over rows of W=81, whose
    // fours straddle rows.
    struct Rows {
      RandomKey key;
      int64_t W;
    };
    const int64_t G = 8, T = 16;
    for (const Rows& rows : {Rows{RandomKey{2024, 3, 2, T * 80, 3}, 80}, Rows{RandomKey{7, 1}, 80},
                             Rows{RandomKey{9, 4, 2, 256, 0}, 80}, Rows{RandomKey{13, 5}, 81}}) {
      CAPTURE(rows.key.streams);
      CAPTURE(rows.W);
      const Shape shape{G, T, rows.W};
      const BandMask mask{T, 48, 0, 32};
      const Tensor x = random_tensor(shape, DType::F32, 61), dout = random_tensor(shape, DType::F32, 62),
                   dx0 = random_tensor(shape, DType::F32, 63);
      auto run = [&](Backend& be, bool as_default) {
        const Device d = be.device();
        Tensor y = Tensor::empty(shape, DType::F32, d), out = Tensor::empty(shape, DType::F32, d);
        Tensor dx = dx0.to(d), dx_acc = dx0.to(d);
        const Tensor doutd = dout.to(d);
        be.softmax_forward(x.to(d), y, mask);
        const Tensor kept = as_default ? be.Backend::dropout_forward(y, out, 0.2, rows.key)
                                       : be.dropout_forward(y, out, 0.2, rows.key);
        if (as_default) {
          be.Backend::softmax_dropout_backward(y, doutd, kept, 0.2, rows.key, dx, false);
          be.Backend::softmax_dropout_backward(y, doutd, kept, 0.2, rows.key, dx_acc, true);
        } else {
          be.softmax_dropout_backward(y, doutd, kept, 0.2, rows.key, dx, false);
          be.softmax_dropout_backward(y, doutd, kept, 0.2, rows.key, dx_acc, true);
        }
        std::vector<double> all = out.to_vector();
        for (const Tensor& t : {dx, dx_acc})
          for (double v : t.to_vector()) all.push_back(v);
        return all;
      };
      // The row sums run in another order than the default's: a rounding.
      const std::vector<double> fast = run(gpu, false);
      CHECK(max_rel_diff(fast, run(gpu, true)) <= 1e-6);
      CHECK(max_rel_diff(fast, run(cpu, false)) <= 1e-5);
    }
  }

  SUBCASE("LAMB and gradient clipping: norms kept on the GPU, same steps as the CPU") {
    // Three parameters, five steps of clip + LAMB with weight decay, from the
    // same weights and gradients on both devices.
    auto run = [](Device d) {
      const std::vector<Shape> shapes{{37, 5}, {129}, {3, 3}};
      std::vector<Variable> params;
      for (size_t k = 0; k < shapes.size(); ++k)
        params.emplace_back(random_tensor(shapes[k], DType::F32, 30 + k).to(d), true, "w" + std::to_string(k));
      OptimizerConfig cfg;
      cfg.kind = "lamb";
      Optimizer opt({ParamGroup{params, 1.0, 0.01}}, cfg);
      std::vector<double> norms, out;
      for (int step = 0; step < 5; ++step) {
        for (size_t k = 0; k < params.size(); ++k)
          params[k].grad_buffer().copy_from(random_tensor(shapes[k], DType::F32, 100 * step + k).to(d));
        norms.push_back(clip_grad_norm(params, 1.0));
        opt.step(1e-2);
        opt.zero_grad();
      }
      for (const Variable& p : params)
        for (double v : p.value().to_vector()) out.push_back(v);
      out.insert(out.end(), norms.begin(), norms.end());
      return out;
    };
    CHECK(max_rel_diff(run(Device::CUDA), run(Device::CPU)) <= 1e-5);
  }
}
