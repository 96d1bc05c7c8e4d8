// The op profiler (engine/profiler.h): records with analytic costs when on,
// nothing when off, a table and a Chrome trace that parses.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "engine/profiler.h"
#include "tests/test_util.h"

using namespace hc;

TEST_CASE("profiler: linear forward and backward recorded with analytic FLOPs; nothing when off") {
  const int64_t R = 6, C = 5, OC = 4;
  Variable x(Tensor::full({R, C}, 0.5), true, "x");
  Variable w(Tensor::full({OC, C}, 0.25), true, "w");
  Variable b(Tensor::zeros({OC}), true, "b");

  profiler::clear();
  linear(x, w, b).backward(Tensor::full({R, OC}, 1.0));
  CHECK(profiler::events().empty());  // off by default

  profiler::enable(true);
  linear(x, w, b).backward(Tensor::full({R, OC}, 1.0));
  profiler::enable(false);
  const auto& ev = profiler::events();
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].name == "linear");
  CHECK(ev[0].cost.flops == 2.0 * R * C * OC);
  CHECK(ev[0].cost.shapes == "x(6,5) w(4,5)");
  CHECK(ev[1].name == "linear.backward");
  CHECK(ev[1].cost.flops == 4.0 * R * C * OC);
  for (const auto& e : ev) CHECK(e.end_ns >= e.start_ns);
  CHECK(ev[1].start_ns >= ev[0].end_ns);

  const std::string table = profiler::table();
  CHECK(table.find("linear.backward") != std::string::npos);
  CHECK(table.find("GFLOP/s") != std::string::npos);

  test::TempDir dir;
  profiler::write_chrome_trace(dir.file("trace.json"));
  const nlohmann::json trace = nlohmann::json::parse(std::ifstream(dir.file("trace.json")));
  REQUIRE(trace["traceEvents"].size() == 2);
  for (const auto& e : trace["traceEvents"]) {
    CHECK(e["ph"] == "X");
    CHECK(e["dur"].get<double>() >= 0);
    CHECK(e.contains("ts"));
  }
  CHECK(trace["traceEvents"][1]["name"] == "linear.backward");
  CHECK(trace["traceEvents"][1]["args"]["flops"].get<double>() == 4.0 * R * C * OC);
  profiler::clear();
  CHECK(profiler::events().empty());
}

namespace {
// A device clock whose mark k reads 1000 k^2 ns, so every op has a known,
// distinct device duration that no host clock would produce.
class PlantedClock final : public profiler::DeviceClock {
 public:
  explicit PlantedClock(int* reads) : reads_(reads) {}
  int64_t mark() override { return next_++; }
  std::vector<int64_t> read() override {
    ++*reads_;
    std::vector<int64_t> ns(static_cast<size_t>(next_));
    for (int64_t k = 0; k < next_; ++k) ns[static_cast<size_t>(k)] = 1000 * k * k;
    next_ = 0;
    return ns;
  }

 private:
  int64_t next_ = 0;
  int* reads_;
};
}  // namespace

TEST_CASE("profiler: with a device clock, op times are the device's, aligned to the host timeline") {
  Variable x(Tensor::full({6, 5}, 0.5), true, "x"), w(Tensor::full({4, 5}, 0.25), true, "w");
  int reads = 0;
  profiler::use_device_clock(std::make_unique<PlantedClock>(&reads));
  profiler::enable(true);
  profiler::clear();
  linear(x, w, Variable()).backward(Tensor::full({6, 4}, 1.0));  // marks 0,1 (forward), 2,3 (backward)
  profiler::enable(false);
  const std::vector<profiler::Event> ev = profiler::events();
  REQUIRE(ev.size() == 2);
  // Mark k at 1000 k^2 ns after mark 0, and mark 0 at the host time the first op began.
  CHECK(ev[0].end_ns - ev[0].start_ns == 1000);  // marks 0 -> 1
  CHECK(ev[1].end_ns - ev[1].start_ns == 5000);  // marks 2 -> 3: 9000 - 4000
  CHECK(ev[1].start_ns - ev[0].start_ns == 4000);
  CHECK(ev[0].start_mark == -1);  // read back once, not again
  const int reads_after_first = reads;
  profiler::events();
  CHECK(reads == reads_after_first + 1);  // a read with no marks pending changes nothing
  CHECK(profiler::events()[1].end_ns - profiler::events()[1].start_ns == 5000);
  // The table uses the device times: 0.001 + 0.005 ms in all.
  const std::string table = profiler::table();
  CHECK(table.find("0.001") != std::string::npos);
  CHECK(table.find("0.005") != std::string::npos);
  profiler::use_device_clock(nullptr);
  profiler::clear();
  // Back on host time: a new record has no marks.
  profiler::enable(true);
  linear(x, w, Variable());
  profiler::enable(false);
  REQUIRE(profiler::events().size() == 1);
  CHECK(profiler::events()[0].start_mark == -1);
  CHECK(profiler::events()[0].end_ns >= profiler::events()[0].start_ns);
  profiler::clear();
}

TEST_CASE("profiler table over several runs: each op at its fastest run") {
  auto event = [](const char* name, int64_t ns) {
    profiler::Event e;
    e.name = name;
    e.start_ns = 1000;
    e.end_ns = 1000 + ns;
    e.cost.flops = 1e6;
    return e;
  };
  // Run 1: a twice (3 ms in all), b 1 ms. Run 2: a once (2.5 ms), b 4 ms.
  const std::vector<std::vector<profiler::Event>> runs{
      {event("a", 1000000), event("a", 2000000), event("b", 1000000)},
      {event("a", 2500000), event("b", 4000000)}};
  const std::string table = profiler::table(runs);
  // a from run 2 (one call, 2.5 ms, 1e6 flops in 2.5 ms = 0.4 GFLOP/s), b
  // from run 1; shares of the 3.5 ms the two minima add up to; a first.
  const size_t a = table.find("\na "), b = table.find("\nb ");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  CHECK(a < b);
  const std::string a_line = table.substr(a + 1, table.find('\n', a + 1) - a - 1);
  const std::string b_line = table.substr(b + 1, table.find('\n', b + 1) - b - 1);
  CHECK_MESSAGE(a_line.find(" 1      2.500   71.4%       0.40") != std::string::npos, a_line);
  CHECK_MESSAGE(b_line.find(" 1      1.000   28.6%       1.00") != std::string::npos, b_line);
}
