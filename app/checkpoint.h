// Checkpoints: everything a run needs to continue bit for bit.
//
//   NAME.safetensors  model parameters (docs/checkpoint-format.md names them),
//                     optimizer moments "optim.<param>.exp_avg[_sq]", and the
//                     carried memory "memory.<layer>" (B,M,C)
//   NAME.json         the sidecar: config, step, optimizer step count, RNG
//                     offset, data position, vocabulary file, best validation
//                     loss, and each layer's head count
//
// Both files are written atomically (engine/safetensors.h); the tensors
// first, then the sidecar, which names the step that the tensor file's
// metadata must repeat, so a crash between the two is detected on load
// rather than silently mixing two steps.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "app/config.h"
#include "engine/tensor.h"

namespace hc {

struct Checkpoint {
  RunConfig config;
  int64_t step = 0;            // optimizer steps taken
  int64_t optimizer_steps = 0;
  uint64_t rng_offset = 0;     // position in the dropout/gate random stream
  int64_t data_epoch = 0, data_step = 0;
  double best_valid_loss = 0;  // 0: not measured yet
  std::string vocab;           // vocabulary file, relative to the checkpoint's folder
  std::map<std::string, Tensor> tensors;
};

// Paths: "DIR/NAME.safetensors" + "DIR/NAME.json".
void save_checkpoint(const std::string& safetensors_path, const Checkpoint& ckpt);
// Accepts the .safetensors path (or the stem); throws std::invalid_argument
// naming the file and the problem.
Checkpoint load_checkpoint(const std::string& path);
// The sidecar's fields from its JSON text (no tensors); `side_path` names it
// in errors. (The fuzz harness calls this directly.)
Checkpoint parse_sidecar(const std::string& text, const std::string& side_path);
// The step-N checkpoints in `dir` as (N, path of the .safetensors), newest first.
std::vector<std::pair<int64_t, std::string>> step_checkpoints(const std::string& dir);
// For --resume: the newest checkpoint in `dir` that loads completely, trying
// step-N (newest first) then last; its path goes to `chosen`.
Checkpoint load_newest_checkpoint(const std::string& dir, std::string& chosen);
// The sidecar path for a .safetensors path.
std::string sidecar_of(const std::string& safetensors_path);

}  // namespace hc
