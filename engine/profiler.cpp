#include "engine/profiler.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#ifdef HEADCOUNT_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace hc::profiler {

bool g_enabled = false;
std::string g_region;
DeviceClock* g_device_clock = nullptr;

namespace {
std::mutex g_mutex;
std::vector<Event> g_events;
const auto g_epoch = std::chrono::steady_clock::now();
std::unique_ptr<DeviceClock> g_clock_owner;

// Replaces host times by device times for the events that carry marks:
// mark m becomes (host time when mark 0 was placed) + (device time from
// mark 0 to m), so device and host events share one timeline. Holds g_mutex.
void read_device_marks() {
  if (!g_device_clock) return;
  int64_t host_at_mark0 = -1;
  for (const Event& e : g_events)
    if (e.start_mark == 0) host_at_mark0 = e.start_ns;
  const std::vector<int64_t> device_ns = g_device_clock->read();
  auto at = [&](int64_t mark) {
    if (mark < 0 || mark >= static_cast<int64_t>(device_ns.size()) || host_at_mark0 < 0)
      throw std::logic_error("profiler: a device mark was lost (clear() while a step was recording?)");
    return host_at_mark0 + device_ns[static_cast<size_t>(mark)];
  };
  for (Event& e : g_events) {
    if (e.start_mark < 0) continue;
    e.start_ns = at(e.start_mark);
    e.end_ns = at(e.end_mark);
    e.start_mark = e.end_mark = -1;
  }
}
}  // namespace

void use_device_clock(std::unique_ptr<DeviceClock> clock) {
  std::lock_guard<std::mutex> lock(g_mutex);
  read_device_marks();  // the old clock's marks, before it goes
  g_clock_owner = std::move(clock);
  g_device_clock = g_clock_owner.get();
}

void enable(bool on) { g_enabled = on; }

#ifdef HEADCOUNT_HAVE_CUDA
void nvtx_push(const std::string& name) { nvtxRangePushA(name.c_str()); }
void nvtx_pop() { nvtxRangePop(); }
#else
void nvtx_push(const std::string&) {}
void nvtx_pop() {}
#endif

void clear() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_device_clock) g_device_clock->read();  // numbers the next marks from 0
  g_events.clear();
}

const std::vector<Event>& events() {
  std::lock_guard<std::mutex> lock(g_mutex);
  read_device_marks();
  return g_events;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              g_epoch)
      .count();
}

void record(Event event) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_events.push_back(std::move(event));
}

std::string table() {
  return table({events()});  // events() reads device times back
}

std::vector<OpTotal> totals(const std::vector<std::vector<Event>>& runs) {
  std::map<std::string, OpTotal> rows;  // per name, its fastest run's totals
  for (const std::vector<Event>& run : runs) {
    std::map<std::string, OpTotal> here;
    for (const Event& e : run) {
      OpTotal& r = here[e.name];
      r.name = e.name;
      r.calls += 1;
      r.ns += static_cast<double>(e.end_ns - e.start_ns);
      r.flops += e.cost.flops;
      r.bytes += e.cost.bytes;
    }
    for (const auto& [name, r] : here) {
      auto it = rows.find(name);
      if (it == rows.end() || r.ns < it->second.ns) rows[name] = r;
    }
  }
  std::vector<OpTotal> sorted;
  for (const auto& [name, r] : rows) sorted.push_back(r);
  std::sort(sorted.begin(), sorted.end(), [](const OpTotal& a, const OpTotal& b) { return a.ns > b.ns; });
  return sorted;
}

std::string table(const std::vector<std::vector<Event>>& runs) {
  const std::vector<OpTotal> sorted = totals(runs);
  double total_ns = 0;
  for (const OpTotal& r : sorted) total_ns += r.ns;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %7s %10s %7s %10s %9s\n", "op", "calls", "total ms",
                "share", "GFLOP/s", "GB/s");
  out += line;
  for (const OpTotal& r : sorted) {
    const double s = r.ns * 1e-9;
    std::snprintf(line, sizeof line, "%-28s %7lld %10.3f %6.1f%% %10.2f %9.2f\n", r.name.c_str(),
                  static_cast<long long>(r.calls), r.ns * 1e-6,
                  total_ns > 0 ? 100.0 * r.ns / total_ns : 0.0, s > 0 ? r.flops / s * 1e-9 : 0.0,
                  s > 0 ? r.bytes / s * 1e-9 : 0.0);
    out += line;
  }
  return out;
}

void write_chrome_trace(const std::string& path) {
  events();  // device times read back
  nlohmann::json trace = nlohmann::json::array();
  for (const Event& e : g_events) {
    // Chrome's trace format counts in microseconds; "X" is a complete event.
    trace.push_back({{"name", e.region.empty() ? e.name : e.region + " " + e.name},
                     {"cat", "op"},
                     {"ph", "X"},
                     {"ts", static_cast<double>(e.start_ns) * 1e-3},
                     {"dur", static_cast<double>(e.end_ns - e.start_ns) * 1e-3},
                     {"pid", 1},
                     {"tid", 1},
                     {"args", {{"region", e.region}, {"shapes", e.cost.shapes}, {"flops", e.cost.flops},
                               {"bytes", e.cost.bytes}}}});
  }
  std::ofstream f(path);
  if (!f) throw std::runtime_error("profiler: cannot write trace to " + path);
  f << nlohmann::json{{"traceEvents", trace}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  if (!f) throw std::runtime_error("profiler: write failed for " + path);
}

}  // namespace hc::profiler
