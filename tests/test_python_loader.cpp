// python/headcount_torch.py, the PyTorch loader, against the engine. The
// engine trains, prunes and compacts tiny models of every kind the module
// claims (dense All-attention, gated with and without output scaling,
// compacted with ragged heads and an emptied layer, the Transformer-XL
// baseline and its compaction, adaptive input and softmax and its
// compaction); one run of tests/reference/python_loader_check.py under
// Debian's /usr/bin/python3 (or $HEADCOUNT_PYTHON, e.g. one with PyTorch 2.x)
// loads them all, and the cases compare: losses with `headcount eval --json`,
// logits with AllAttLM::logits, text with `headcount generate`, saved files
// with the originals, and bad files with the module's exceptions.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "app/run.h"
#include "data/eval_split.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "models/gates.h"
#include "tests/test_util.h"

using namespace hc;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kModule = HEADCOUNT_SOURCE_DIR "/python/headcount_torch.py";
const int64_t kSegment = 16;   // moby-char-tiny's seg_len: the logits check's T
const int64_t kBatch = 5;      // the explicit cut of the losses: 5 streams,
const int64_t kSegments = 0;   // every segment
const char* kPrompt = "the whale";
// The dense All-attention model's keys (on top of configs/moby-char-tiny.json,
// whose own model keys a run from a checkpoint must override): 9 heads to prune.
const std::string kAllAtt = " --set layers=3 --set heads=3 --set d_head=8";

