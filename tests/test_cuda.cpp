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
    std::printf("SKIPPED cuda backend tests: no CUDA GPU visible%s\n",
#ifdef HEADCOUNT_HAVE_CUDA
                " (the CUDA backend was compiled)"
#else
                " (and this build has no CUDA backend: nvcc not found)"
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
    AllAttConfig c;
    c.vocab = 29;
    c.layers = 2;
    c.d_model = 32;
    c.heads = 4;
    c.d_head = 8;
    c.persist = 16;
    c.seg_len = 12;
    c.mem_len = 8;
    c.max_len = 32;
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
