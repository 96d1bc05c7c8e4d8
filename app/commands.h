// The subcommands of the `headcount` binary; each returns the exit status
// (0 success, 1 failure while running, 130 interrupted after a checkpoint).
// Bad usage or bad input throws std::invalid_argument, which main() turns
// into a message and status 2.
#pragma once

#include "app/cli.h"

namespace hc {

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
