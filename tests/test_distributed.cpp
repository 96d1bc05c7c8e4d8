// Data-parallel training (app/data_parallel.h) against one process: the
// same tokens, the same dropout masks, the same gradients, up to the order
// of floating-point sums.
#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "app/checkpoint.h"
#include "engine/backend.h"
#include "engine/safetensors.h"
#include "test_util.h"

using namespace hc;

namespace {

// Why the MPI cases cannot run here, or "" when they can.
std::string mpi_missing() {
#ifndef HEADCOUNT_HAVE_MPI
  return "this build has no MPI (the sanitizer build, or libopenmpi-dev missing)";
#else
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) return "mpirun is not on PATH (apt-get install openmpi-bin)";
  return "";
#endif
}

// `mpirun -np R headcount ARGS`: every rank one thread, not pinned to a core
// (two ranks on this 2-core machine), allowed to run as root (CI does).
std::string mpirun(int ranks) {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  return "mpirun -np " + std::to_string(ranks) + " --oversubscribe --bind-to none " HEADCOUNT_BINARY " ";
}

int run_shell(const std::string& cmd, std::string& output) { return test::run_command(cmd + " 2>&1", output); }

// The tiny config with its dropouts on (the defaults), batch 4: 2 streams per rank.
std::string tiny(const std::string& corpus, const std::string& out, int steps) {
  return test::tiny_training(corpus, out, steps) + " --threads 1";
}