std::string python() {
  const char* p = std::getenv("HEADCOUNT_PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Runs a command; throws with its output unless it exits 0.
std::string must_run(const std::string& cmd) {
  std::string out;
  const int rc = test::run_command(cmd, out);
  if (rc != 0) throw std::runtime_error(cmd + " exited " + std::to_string(rc) + ":\n" + out);
  return out;
}

// One thread: on a shared, loaded machine OpenMP's waiting threads cost
// more than these tiny models gain from a second one.
const std::string kOneThread = " --threads 1";

std::string headcount(const std::string& args) {
  return must_run(std::string(HEADCOUNT_BINARY) + " " + args + kOneThread + " 2>&1 </dev/null");
}

// The JSON object on the last line of `eval --json`'s output.
double eval_loss(const std::string& ckpt, const std::string& sets) {
  const std::string out = must_run(std::string(HEADCOUNT_BINARY) + " eval --json --from " + ckpt + " " + sets + kOneThread + " 2>/dev/null");
  return json::parse(out.substr(out.rfind("{\"")))["loss"].get<double>();
}

// What `headcount generate` prints to stdout.
std::string engine_generate(const std::string& ckpt, const std::string& flags) {
  return must_run(std::string(HEADCOUNT_BINARY) + " generate --from " + ckpt + " --prompt '" + kPrompt +
                  "' --tokens 50 " + flags + kOneThread + " 2>/dev/null");
}

// A copy of the checkpoint `from` (a stem) as `to` (a stem in the same
// folder, so that the sidecar's vocabulary still resolves), with the gate
// logits given per layer, and the sidecar's config changed by `changes`.
void write_gated(const std::string& from, const std::string& to, const std::vector<std::vector<double>>& logits,
                 const json& changes = json::object()) {
  safetensors::File f = safetensors::load(from + ".safetensors");
  for (size_t l = 0; l < logits.size(); ++l)
    f.tensors["layers." + std::to_string(l) + ".attn.gate.log_alpha"] =
        Tensor::from_vector({static_cast<int64_t>(logits[l].size())}, logits[l], DType::F32);
  safetensors::save(to + ".safetensors", f.tensors, f.metadata);
  json side = json::parse(read_file(from + ".json"));
  side["config"].update(changes);
  write_file(to + ".json", side.dump(2));
}

// max |a - b| / max |b|: the error relative to the logits' scale.
double scaled_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

// What the engine says about one checkpoint.
struct EngineSide {
  std::string path;
  double loss = 0, loss_full = 0;  // eval --json: the config's cut, and batch 5 with every segment
  std::vector<int64_t> tokens;     // (2, 2T) ids the logits are taken on
  std::vector<std::vector<double>> logits;  // the two segments' (2, T, V), the second with memory
  std::string greedy, sampled;     // generate: --top-k 1, and --temperature 0.8 --seed 7 over all tokens
};

// Everything the cases compare, built once by the first case that asks.
struct Fixture {
  test::TempDir dir;
  std::string corpus, text;  // text: the split file every loss scores
  std::map<std::string, EngineSide> engine;  // by kind
  json py;                   // python_loader_check.py's output
  std::string error;         // why the fixture could not be built
  std::string skipped;       // why the cases cannot run here
  void build();
};

void Fixture::build() {
  // A corpus whose validation split gives uneven streams and a short last
  // segment at batch 5: 40 lines and a last one without its newline.
  corpus = dir.file("corpus");
  fs::create_directories(corpus);
  std::string train, valid;
  for (int i = 0; i < 300; ++i) train += "the whale " + std::to_string(i % 17) + " swam on and on.\n";
  for (int i = 0; i < 40; ++i) valid += "the whale " + std::to_string((i * 5) % 17) + " swam on and on.\n";
  valid += "and on";
  write_file(corpus + "/train.txt", train);
  write_file(corpus + "/valid.txt", valid);
  write_file(corpus + "/test.txt", valid);
  text = corpus + "/valid.txt";

  auto path = [&](const std::string& rel) { return dir.file(rel); };
  // 80 steps: enough for greedy text that is more than one letter repeated.
  headcount("train " + test::tiny_training(corpus, path("dense"), 80) + kAllAtt +
            " --set eval_every=80 --set checkpoint_every=80");
  // A real pruning run (its file has gate moments and memory the module
  // must pass over), whose gates are then set to a ragged pattern: heads
  // 2, 0 and 3 kept, so layer 0 is scaled by 3 / (2 + 1e-3) and layer 1 empties.
  headcount("prune --from " + path("dense/last.safetensors") + " " + test::tiny_training(corpus, path("pruned"), 4) +
            kAllAtt + " --set target_heads=5 --set l0_warmup=2");
  const std::vector<std::vector<double>> ragged{{1.5, -0.5, 0.25}, {-1.0, -2.0, -0.1}, {0.0, 3.0, 1.0}};
  write_gated(path("pruned/last"), path("pruned/ragged"), ragged);
  write_gated(path("pruned/last"), path("pruned/unscaled"), ragged, {{"output_scaling", false}});
  headcount("compact --from " + path("pruned/ragged.safetensors") + " --out " + path("small/model.safetensors"));
  // The Transformer-XL baseline; compacted with its layer 0 emptied (its
  // feed-forward block stays).
  // A non-default LayerNorm epsilon: the module must read it from the config.
  headcount("train " + test::tiny_training(corpus, path("txl"), 4) + " --set persist=0 --set d_ffn=24 --set layernorm_eps=1e-3");
  write_gated(path("txl/last"), path("txl/gated"), {{-1.0, -0.5}, {0.5, -0.5}});
  headcount("compact --from " + path("txl/gated.safetensors") + " --out " + path("txl_small/model.safetensors"));
  // Word level with adaptive input and softmax (three clusters), and compacted.
  headcount("train " + test::tiny_training(corpus, path("adaptive"), 4) + " --set tokenizer=word --set 'adaptive_cutoffs=[4,12]'");
  write_gated(path("adaptive/last"), path("adaptive/gated"), {{1.0, -1.0}, {1.0, 1.0}});
  headcount("compact --from " + path("adaptive/gated.safetensors") + " --out " + path("adaptive_small/model.safetensors"));

  const std::map<std::string, std::string> kinds{
      {"dense", "dense/last"},         {"gated", "pruned/ragged"},     {"gated_unscaled", "pruned/unscaled"},
      {"compacted", "small/model"},    {"txl", "txl/last"},            {"txl_compacted", "txl_small/model"},
      {"adaptive", "adaptive/last"},   {"adaptive_compacted", "adaptive_small/model"}};
  json plan = {{"text", text}, {"batch", kBatch}, {"segments", kSegments}, {"models", json::object()},
               {"bad", json::object()}, {"philox", {{0, 0}, {1, 5}, {7, 49}, {0x123456789LL, 3}}}};
  fs::create_directories(path("rt"));
  for (const auto& [kind, stem] : kinds) {
    EngineSide& e = engine[kind];
    e.path = path(stem + ".safetensors");
    e.loss = eval_loss(e.path, "");
    e.loss_full = eval_loss(e.path, "--set batch=" + std::to_string(kBatch) + " --set eval_segments=" + std::to_string(kSegments));
    e.greedy = engine_generate(e.path, "--top-k 1");
    e.sampled = engine_generate(e.path, "--top-k 0 --temperature 0.8 --seed 7");
    // Two streams of two segments from the split's own tokens; the second
    // segment attends to the memory the first left.
    LoadedModel m = load_model(e.path, Device::CPU, {});
    const std::vector<int64_t> ids = m.tokenizer.encode(valid);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = 0; t < 2 * kSegment; ++t) e.tokens.push_back(ids.at(static_cast<size_t>(b * 37 + t)));
    NoGrad no_grad;
    RngStream rng{0, 0};
    Memory mem = m.model->initial_memory(2);
    const std::vector<Variable> gates = layer_gates(*m.model, rng, false, m.checkpoint.config.prune.output_scaling);
    json rows = json::array();
    for (int64_t s = 0; s < 2; ++s) {
      std::vector<int64_t> seg;
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t t = 0; t < kSegment; ++t) seg.push_back(e.tokens[b * 2 * kSegment + s * kSegment + t]);
      e.logits.push_back(m.model->logits(Tensor::from_ids({2, kSegment}, seg), mem, false, rng, gates).value().to_vector());
    }
    for (int64_t b = 0; b < 2; ++b)
      rows.push_back(std::vector<int64_t>(e.tokens.begin() + b * 2 * kSegment, e.tokens.begin() + (b + 1) * 2 * kSegment));
    json saves = {path("rt/" + kind + ".safetensors")};
    if (kind == "dense") saves.push_back(path("resume/last.safetensors"));
    plan["models"][kind] = {{"path", e.path}, {"tokens", rows}, {"prompt", kPrompt}, {"save", saves}};
  }

  // Bad input: copies of the dense checkpoint, each broken in one way.
  const std::string bad = path("bad"), dense = path("dense/last");
  fs::create_directories(bad + "/novocab");
  fs::copy_file(path("dense/vocab.txt"), bad + "/vocab.txt");
  const json side = json::parse(read_file(dense + ".json"));
  auto broken = [&](const std::string& name, const std::function<void(json&)>& change, const std::string& dir_ = "") {
    const std::string stem = bad + "/" + (dir_.empty() ? "" : dir_ + "/") + name;
    fs::copy_file(dense + ".safetensors", stem + ".safetensors");
    json s = side;
    change(s);
    write_file(stem + ".json", s.dump(2));
    plan["bad"][name] = {{"path", stem + ".safetensors"}};
  };
  write_file(bad + "/notes.safetensors", "hello, this is not a checkpoint\n");  // and no sidecar
  plan["bad"]["not_a_checkpoint"] = {{"path", bad + "/notes.safetensors"}};
  broken("garbage", [](json&) {});
  write_file(bad + "/garbage.safetensors", std::string(100, 'x'));
  broken("other_format", [](json& s) { s["format"] = "some-other-format"; });
  broken("wider", [](json& s) { s["config"]["d_model"] = 48; });
  broken("fewer_heads", [](json& s) { s["config"]["heads"] = 2; });
  broken("fewer_layers", [](json& s) { s["config"]["layers"] = 2; });
  broken("other_step", [](json& s) { s["step"] = 999; });
  broken("missing_vocab", [](json&) {}, "novocab");
  plan["bad"]["missing_vocab"]["path"] = bad + "/novocab/missing_vocab.safetensors";
  std::string short_vocab = read_file(path("dense/vocab.txt"));
  short_vocab.erase(short_vocab.rfind('\n', short_vocab.size() - 2) + 1);  // one token fewer
  write_file(bad + "/short.vocab.txt", short_vocab);
  broken("short_vocab", [](json& s) { s["vocab"] = "short.vocab.txt"; });
  broken("truncated", [](json&) {});
  const std::string whole = read_file(dense + ".safetensors");
  write_file(bad + "/truncated.safetensors", whole.substr(0, whole.size() / 2));
  // A compacted checkpoint whose sidecar lists another head count for layer 1.
  fs::copy_file(path("small/model.safetensors"), path("small/ragged_lie.safetensors"));
  json lie = json::parse(read_file(path("small/model.json")));
  lie["config"]["heads_per_layer"] = {2, 1, 3};
  write_file(path("small/ragged_lie.json"), lie.dump(2));
  plan["bad"]["heads_per_layer"] = {{"path", path("small/ragged_lie.safetensors")}};
  plan["bad"]["prompt"] = {{"path", dense + ".safetensors"}, {"prompt", "the whale Z"}};

  write_file(path("plan.json"), plan.dump());
  const std::string out =
      must_run(python() + " " HEADCOUNT_SOURCE_DIR "/tests/reference/python_loader_check.py " + path("plan.json") + " 2>&1");
  py = json::parse(out.substr(out.rfind("{\"models\"")));
}

