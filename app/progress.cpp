#include "app/progress.h"

#include <unistd.h>

#include <cstdio>

namespace hc {

namespace {
std::string duration(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, int64_t total, int64_t every)
    : label_(std::move(label)), total_(total), every_(every), tty_(::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

double Progress::items_per_second() const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? (last_items_ - start_items_) / s : 0.0;
}

void Progress::update(int64_t done, double items, const std::string& text) {
  if (start_done_ < 0) {  // the clock starts at the first update
    start_done_ = done;
    start_items_ = items;
    start_ = std::chrono::steady_clock::now();
  }
  last_items_ = items;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double per_unit = done > start_done_ ? s / static_cast<double>(done - start_done_) : 0.0;
  const std::string eta = per_unit > 0 ? duration(per_unit * static_cast<double>(total_ - done)) : "?";
  char rate[48];
  std::snprintf(rate, sizeof rate, "%.0f tok/s", items_per_second());
  if (tty_) {
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s %s ETA %s\033[K", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), text.c_str(), rate, eta.c_str());
    std::fflush(stderr);
  } else if (done == total_ || done % every_ == 0) {
    std::fprintf(stderr, "%s %lld/%lld %s %s ETA %s\n", label_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), text.c_str(), rate, eta.c_str());
  }
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace hc
