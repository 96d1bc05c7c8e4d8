// tools/param-pair.py writes the parameter-matched All-attention / Transformer-XL
// pair of the paper's comparison: its printed counts are the engine's own
// (the models built from the configs it writes), the committed pair is its
// output, and a pair more than 1% apart is refused.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "app/config.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

// The engine's non-embedding parameter count of a config's model.
int64_t engine_count(const std::string& config) {
  AllAttConfig c = load_config(config, {}).model;
  c.vocab = 86;
  return AllAttLM(c, 1).parameter_count(false);
}

// The arguments after "tools/param-pair.py " in a config's header line "// Written by
// tools/param-pair.py ARGS: ...".
std::string written_by(const std::string& config) {
  std::string line;
  std::getline(std::ifstream(config), line);
  const std::string lead = "// Written by tools/param-pair.py ";
  REQUIRE(line.rfind(lead, 0) == 0);
  return line.substr(lead.size(), line.find(':') - lead.size());
}

}  // namespace

TEST_CASE("param pair: the counts are the engine's, the committed pair is the script's, >1% apart is refused") {
  test::TempDir dir;
  std::string out;
  const std::string script = "/usr/bin/python3 " HEADCOUNT_SOURCE_DIR "/tools/param-pair.py ";
  // The committed pair's first line names the command that wrote it: run it again.
  const std::string args = written_by(HEADCOUNT_SOURCE_DIR "/configs/moby-char-pair-allatt.json");
  REQUIRE(args.rfind("configs/moby-char-small.json ", 0) == 0);
  REQUIRE(test::run_command(script + HEADCOUNT_SOURCE_DIR "/configs/moby-char-small.json " + dir.file("pair") + " " +
                                args.substr(args.find(' ') + 1) + " 2>&1",
                            out) == 0);
  CAPTURE(out);
  const int64_t allatt = engine_count(dir.file("pair-allatt.json")), txl = engine_count(dir.file("pair-txl.json"));
  CHECK(out.find("All-attention (N = 512): " + std::to_string(allatt) + " non-embedding parameters") != std::string::npos);
  CHECK(out.find("Transformer-XL (F = 512): " + std::to_string(txl) + " non-embedding parameters") != std::string::npos);
  CHECK(std::abs(allatt - txl) <= 0.01 * double(std::max(allatt, txl)));
  // The committed configs are what the script writes (out_dir aside).
  for (const char* name : {"allatt", "txl"}) {
    CAPTURE(name);
    RunConfig committed = load_config(HEADCOUNT_SOURCE_DIR "/configs/moby-char-pair-" + std::string(name) + ".json", {});
    RunConfig written = load_config(dir.file("pair-" + std::string(name) + ".json"), {});
    committed.out_dir = written.out_dir = "";
    CHECK(committed.to_json() == written.to_json());
  }
  // Width 8, one head of 8: the block's biases and norm weigh 6% more than the persistent vectors' share.
  std::ofstream(dir.file("narrow.json")) << R"({"layers": 1, "d_model": 8, "heads": 1, "d_head": 8, "persist": 4})";
  CHECK(test::run_command(script + dir.file("narrow.json") + " " + dir.file("n") + " 2>&1", out) == 2);
  CHECK(out.find("refused: the pair differs by") != std::string::npos);
}
