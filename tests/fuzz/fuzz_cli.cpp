// libFuzzer harness for the command-line parser: the input is a command name
// and its arguments, separated by NUL bytes (a first piece that names no
// command picks one by its first byte). A bad line must be refused with
// std::invalid_argument; a line that parses must give values that every
// typed accessor reads within the flag's described range, and must parse
// the same when written back as --name=value.
#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "app/commands.h"

using namespace hc;

namespace {

std::vector<std::string> pieces(const std::string& input) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nul = input.find('\0'); nul != std::string::npos; nul = input.find('\0', start)) {
    out.push_back(input.substr(start, nul - start));
    start = nul + 1;
  }
  out.push_back(input.substr(start));
  return out;
}

CommandLine parse(const std::string& command, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return parse_command_line(command, static_cast<int>(argv.size()), argv.data(), *flags_of(command));
}

bool in_range(const Flag& f, double v) {
  for (const auto& s : f.special)
    if (v == std::stod(s.first)) return true;
  return std::isfinite(v) && (f.min_open ? v > f.min : v >= f.min) && v <= f.max;
}

// Every value the command would read: given or default, through the typed accessors.
void check_values(const Flag& f, const CommandLine& cl) {
  if (!cl.has(f.name) && !cl.defaults.count(f.name)) return;
  std::vector<double> numbers;
  if (f.type == FlagType::Integer)
    for (int64_t v : f.list ? cl.integers(f.name) : std::vector<int64_t>{cl.integer(f.name)}) numbers.push_back(double(v));
  if (f.type == FlagType::Real) numbers = f.list ? cl.reals(f.name) : std::vector<double>{cl.real(f.name)};
  for (double v : numbers)
    if (!in_range(f, v)) __builtin_trap();
  const std::vector<std::string> items = f.list ? cl.items(f.name) : std::vector<std::string>{cl.text(f.name)};
  if (items.empty() || items.size() > (f.max_items ? f.max_items : kMaxListItems)) __builtin_trap();
  for (const std::string& item : items) {
    if (item.empty()) __builtin_trap();
    if (f.type == FlagType::Choice && std::find(f.choices.begin(), f.choices.end(), item) == f.choices.end())
      __builtin_trap();
  }
  if (f.unique && std::set<double>(numbers.begin(), numbers.end()).size() != numbers.size()) __builtin_trap();
}

// The parsed line written back as --name=value arguments.
std::vector<std::string> written_back(const CommandLine& cl, const std::vector<Flag>& flags) {
  std::vector<std::string> args;
  for (const Flag& f : flags)
    if (cl.has(f.name)) args.push_back("--" + f.name + (f.type == FlagType::Switch ? "" : "=" + cl.get(f.name, "")));
  if (cl.device == Device::CUDA) args.push_back("--device=cuda");
  for (const std::string& s : cl.sets) args.push_back("--set=" + s);
  if (!cl.config.empty()) args.push_back("--config=" + cl.config);
  if (!cl.from.empty()) args.push_back("--from=" + cl.from);
  if (cl.threads) args.push_back("--threads=" + std::to_string(cl.threads));
  if (cl.tf32) args.push_back("--tf32");
  if (cl.help) args.push_back("--help");
  return args;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<std::string> args = pieces(std::string(reinterpret_cast<const char*>(data), size));
  std::string command = args[0];
  if (!flags_of(command)) command = command_flags()[data[0] % command_flags().size()].name;
  args.erase(args.begin());
  CommandLine cl;
  try {
    cl = parse(command, args);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  for (const Flag& f : *flags_of(command)) check_values(f, cl);
  if (cl.threads < 0 || cl.threads > 1024) __builtin_trap();
  const CommandLine again = parse(command, written_back(cl, *flags_of(command)));
  if (again.flags != cl.flags || again.sets != cl.sets || again.config != cl.config || again.from != cl.from ||
      again.threads != cl.threads || again.device != cl.device || again.tf32 != cl.tf32 || again.help != cl.help)
    __builtin_trap();
  return 0;
}
