// Helpers shared by tests: temporary directories, running the Python
// references with Debian's PyTorch.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <string>
#include <vector>

#include "models/allatt_lm.h"

namespace hc::test {

// A fresh empty directory under /tmp, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// True if `/usr/bin/python3 -c "import <module>"` works (checked once per module).
bool python_has(const std::string& module);
// Run /usr/bin/python3 with the script at tests/reference/<script> and the
// arguments; returns its exit status and puts stdout (+stderr) in `output`.
int run_python(const std::string& script, const std::string& args, std::string& output);
// Run the headcount binary with `args`; returns its exit status, output in `output`.
int run_headcount(const std::string& args, std::string& output);
// The bytes of a file, or "" if it cannot be opened.
std::string read_text(const std::string& path);
// Run a shell command; returns its exit status (128 + the signal if one
// killed it), its standard output in `output`.
int run_command(const std::string& cmd, std::string& output);

// Start the headcount binary with `args` in the background, its stdout and
// stderr going to `log`; returns its pid (the caller waits for it).
pid_t spawn_headcount(const std::string& args, const std::string& log);

// Runs f with the OpenMP thread count set to `threads`, then restores it.
template <typename F>
void with_threads(int threads, F&& f) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  f();
  omp_set_num_threads(saved);
#else
  (void)threads;
  f();
#endif
}

// True in the sanitizer build (make test-sanitize), where a few long cases
// run smaller and say so.
#ifdef HEADCOUNT_SANITIZE
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// A part of the suite that cannot run here (no GPU, no mpirun, no torch):
// prints "SKIPPED what: why" at once, and the suite's last line counts every
// skip by its reason (tests/main.cpp), so a green run never hides an area
// that was not exercised. The caller returns after it.
void skip(const std::string& what, const std::string& why);
struct Skip {
  std::string what, why;
};
const std::vector<Skip>& skips();

// The tiny All-attention models the tests build by hand: one description,
// each test naming only what it changes, e.g.
//   test::tiny_model({.vocab = 23, .d_model = 16, .heads = 4, .d_head = 5})
// Dropout is off unless asked for (finite differences and parity need a
// deterministic forward pass); on, it takes the config's defaults.
struct TinyModel {
  int64_t vocab = 7, layers = 2, d_model = 6, heads = 2, d_head = 3, persist = 4;
  int64_t seg_len = 3, mem_len = 2, max_len = 12;
  bool dropout = false;
};
AllAttConfig tiny_model(const TinyModel& t = {});

// The lines of a run's metrics.jsonl.
std::vector<nlohmann::json> read_metrics(const std::string& path);

// A corpus of a few kilobytes (train = valid = test) in dir/corpus; returns its path.
std::string write_tiny_corpus(const TempDir& dir);
// Arguments for `headcount train` of configs/moby-char-tiny.json on `corpus`
// into `out` for `steps` steps (evaluation and checkpoints every 4).
std::string tiny_training(const std::string& corpus, const std::string& out, int steps = 12);

}  // namespace hc::test
