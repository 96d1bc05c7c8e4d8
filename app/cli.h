// The command line shared by every subcommand (docs/architecture.md):
//   --config FILE, --set key=value (repeatable), --from CKPT, --device cpu|cuda,
//   --threads K, --tf32, --help, plus the flags a subcommand declares.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace hc {

struct CommandLine {
  std::string command;
  std::string config;
  std::vector<std::string> sets;
  std::string from;
  Device device = Device::CPU;
  int threads = 0;  // 0: OpenMP's default
  bool tf32 = false;  // TF32 tensor cores for float32 GEMMs on the GPU
  bool help = false;
  std::map<std::string, std::string> flags;  // subcommand flags: name -> value ("1" for switches)

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  std::string get(const std::string& flag, const std::string& fallback) const;
  double number(const std::string& flag, double fallback) const;  // throws naming the flag
};

// A subcommand's own flags: name (without --) -> true if it takes a value.
using FlagSpec = std::map<std::string, bool>;

// Throws std::invalid_argument for an unknown flag or a missing value.
CommandLine parse_command_line(const std::string& command, int argc, char** argv, const FlagSpec& own);

// "a,b,,c" -> {"a", "b", "c"}: the comma lists of --methods, --budgets, --batches.
std::vector<std::string> split_list(const std::string& text);

// Apply --threads (OpenMP thread count) and --tf32 to the process.
void apply_runtime_options(const CommandLine& cl);

}  // namespace hc
