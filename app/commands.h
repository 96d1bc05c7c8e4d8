// The subcommands of the `headcount` binary; each returns the exit status
// (0 success, 1 failure while running, 130 interrupted after a checkpoint).
// Bad usage or bad input throws std::invalid_argument, which main() turns
// into a message and status 2.
#pragma once

#include "app/cli.h"

namespace hc {

// One command's flags (app/commands.cpp): what it accepts, checks and lists in --help.
struct CommandFlags {
  std::string name;
  std::vector<Flag> flags;
};
// Every command, in the order of `headcount --help`.
const std::vector<CommandFlags>& command_flags();
// A command's flags; nullptr for an unknown command.
const std::vector<Flag>* flags_of(const std::string& command);
// The flags shared by the commands: --config, --set, --from, --device, --threads, --tf32, --help.
const std::vector<Flag>& shared_flags();

int train_command(const CommandLine& cl);
int prune_command(const CommandLine& cl);
int compact_command(const CommandLine& cl);
int heatmap_command(const CommandLine& cl);
int compare_command(const CommandLine& cl);
int profile_command(const CommandLine& cl);
int bench_command(const CommandLine& cl);
int eval_command(const CommandLine& cl);
int generate_command(const CommandLine& cl);

}  // namespace hc
