#include "app/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/safetensors.h"

namespace hc {

namespace {
const char* kFormat = "headcount-checkpoint-1";

std::string stem_of(const std::string& path) {
  const std::string ext = ".safetensors";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    return path.substr(0, path.size() - ext.size());
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) return path.substr(0, path.size() - 5);
  return path;
}
}  // namespace

std::string sidecar_of(const std::string& path) { return stem_of(path) + ".json"; }

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string stem = stem_of(path);
  safetensors::save(stem + ".safetensors", c.tensors, {{"step", std::to_string(c.step)}, {"format", kFormat}});
  nlohmann::json side = {{"format", kFormat},
                         {"config", c.config.to_json()},
                         {"step", c.step},
                         {"optimizer_steps", c.optimizer_steps},
                         {"rng_offset", c.rng_offset},
                         {"data", {{"epoch", c.data_epoch}, {"step", c.data_step}}},
                         {"best_valid_loss", c.best_valid_loss},
                         {"vocab", c.vocab},
                         {"heads_per_layer", c.config.model.heads_per_layer}};
  safetensors::write_file_atomically(stem + ".json", side.dump(2) + "\n");
}

Checkpoint parse_sidecar(const std::string& text, const std::string& side_path) {
  const nlohmann::json side = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (side.is_discarded() || !side.is_object())
    throw std::invalid_argument("checkpoint " + side_path + ": not valid JSON");
  const nlohmann::json& format = side.contains("format") ? side["format"] : nlohmann::json();
  if (!format.is_string() || format.get<std::string>() != kFormat)
    throw std::invalid_argument("checkpoint " + side_path + ": not a headcount checkpoint (format " +
                                format.dump() + ")");
  Checkpoint c;
  try {
    c.config.apply(side.at("config"), "checkpoint " + side_path);
    c.config.validate();
    c.step = side.at("step").get<int64_t>();
    c.optimizer_steps = side.at("optimizer_steps").get<int64_t>();
    c.rng_offset = side.at("rng_offset").get<uint64_t>();
    c.data_epoch = side.at("data").at("epoch").get<int64_t>();
    c.data_step = side.at("data").at("step").get<int64_t>();
    c.best_valid_loss = side.at("best_valid_loss").get<double>();
    c.vocab = side.at("vocab").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument("checkpoint " + side_path + ": missing or ill-typed field (" + e.what() + ")");
  }
  if (c.step < 0 || c.optimizer_steps < 0 || c.data_epoch < 0 || c.data_step < 0)
    throw std::invalid_argument("checkpoint " + side_path + ": negative step or data position");
  return c;
}

Checkpoint load_checkpoint(const std::string& path) {
  const std::string stem = stem_of(path), side_path = stem + ".json";
  std::ifstream in(side_path, std::ios::binary);
  if (!in) throw std::invalid_argument("checkpoint " + side_path + ": cannot open the sidecar");
  std::ostringstream text;
  text << in.rdbuf();
  Checkpoint c = parse_sidecar(text.str(), side_path);
  safetensors::File f;
  try {
    f = safetensors::load(stem + ".safetensors");
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
  auto step = f.metadata.find("step");
  if (step == f.metadata.end() || step->second != std::to_string(c.step))
    throw std::invalid_argument("checkpoint " + stem + ": the tensor file is not from step " +
                                std::to_string(c.step) + " that the sidecar names");
  c.tensors = std::move(f.tensors);
  return c;
}

std::vector<std::pair<int64_t, std::string>> step_checkpoints(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "step-", ext = ".safetensors";
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + ext.size() ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
      continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());
    if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.push_back({std::stoll(digits), entry.path().string()});
  }
  std::sort(found.begin(), found.end(), std::greater<>());
  return found;
}

Checkpoint load_newest_checkpoint(const std::string& dir, std::string& chosen) {
  // step-N files, newest first, then last: a kill between writing a
  // checkpoint's two files leaves that pair unloadable (the step check
  // above), and the one before it is then the newest good state.
  std::vector<std::pair<int64_t, std::string>> candidates = step_checkpoints(dir);
  candidates.push_back({-1, (std::filesystem::path(dir) / "last.safetensors").string()});
  std::string skipped;
  for (const auto& [step, path] : candidates) {
    try {
      Checkpoint c = load_checkpoint(path);
      if (!skipped.empty()) std::fprintf(stderr, "warning: skipped unloadable checkpoints:%s\n", skipped.c_str());
      chosen = path;
      return c;
    } catch (const std::invalid_argument& e) {
      skipped += std::string("\n  ") + e.what();
    }
  }
  throw std::invalid_argument("--resume: no loadable checkpoint in " + dir + skipped);
}

}  // namespace hc
