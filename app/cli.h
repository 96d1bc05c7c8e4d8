// The command line shared by every subcommand (docs/architecture.md).
//
// Each command describes its flags once, as a table of Flag (app/commands.cpp):
// name, type, allowed range, default, special values and help line. The
// parser checks every value against that description (type, range, every
// element of a list) and refuses anything else with std::invalid_argument
// naming the flag and what it allows (exit status 2); `--help` prints the
// same table (flags_help), so what is documented is what is parsed.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace hc {

enum class FlagType {
  Switch,   // no value: --json
  Text,     // a non-empty string: a path, a prompt
  Integer,  // a whole number in [min, max]
  Real,     // a finite number in [min, max] (or (min, max] when min_open)
  Choice,   // one of `choices`
};

// One flag of a command: everything the parser checks and --help says.
struct Flag {
  std::string name;     // without the leading --
  FlagType type = FlagType::Switch;
  std::string metavar;  // the value's name in --help: N, T, FILE
  std::string help;     // one line of --help (the range and default are added)
  double min = 0, max = 0;  // Integer and Real (each element of a list)
  bool min_open = false;    // Real: min itself is refused (a value > min)
  std::string fallback;     // the default, as text; "" = none (the command decides)
  std::vector<std::pair<std::string, std::string>> special;  // documented values: {"0", "no limit"}
  std::vector<std::string> choices;  // Choice
  bool list = false;      // a comma list, each element checked as above
  bool unique = false;    // a list whose elements may not repeat
  size_t max_items = 0;   // a list's longest length (0: kMaxListItems)
  bool repeatable = false;  // each one counts (--set); otherwise the last one given counts
};

constexpr size_t kMaxListItems = 1024;
constexpr double kMaxInteger = 9007199254740991.0;  // 2^53 - 1: every integer up to it is exact in a double

// "integer 0..1000000 (0 = no limit)", "number > 0 and <= 100", "cpu or cuda": what a value may be.
std::string allowed_values(const Flag& flag);
// The option lines of --help for a table of flags: name, value, help, allowed values, default.
std::string flags_help(const std::vector<Flag>& flags);

struct CommandLine {
  std::string command;
  std::string config;
  std::vector<std::string> sets;
  std::string from;
  Device device = Device::CPU;
  int threads = 0;  // 0: OpenMP's default
  bool tf32 = false;  // TF32 tensor cores for float32 GEMMs on the GPU
  bool help = false;
  std::map<std::string, std::string> flags;     // subcommand flags given: name -> value ("1" for switches)
  std::map<std::string, std::string> defaults;  // the table's defaults of the flags not given

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  std::string get(const std::string& flag, const std::string& fallback) const;
  double number(const std::string& flag, double fallback) const;  // throws naming the flag
  // The value given, else the table's default (std::logic_error if neither:
  // a command asking for a flag it did not declare). Values were checked by
  // the parser, so these do not fail on user input.
  std::string text(const std::string& flag) const;
  int64_t integer(const std::string& flag) const;
  double real(const std::string& flag) const;
  std::vector<std::string> items(const std::string& flag) const;  // a list flag's elements
  std::vector<int64_t> integers(const std::string& flag) const;
  std::vector<double> reals(const std::string& flag) const;
};

// Checks `value` against `flag` (every element of a list); throws
// std::invalid_argument naming the flag and its allowed values.
void check_flag_value(const Flag& flag, const std::string& value);

// Parses argv (after the command name) against the command's flags, the
// shared ones included (--config, --set, --from, --device, --threads, --tf32,
// --help, as the table lists them). Throws std::invalid_argument for an
// unknown flag, a missing value or a value outside its range. A flag given
// twice keeps the last value (each is checked), as --set does for a key.
CommandLine parse_command_line(const std::string& command, int argc, char** argv, const std::vector<Flag>& flags);

// "a,b,,c" -> {"a", "b", "c"}: empty items dropped.
std::vector<std::string> split_list(const std::string& text);

// Apply --threads (OpenMP thread count) and --tf32 to the process.
void apply_runtime_options(const CommandLine& cl);

}  // namespace hc
