// safetensors: round trips, an independent reader, broken files, and a
// failed write that must leave the previous file intact.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;
using hc::test::TempDir;

namespace {

std::map<std::string, Tensor> sample_tensors() {
  return {{"a.weight", test::random_tensor({3, 5}, DType::F32, 1)},
          {"b", test::random_tensor({2, 2, 3}, DType::F64, 2)},
          {"ids", Tensor::from_ids({4}, {7, -1, 0, 1LL << 40})},
          {"one", Tensor::from_vector({1}, {2.5})},
          {"empty", Tensor::zeros({0, 3})}};
}

// A file with a hand-written header and `data_bytes` bytes of data.
std::string write_raw(const TempDir& dir, const std::string& header, size_t data_bytes,
                      int64_t claimed_len = -1) {
  const std::string path = dir.file("raw.safetensors");
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header << std::string(data_bytes, '\0');
  return path;
}

void expect_error(const std::string& path, const std::string& words) {
  CAPTURE(words);
  try {
    safetensors::load(path);
    FAIL("loaded a broken file");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find(words) != std::string::npos);
    CHECK(msg.find(path) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors: round trip of F32, F64, I64, empty tensors and metadata") {
  TempDir dir;
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta{{"step", "12"}, {"format", "pt"}};
  safetensors::save(dir.file("x.safetensors"), tensors, meta);
  const safetensors::File f = safetensors::load(dir.file("x.safetensors"));
  CHECK(f.metadata == meta);
  REQUIRE(f.tensors.size() == tensors.size());
  for (const auto& [tensor_name, t] : tensors) {
    const std::string& name = tensor_name;  // clang 14 cannot capture a structured binding
    CAPTURE(name);
    const Tensor& back = f.tensors.at(name);
    CHECK(back.dtype() == t.dtype());
    CHECK(back.shape() == t.shape());
    if (t.dtype() == DType::I64) CHECK(back.to_ids() == t.to_ids());
    else CHECK(back.to_vector() == t.to_vector());
  }
}

TEST_CASE("safetensors: an independent NumPy reader reads our files") {
  if (!test::python_has("numpy")) {
    test::skip("safetensors NumPy reader", "/usr/bin/python3 has no numpy (run make deps)");
    return;
  }
  TempDir dir;
  const auto tensors = sample_tensors();
  safetensors::save(dir.file("x.safetensors"), tensors, {{"k", "v"}});
  std::string out;
  REQUIRE(test::run_python("safetensors_np.py", dir.file("x.safetensors"), out) == 0);
  const nlohmann::json j = nlohmann::json::parse(out);
  CHECK(j["metadata"]["k"] == "v");
  for (const auto& [tensor_name, t] : tensors) {
    const std::string& name = tensor_name;  // clang 14 cannot capture a structured binding
    CAPTURE(name);
    const auto& e = j["tensors"][name];
    CHECK(e["dtype"] == dtype_name(t.dtype()));
    CHECK(e["shape"].get<Shape>() == t.shape());
    double s = 0;
    for (double v : t.to_vector()) s += v;
    CHECK(e["sum"].get<double>() == doctest::Approx(s).epsilon(1e-12));
  }
}

TEST_CASE("safetensors: broken files are rejected with a message that names the problem") {
  TempDir dir;
  safetensors::save(dir.file("good.safetensors"), sample_tensors());
  std::string good;
  {
    std::ifstream f(dir.file("good.safetensors"), std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(f), {});
  }
  SUBCASE("truncated data") {
    std::ofstream(dir.file("t.safetensors"), std::ios::binary) << good.substr(0, good.size() - 5);
    expect_error(dir.file("t.safetensors"), "truncated");
  }
  SUBCASE("truncated header") {
    std::ofstream(dir.file("t.safetensors"), std::ios::binary) << good.substr(0, 20);
    expect_error(dir.file("t.safetensors"), "header length");
  }
  SUBCASE("shorter than the length field") {
    std::ofstream(dir.file("t.safetensors"), std::ios::binary) << "abc";
    expect_error(dir.file("t.safetensors"), "too short");
  }
  SUBCASE("header length beyond the file") {
    expect_error(write_raw(dir, "{}", 0, 1LL << 40), "exceeds the file");
  }
  SUBCASE("header not JSON") { expect_error(write_raw(dir, "{not json", 0), "not valid JSON"); }
  SUBCASE("header not an object") { expect_error(write_raw(dir, "[1,2]", 0), "not a JSON object"); }
  SUBCASE("unknown dtype") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4),
                 "unsupported dtype F16");
  }
  SUBCASE("bad shape") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                 "non-negative integers");
  }
  SUBCASE("a shape that claims more than the file holds") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[1073741824,1073741824],"data_offsets":[0,8]}})", 8),
                 "larger than the file");
    // A zero elsewhere would let any size through the product: each
    // dimension is bounded on its own, before Tensor::empty sees it.
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})", 0),
                 "implausibly large");
  }
  SUBCASE("offsets out of range") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                 "past the data region");
  }
  SUBCASE("wrong byte size") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                 "does not match shape");
  }
  SUBCASE("overlapping tensors") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                 "overlaps");
  }
  SUBCASE("a gap in the data") {
    expect_error(write_raw(dir, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                 "gap");
  }
  SUBCASE("metadata that is not strings") {
    expect_error(write_raw(dir, R"({"__metadata__":{"step":3}})", 0), "not a string");
  }
  SUBCASE("missing file") { expect_error(dir.file("nope.safetensors"), "cannot open"); }
}

TEST_CASE("safetensors: a failed write leaves the previous file intact") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  safetensors::save(path, {{"w", Tensor::full({4}, 1.0)}});

  SUBCASE("disk full (a file-size limit)") {
    // Like `ulimit -f`: writes past the limit fail with EFBIG once SIGXFSZ is ignored.
    rlimit old{};
    getrlimit(RLIMIT_FSIZE, &old);
    auto previous = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &small);
    CHECK_THROWS_WITH_AS(safetensors::save(path, {{"w", Tensor::full({100000}, 2.0)}}),
                         doctest::Contains("write failed"), std::runtime_error);
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, previous);
  }
  SUBCASE("directory that does not exist") {
    CHECK_THROWS_WITH_AS(safetensors::save(dir.file("no/such/dir/x.safetensors"), {}),
                         doctest::Contains("cannot create"), std::runtime_error);
  }
  const safetensors::File back = safetensors::load(path);
  CHECK(back.tensors.at("w").to_vector() == std::vector<double>(4, 1.0));
  // and no temporary file is left behind
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) entries += e.is_regular_file();
  CHECK(entries == 1);
}