// max |a - b| / max |a| over a tensor: the error relative to the tensor's scale.
double relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(x[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Every tensor of two safetensors files within `tolerance` (relative to each tensor's scale).
void check_same_tensors(const std::string& a, const std::string& b, double tolerance, const std::string& what) {
  const auto x = safetensors::load(a).tensors, y = safetensors::load(b).tensors;
  REQUIRE(x.size() == y.size());
  double worst = 0;
  std::string worst_name;
  for (const auto& entry : x) {
    const std::string& name = entry.first;  // a named reference: clang 14 cannot capture a structured binding
    REQUIRE_MESSAGE(y.count(name), name);
    const double e = relative_error(entry.second, y.at(name));
    if (e > worst) worst = e, worst_name = name;
  }
  MESSAGE(what << ": largest relative difference " << worst << " (" << worst_name << ")");
  CHECK(worst <= tolerance);
}

// Per-step losses (and kept heads, for a pruning run) of two runs agree.
void check_same_steps(const std::string& a, const std::string& b, int first_step, int last_step) {
  const auto x = test::read_metrics(a), y = test::read_metrics(b);
  double worst = 0;
  int compared = 0;
  for (const auto& mx : x)
    for (const auto& my : y) {
      const int step = mx["step"].get<int>();
      if (my["step"].get<int>() != step || step < first_step || step > last_step) continue;
      ++compared;
      const double lx = mx["loss"].get<double>(), ly = my["loss"].get<double>();
      worst = std::max(worst, std::fabs(lx - ly) / std::fabs(lx));
      if (mx.contains("kept_heads")) CHECK(mx["kept_heads"] == my["kept_heads"]);
      if (mx.contains("sparsity")) CHECK(mx["sparsity"] == my["sparsity"]);  // the shared gate noise
    }
  MESSAGE("steps " << first_step << ".." << last_step << ": largest relative loss difference " << worst);
  CHECK(compared == last_step - first_step + 1);
  CHECK(worst <= 1e-5);
}

}  // namespace

TEST_CASE("data parallel: 2 ranks x 1 thread train like 1 process (gradients, 20 losses, weights, gates)") {
  if (const std::string why = mpi_missing(); !why.empty()) {
    test::skip("data parallel, 2 ranks against 1 process", why);
    return;
  }
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir), one = dir.file("one"), two = dir.file("two");
  std::string log;
  REQUIRE_MESSAGE(test::run_headcount("train " + tiny(corpus, one, 20) + " --dump-gradients " + dir.file("g1"), log) == 0, log);
  REQUIRE_MESSAGE(run_shell(mpirun(2) + "train " + tiny(corpus, two, 20) + " --dump-gradients " + dir.file("g2"), log) == 0, log);
  // Rank 0 alone printed: one "done" line, not two.
  CHECK(log.find("done:") == log.rfind("done:"));
  check_same_tensors(dir.file("g1"), dir.file("g2"), 1e-5, "first-step gradients");
  check_same_steps(one + "/metrics.jsonl", two + "/metrics.jsonl", 1, 20);
  // Adam divides by sqrt(v): over 20 steps it turns 1e-7 differences in the
  // tiniest gradient entries into larger weight differences than the
  // losses show; 1e-4 of each tensor's scale is the bound.
  check_same_tensors(one + "/last.safetensors", two + "/last.safetensors", 1e-4, "weights after 20 steps");
  const auto metrics = test::read_metrics(two + "/metrics.jsonl");
  CHECK(metrics.back().contains("allreduce_ms"));

  SUBCASE("pruning: the open-head counts agree at every step") {
    const std::string prune = " --from " + one + "/last.safetensors --config " HEADCOUNT_SOURCE_DIR
                              "/configs/moby-char-tiny.json --set corpus=" + corpus +
                              " --set steps=12 --set eval_every=4 --set checkpoint_every=4 --set eval_segments=2"
                              // gates near 0 and a strong penalty: heads close within the 12 steps
                              " --set l0_coefficient=0.5 --set l0_warmup=4 --set gate_init=0.05 --threads 1 --set out_dir=";
    REQUIRE_MESSAGE(test::run_headcount("prune" + prune + dir.file("p1"), log) == 0, log);
    REQUIRE_MESSAGE(run_shell(mpirun(2) + "prune" + prune + dir.file("p2"), log) == 0, log);
    check_same_steps(dir.file("p1") + "/metrics.jsonl", dir.file("p2") + "/metrics.jsonl", 1, 12);
    std::set<int> counts;  // the comparison means something only if heads did close
    for (const auto& m : test::read_metrics(dir.file("p1") + "/metrics.jsonl")) counts.insert(m["kept_heads"].get<int>());
    CHECK(counts.size() >= 2);
  }
}

TEST_CASE("data parallel: a checkpoint of 2 ranks resumes on 1, and the reverse, continuing the same losses") {
  if (const std::string why = mpi_missing(); !why.empty()) {
    test::skip("data parallel, resume across rank counts", why);
    return;
  }
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir), whole = dir.file("whole");
  std::string log;
  REQUIRE_MESSAGE(test::run_headcount("train " + tiny(corpus, whole, 20), log) == 0, log);
  for (const bool two_first : {true, false}) {
    CAPTURE(two_first);
    const std::string out = dir.file(two_first ? "two-then-one" : "one-then-two");
    const std::string first = two_first ? mpirun(2) : std::string(HEADCOUNT_BINARY " ");
    const std::string second = two_first ? std::string(HEADCOUNT_BINARY " ") : mpirun(2);
    CHECK(run_shell(first + "train " + tiny(corpus, out, 20) + " --stop-at 10", log) == 130);
    REQUIRE_MESSAGE(run_shell(second + "train " + tiny(corpus, out, 20) + " --resume", log) == 0, log);
    check_same_steps(whole + "/metrics.jsonl", out + "/metrics.jsonl", 11, 20);
  }
}