const Fixture& fixture() {
  static std::unique_ptr<Fixture> f;
  if (!f) {
    f = std::make_unique<Fixture>();
    if (std::getenv("HEADCOUNT_PYTHON") == nullptr && !(test::python_has("torch") && test::python_has("numpy"))) {
      f->skipped = "/usr/bin/python3 has no torch or numpy";
      return *f;
    }
    try {
      f->build();
    } catch (const std::exception& e) {
      f->error = e.what();
    }
  }
  return *f;
}

// The fixture, or false (after a skip or a failed REQUIRE) if the case cannot run.
bool ready(const char* what) {
  const Fixture& f = fixture();
  if (!f.skipped.empty()) {
    test::skip(what, f.skipped);
    return false;
  }
  REQUIRE_MESSAGE(f.error.empty(), f.error);
  return true;
}

}  // namespace

TEST_CASE("python loader: losses and logits equal the engine's for every checkpoint kind") {
  if (!ready("python loader: losses and logits")) return;
  const Fixture& f = fixture();
  MESSAGE("PyTorch " << f.py["torch"].get<std::string>());
  // The explicit cut is the hard one: streams of unequal length and a last
  // step of several groups.
  LoadedModel dense = load_model(f.engine.at("dense").path, Device::CPU, {});
  const EvalSplit split(dense.tokenizer.encode(read_file(f.text)), kBatch, kSegment);
  REQUIRE(split.step(split.steps() - 1).size() >= 2);
  REQUIRE(split.predictions() % kBatch != 0);

  REQUIRE(f.py["models"].size() == f.engine.size());
  for (const auto& entry : f.engine) {
    const auto& kind = entry.first;  // not a structured binding: clang 14 cannot capture one
    const auto& e = entry.second;
    CAPTURE(kind);
    const json& p = f.py["models"][kind];
    CHECK(p["loss"].get<double>() == doctest::Approx(e.loss).epsilon(1e-5));
    CHECK(p["loss_full"].get<double>() == doctest::Approx(e.loss_full).epsilon(1e-5));
    for (size_t s = 0; s < 2; ++s) {
      CAPTURE(s);
      const std::vector<double> logits = p["logits"][s].get<std::vector<double>>();
      REQUIRE(logits.size() == e.logits[s].size());
      CHECK(scaled_diff(logits, e.logits[s]) <= 1e-5);
    }
  }
  const EngineSide& small = f.engine.at("compacted");
  MESSAGE("compacted model (heads 2 0 3), valid loss in nats: engine " << std::setprecision(10) << small.loss_full
          << ", module " << f.py["models"]["compacted"]["loss_full"].get<double>() << " (batch " << kBatch
          << ", every segment); engine " << small.loss << ", module " << f.py["models"]["compacted"]["loss"].get<double>()
          << " (the config's batch 4, eval_segments 2)");
  // The kinds differ where they should, so that agreeing means something:
  // output scaling changes the gated model, and compaction does not.
  CHECK(std::fabs(f.engine.at("gated").loss_full - f.engine.at("gated_unscaled").loss_full) > 1e-3);
  CHECK(f.engine.at("compacted").loss_full == doctest::Approx(f.engine.at("gated").loss_full).epsilon(1e-5));
}

