// Op profiler: when switched on, every op records its name, input shapes,
// analytic FLOPs and bytes, and wall time; the records become a per-op table
// or a Chrome trace (chrome://tracing, https://ui.perfetto.dev).
//
// When off, an op pays one predictable branch on a global flag: the cost
// description is a lambda that is never called, so no strings are built.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hc::profiler {

struct Cost {
  std::string shapes;  // e.g. "x(4,16,32) w(64,32)"
  double flops = 0;    // floating point operations (a multiply-add counts 2)
  double bytes = 0;    // bytes read + written, assuming nothing is cached
};

struct Event {
  std::string name;    // "linear", "linear.backward", ...
  Cost cost;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

extern bool g_enabled;
inline bool enabled() { return g_enabled; }
void enable(bool on);
void clear();
const std::vector<Event>& events();
int64_t now_ns();
void record(Event event);

// Records one op from construction to destruction.
class Scope {
 public:
  template <typename Describe>
  Scope(const char* name, Describe&& describe) {
    if (!g_enabled) return;
    active_ = true;
    event_.name = name;
    event_.cost = describe();
    event_.start_ns = now_ns();
  }
  ~Scope() {
    if (!active_) return;
    event_.end_ns = now_ns();
    record(std::move(event_));
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool active_ = false;
  Event event_;
};

// Aggregate by op name: calls, total ms, GFLOP/s, GB/s; widest first.
std::string table();
// Chrome trace event format: one complete ("X") event per record.
void write_chrome_trace(const std::string& path);

}  // namespace hc::profiler
