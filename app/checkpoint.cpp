#include "app/checkpoint.h"

#include <fstream>
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

Checkpoint load_checkpoint(const std::string& path) {
  const std::string stem = stem_of(path), side_path = stem + ".json";
  std::ifstream in(side_path);
  if (!in) throw std::invalid_argument("checkpoint " + side_path + ": cannot open the sidecar");
  const nlohmann::json side = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (side.is_discarded() || !side.is_object())
    throw std::invalid_argument("checkpoint " + side_path + ": not valid JSON");
  if (side.value("format", "") != kFormat)
    throw std::invalid_argument("checkpoint " + side_path + ": not a headcount checkpoint (format '" +
                                side.value("format", "") + "')");
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

}  // namespace hc