TEST_CASE("python loader: generate continues a prompt as headcount generate does") {
  if (!ready("python loader: generate")) return;
  const Fixture& f = fixture();
  for (const auto& entry : f.engine) {
    const auto& kind = entry.first;  // not a structured binding: clang 14 cannot capture one
    const auto& e = entry.second;
    CAPTURE(kind);
    const json& p = f.py["models"][kind];
    // The engine prints the text and a newline.
    CHECK(p["greedy"].get<std::string>() + "\n" == e.greedy);
    CHECK(p["sampled"].get<std::string>() + "\n" == e.sampled);
  }
  // Sampling reads Philox numbers: the module's equal the engine's.
  const json& philox = f.py["philox"];
  const std::vector<std::pair<uint64_t, uint64_t>> asked{{0, 0}, {1, 5}, {7, 49}, {0x123456789ULL, 3}};
  REQUIRE(philox.size() == asked.size());
  for (size_t i = 0; i < asked.size(); ++i)
    CHECK(philox[i].get<uint64_t>() == philox::bits(asked[i].first, 0, asked[i].second));
  // The text is worth comparing: the dense model's greedy continuation uses
  // several letters (not one repeated), and sampling differs from it.
  const std::string& dense = f.engine.at("dense").greedy;
  MESSAGE("dense, --top-k 1: " << dense << "compacted, --top-k 1: " << f.engine.at("compacted").greedy);
  CHECK(std::set<char>(dense.begin() + std::strlen(kPrompt), dense.end()).size() >= 6);
  for (const auto& [kind, e] : f.engine) CHECK(e.sampled != e.greedy);
  // The command line prints what `headcount generate` prints.
  const std::string& ckpt = f.engine.at("compacted").path;
  CHECK(must_run(python() + " " + kModule + " generate --from " + ckpt + " --prompt '" + kPrompt + "' --tokens 50 --top-k 1") ==
        f.engine.at("compacted").greedy);
}

