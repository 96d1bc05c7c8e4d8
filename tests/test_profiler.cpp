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