TEST_CASE("data parallel: bad batch, a killed rank, a failing rank: the job ends at once, saying which") {
  if (const std::string why = mpi_missing(); !why.empty()) {
    test::skip("data parallel, killed and failing ranks", why);
    return;
  }
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir), out = dir.file("run");
  std::string log;
  CHECK(run_shell(mpirun(2) + "train " + tiny(corpus, out, 20) + " --set batch=3", log) != 0);
  CHECK_MESSAGE(log.find("batch 3 does not split over 2 ranks") != std::string::npos, log);

  // kill -9 one rank of a long run: mpirun ends the job, non-zero, within seconds.
  const std::string cmd = mpirun(2) + "train " + tiny(corpus, out, 100000) + " >" + dir.file("log") + " 2>&1";
  pid_t job = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  REQUIRE(::posix_spawn(&job, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) == 0);
  // Wait for a checkpoint, then find rank 1 among mpirun's children.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!std::filesystem::exists(out + "/step-8.safetensors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(std::filesystem::exists(out + "/step-8.safetensors"));
  pid_t rank1 = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream env(entry.path() / "environ");
    std::string vars((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find(out) != std::string::npos && vars.find(std::string("OMPI_COMM_WORLD_RANK=1") + '\0') != std::string::npos)
      rank1 = static_cast<pid_t>(std::stol(entry.path().filename().string()));
  }
  REQUIRE(rank1 > 0);
  const auto killed = std::chrono::steady_clock::now();
  ::kill(rank1, SIGKILL);
  int status = 0;
  for (;;) {  // wait at most 30 s, then fail (and clean up) rather than hang
    if (::waitpid(job, &status, WNOHANG) == job) break;
    if (std::chrono::steady_clock::now() - killed > std::chrono::seconds(30)) {
      ::kill(job, SIGKILL);
      ::waitpid(job, &status, 0);
      FAIL("the job still ran 30 s after rank 1 was killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  MESSAGE("the job ended " << seconds << " s after rank 1 was killed");
  CHECK(seconds < 10);
  CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
  std::ifstream in(dir.file("log"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_MESSAGE(text.find("rank 1") != std::string::npos, text);  // mpirun names the rank that died
  // The newest checkpoint on disk loads.
  std::string newest;
  CHECK_NOTHROW(load_newest_checkpoint(out, newest));

  // A rank that throws (rank 0 cannot write its step-4 checkpoint: a
  // directory stands where it goes) takes the job down with its message.
  const std::string blocked = dir.file("blocked");
  std::filesystem::create_directories(blocked + "/step-4.safetensors");
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = run_shell(mpirun(2) + "train " + tiny(corpus, blocked, 20), log);
  CHECK(rc != 0);
  CHECK_MESSAGE(log.find("rank 0 of 2") != std::string::npos, log);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60));
}

TEST_CASE("data parallel on GPUs: NCCL with 1 rank equals the plain GPU run; 2 GPUs equal 1") {
  if (const std::string why = mpi_missing(); !why.empty()) {
    test::skip("data parallel on GPUs (NCCL)", why);
    return;
  }
#ifndef HEADCOUNT_HAVE_NCCL
  test::skip("data parallel on GPUs (NCCL)", "this build has no NCCL (no CUDA backend, or nccl.h not beside the toolkit)");
  return;
#endif
  if (!cuda_available()) {
    test::skip("data parallel on GPUs (NCCL)", "no CUDA GPU visible");
    return;
  }
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  const std::string args = " --device cuda --set steps=10 --set eval_every=5 --set checkpoint_every=5 --set eval_segments=2"
                           " --config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json --set corpus=" + corpus;
  std::string log;
  REQUIRE_MESSAGE(test::run_headcount("train" + args + " --set out_dir=" + dir.file("plain"), log) == 0, log);
  // One rank under mpirun: the gradients go through ncclAllReduce (a copy
  // for one rank, scaled by 1), so the run is the plain one bit for bit.
  REQUIRE_MESSAGE(run_shell(mpirun(1) + "train" + args + " --set out_dir=" + dir.file("nccl1"), log) == 0, log);
  const auto plain = test::read_metrics(dir.file("plain") + "/metrics.jsonl"),
             nccl1 = test::read_metrics(dir.file("nccl1") + "/metrics.jsonl");
  REQUIRE(plain.size() == nccl1.size());
  for (size_t i = 0; i < plain.size(); ++i) CHECK(plain[i]["loss"] == nccl1[i]["loss"]);

  // NCCL refuses two ranks on one GPU: the two-rank comparison needs two.
  std::string gpus;
  run_shell("nvidia-smi -L 2>/dev/null | grep -c '^GPU'", gpus);
  if (std::atoi(gpus.c_str()) < 2) {
    test::skip("NCCL with 2 ranks on 2 GPUs against 1", "fewer than 2 GPUs visible");
    return;
  }
  REQUIRE_MESSAGE(run_shell(mpirun(2) + "train" + args + " --set out_dir=" + dir.file("nccl2"), log) == 0, log);
  check_same_steps(dir.file("plain") + "/metrics.jsonl", dir.file("nccl2") + "/metrics.jsonl", 1, 10);
}