TEST_CASE("python loader: save writes what the engine loads, bit for bit") {
  if (!ready("python loader: save")) return;
  const Fixture& f = fixture();
  for (const auto& entry : f.engine) {
    const auto& kind = entry.first;  // not a structured binding: clang 14 cannot capture one
    const auto& e = entry.second;
    CAPTURE(kind);
    const std::string saved = f.dir.file("rt/" + kind + ".safetensors");
    LoadedModel a = load_model(e.path, Device::CPU, {}), b = load_model(saved, Device::CPU, {});
    CHECK(b.checkpoint.config.to_json() == a.checkpoint.config.to_json());
    CHECK(b.tokenizer.text() == a.tokenizer.text());
    CHECK(b.checkpoint.step == a.checkpoint.step);
    const std::map<std::string, Tensor> ta = parameter_tensors(*a.model), tb = parameter_tensors(*b.model);
    REQUIRE(ta.size() == tb.size());
    for (const auto& tensor : ta) {
      const auto& name = tensor.first;  // not a structured binding: clang 14 cannot capture one
      const auto& t = tensor.second;
      CAPTURE(name);
      REQUIRE(tb.count(name) == 1);
      REQUIRE(tb.at(name).shape() == t.shape());
      CHECK(std::memcmp(tb.at(name).raw(), t.raw(), t.nbytes()) == 0);
    }
    // Model checkpoints only: no optimizer moments, no training memory.
    for (const auto& tensor : b.checkpoint.tensors) {
      const std::string& name = tensor.first;  // not a structured binding: clang 14 cannot capture one
      CAPTURE(name);
      CHECK(name.rfind("optim.", 0) != 0);
      CHECK(name.rfind("memory.", 0) != 0);
    }
  }
  // eval and generate accept the saved files and compute the same.
  CHECK(eval_loss(f.dir.file("rt/compacted.safetensors"), "") == f.engine.at("compacted").loss);
  CHECK(engine_generate(f.dir.file("rt/adaptive_compacted.safetensors"), "--top-k 1") == f.engine.at("adaptive_compacted").greedy);
  // prune --from starts from one.
  std::string out;
  CHECK_MESSAGE(test::run_headcount("prune --from " + f.dir.file("rt/dense.safetensors") + " " +
                                        test::tiny_training(f.corpus, f.dir.file("reprune"), 2) + kAllAtt +
                                        " --set target_heads=4" + kOneThread,
                                    out) == 0,
                out);
  // train --resume needs optimizer state: refused, exit status 2, saying so.
  fs::copy_file(f.dir.file("resume/last.vocab.txt"), f.dir.file("resume/vocab.txt"));
  CHECK(test::run_headcount("train --resume " + test::tiny_training(f.corpus, f.dir.file("resume"), 50) + kAllAtt + kOneThread, out) == 2);
  CAPTURE(out);
  CHECK(out.find("optimizer state") != std::string::npos);
}

