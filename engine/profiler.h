// Op profiler: when switched on, every op records its name, input shapes,
// analytic FLOPs and bytes, and wall time; the records become a per-op table
// or a Chrome trace (chrome://tracing, https://ui.perfetto.dev).
//
// When off, an op pays one predictable branch on a global flag: the cost
// description is a lambda that is never called, so no strings are built.
//
// On a GPU, host time around an op measures its launch, not its work (the
// work runs later, asynchronously); there a backend installs a DeviceClock
// and the op times come from marks placed in the device's work queue.
//
// When on, in a build with CUDA, every op and every region is also an NVTX
// range (the op's name; the region's path, "layer2/content"), so Nsight
// Systems and Nsight Compute show the model's structure on the GPU timeline:
//   nsys profile headcount profile --device cuda --config C --out DIR
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hc::profiler {

struct Cost {
  std::string shapes;  // e.g. "x(4,16,32) w(64,32)"
  double flops = 0;    // floating point operations (a multiply-add counts 2)
  double bytes = 0;    // bytes read + written, assuming nothing is cached
};

struct Event {
  std::string name;    // "linear", "linear.backward", ...
  std::string region;  // where in the model: "layer2/content", "" outside any region
  Cost cost;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int64_t start_mark = -1, end_mark = -1;  // DeviceClock marks not yet read back
};

// A clock that runs in the device's own work queue (CUDA: events recorded on
// the stream). mark() queues a mark and returns its number, 0, 1, 2, ...;
// read() waits until the device has passed every mark and returns the
// nanoseconds from mark 0 to each, then numbers from 0 again.
class DeviceClock {
 public:
  virtual ~DeviceClock() = default;
  virtual int64_t mark() = 0;
  virtual std::vector<int64_t> read() = 0;
};
extern DeviceClock* g_device_clock;
// Times ops with `clock` from now on (nullptr: host wall time again). A
// Backend gives its clock with device_clock(); the CPU has none.
void use_device_clock(std::unique_ptr<DeviceClock> clock);

extern bool g_enabled;
extern std::string g_region;  // the current region path (ops are issued from one thread)
inline bool enabled() { return g_enabled; }
void enable(bool on);
void clear();
// The records so far; with a DeviceClock, waits for the device and puts its
// times in start_ns and end_ns (aligned to the host clock at the first mark).
const std::vector<Event>& events();
int64_t now_ns();
void record(Event event);
// An NVTX range around what follows, until the matching pop (no-ops in a
// build without CUDA, and cheap with no Nsight tool attached).
void nvtx_push(const std::string& name);
void nvtx_pop();

// Records one op from construction to destruction.
class Scope {
 public:
  template <typename Describe>
  Scope(const char* name, Describe&& describe) {
    if (!g_enabled) return;
    active_ = true;
    event_.name = name;
    event_.cost = describe();
    event_.region = g_region;
    nvtx_push(event_.name);
    event_.start_ns = now_ns();
    if (g_device_clock) event_.start_mark = g_device_clock->mark();
  }
  ~Scope() {
    if (!active_) return;
    if (g_device_clock) event_.end_mark = g_device_clock->mark();
    event_.end_ns = now_ns();
    nvtx_pop();
    record(std::move(event_));
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool active_ = false;
  Event event_;
};

// Regions name the part of the model an op belongs to, as a path of names
// joined by '/' ("layer2/content"); each recorded event keeps the path that
// was current when it started. A Region adds one name for its lifetime;
// next() swaps that name for the following part, so a function can mark its
// parts in sequence without nesting scopes:
//   profiler::Region part("qkv");  ...  part.next("content");  ...
// The name is a string or a lambda returning one (built only when the
// profiler is on). Off, a region costs one branch.
class Region {
 public:
  template <typename Name>
  explicit Region(Name&& name) {
    if (!g_enabled) return;
    active_ = true;
    saved_ = g_region.size();
    push(std::forward<Name>(name));
  }
  template <typename Name>
  void next(Name&& name) {
    if (!active_) return;
    nvtx_pop();
    g_region.resize(saved_);
    push(std::forward<Name>(name));
  }
  ~Region() {
    if (!active_) return;
    nvtx_pop();
    g_region.resize(saved_);
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  template <typename Name>
  void push(Name&& name) {
    if (!g_region.empty()) g_region += '/';
    if constexpr (std::is_invocable_v<Name>) g_region += name();
    else g_region += name;
    nvtx_push(g_region);
  }
  bool active_ = false;
  size_t saved_ = 0;
};

// Sets the whole region path for its lifetime: backward() runs each autograd
// node inside the path its forward op was created in, so a backward op is
// attributed to the part it differentiates.
class AtRegion {
 public:
  explicit AtRegion(const std::string& path) {
    if (!g_enabled) return;
    active_ = true;
    saved_ = g_region;
    g_region = path;
    nvtx_push(path);
  }
  ~AtRegion() {
    if (!active_) return;
    nvtx_pop();
    g_region = saved_;
  }
  AtRegion(const AtRegion&) = delete;
  AtRegion& operator=(const AtRegion&) = delete;

 private:
  bool active_ = false;
  std::string saved_;
};

// One op name's totals over a recording (OpTotal) or, from several
// recordings, those of the one where the op took least time.
struct OpTotal {
  std::string name;
  int64_t calls = 0;
  double ns = 0, flops = 0, bytes = 0;
};
// Per op name, its fastest run's totals (see table below); widest first.
std::vector<OpTotal> totals(const std::vector<std::vector<Event>>& runs);

// Aggregate by op name: calls, total ms, GFLOP/s, GB/s; widest first.
std::string table();
// The same over several recordings of one piece of work (say, training
// steps), each op at its fastest: per op name, the smallest total over the
// runs. On a machine whose speed wanders, the per-op minimum of a few runs
// says what an op costs better than any one run does.
std::string table(const std::vector<std::vector<Event>>& runs);
// Chrome trace event format: one complete ("X") event per record.
void write_chrome_trace(const std::string& path);

}  // namespace hc::profiler
