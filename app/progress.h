// A progress line for long work: on a terminal, one line redrawn in place
// (bar, step, the caller's text, rate and time left); elsewhere (a log file,
// CI) a plain line every `every` updates, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hc {

class Progress {
 public:
  Progress(std::string label, int64_t total, int64_t every_when_not_a_terminal = 50);
  // done: units finished so far (out of total); items: work since the start
  // for the rate (tokens), text: anything else to show.
  void update(int64_t done, double items, const std::string& text);
  void finish();  // end the redrawn line
  double items_per_second() const;

 private:
  std::string label_;
  int64_t total_, every_, start_done_ = -1;
  double start_items_ = 0, last_items_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace hc