TEST_CASE("python loader: bad input raises an exception that names the problem") {
  if (!ready("python loader: bad input")) return;
  const json& bad = fixture().py["bad"];
  // name -> (exception class, words the message must hold)
  const std::map<std::string, std::pair<std::string, std::vector<std::string>>> expected{
      {"not_a_checkpoint", {"CheckpointError", {"notes.json", "cannot read the sidecar"}}},
      {"garbage", {"CheckpointError", {"garbage.safetensors", "header length"}}},
      {"other_format", {"CheckpointError", {"not a headcount checkpoint", "some-other-format"}}},
      {"wider", {"CheckpointError", {"tensor 'embed.weight' has shape [", ", 32]", ", 48]"}}},
      {"fewer_heads", {"CheckpointError", {"tensor 'layers.0.attn.", "has shape [3, 8]", "heads per layer [2, 2, 2]", "imply [2, 8]"}}},
      {"fewer_layers", {"CheckpointError", {"layers.2.", "belong to no part of the model"}}},
      {"heads_per_layer", {"CheckpointError", {"no tensor 'layers.1.", "[2, 1, 3]"}}},
      {"other_step", {"CheckpointError", {"not from step 999"}}},
      {"missing_vocab", {"CheckpointError", {"novocab/vocab.txt is missing"}}},
      {"short_vocab", {"CheckpointError", {"'embed.weight' has shape", "vocabulary of"}}},
      {"truncated", {"CheckpointError", {"truncated.safetensors", "truncated"}}},
      {"prompt", {"ValueError", {"byte 90 is not in the model's vocabulary"}}}};
  CHECK(bad.size() == expected.size());
  for (const auto& entry : expected) {
    const auto& name = entry.first;  // not a structured binding: clang 14 cannot capture one
    const auto& what = entry.second;
    CAPTURE(name);
    REQUIRE(bad.contains(name));
    const std::string message = bad[name]["message"].get<std::string>();
    CAPTURE(message);
    CHECK(bad[name]["type"] == what.first);
    for (const std::string& words : what.second) CHECK(message.find(words) != std::string::npos);
  }
}

TEST_CASE("python loader: the command line scores a file as headcount eval does, and explains itself") {
  if (!ready("python loader: command line")) return;
  const Fixture& f = fixture();
  const std::string out = must_run(python() + " " + kModule + " loss --json --batch " + std::to_string(kBatch) +
                                   " --segments " + std::to_string(kSegments) + " --from " +
                                   f.engine.at("gated").path + " " + f.text);
  CHECK(out.find("bits per byte") != std::string::npos);
  CHECK(json::parse(out.substr(out.rfind("{\""))) ["loss"].get<double>() ==
        doctest::Approx(f.engine.at("gated").loss_full).epsilon(1e-5));
  const std::string help = f.py["help"].get<std::string>();
  CHECK(help.find("loss") != std::string::npos);
  CHECK(help.find("generate") != std::string::npos);
  // A bad checkpoint: exit status 2 and the message, no traceback.
  std::string err;
  CHECK(test::run_command(python() + " " + kModule + " loss --from " + f.dir.file("bad/notes.safetensors") + " " + f.text + " 2>&1", err) == 2);
  CHECK(err.find("cannot read the sidecar") != std::string::npos);
  CHECK(err.find("Traceback") == std::string::npos);
}
