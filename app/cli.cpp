#include "app/cli.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/backend.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace hc {

namespace {

// The shortest text that reads back as v: 1000000, 0.75, 1e-06.
std::string shortest(double v) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string text = buf;
  if (std::fabs(v) < 1e16 && v == std::floor(v)) {  // whole numbers without an exponent
    std::snprintf(buf, sizeof buf, "%.0f", v);
    text = buf;
  }
  return text;
}

// "a,,b" -> {"a", "", "b"}: every element, empty ones too (the checker refuses them).
std::vector<std::string> split_all(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma = text.find(','); comma != std::string::npos; comma = text.find(',', start)) {
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  out.push_back(text.substr(start));
  return out;
}

// One value's range, without the list's words.
std::string allowed_one(const Flag& f) {
  std::string text;
  switch (f.type) {
    case FlagType::Switch: return "no value";
    case FlagType::Text: return "non-empty text";
    case FlagType::Choice:
      for (const std::string& c : f.choices) text += (text.empty() ? "one of " : ", ") + c;
      return text;
    case FlagType::Integer: text = "an integer in " + shortest(f.min) + ".." + shortest(f.max); break;
    case FlagType::Real:
      text = "a number in " + std::string(f.min_open ? "(" : "[") + shortest(f.min) + ", " + shortest(f.max) + "]";
      break;
  }
  for (const auto& special : f.special) text += ", or " + special.first + " = " + special.second;
  return text;
}

[[noreturn]] void refuse(const Flag& f, const std::string& what) {
  throw std::invalid_argument("--" + f.name + ": " + what + "; allowed: " + allowed_values(f));
}

// A whole number: an optional '-' and digits, nothing else.
bool parse_integer(const std::string& s, double& out) {
  const size_t digits = s.size() - (s[0] == '-' ? 1 : 0);
  if (digits == 0 || s.find_first_not_of("0123456789", s[0] == '-' ? 1 : 0) != std::string::npos) return false;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), nullptr, 10);
  out = errno == ERANGE ? (s[0] == '-' ? -HUGE_VAL : HUGE_VAL) : static_cast<double>(v);
  return true;
}

// A decimal number (no nan, inf or hex); out of double's range reads as +-inf.
bool parse_real(const std::string& s, double& out) {
  if (s.find_first_not_of("0123456789.eE+-") != std::string::npos || s.find_first_of("0123456789") == std::string::npos)
    return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

// What is wrong with one element ("" if nothing): its type, then its range.
std::string problem(const Flag& f, const std::string& v) {
  if (v.empty()) return "empty value";
  if (f.type == FlagType::Choice) {
    for (const std::string& c : f.choices)
      if (v == c) return "";
    return "'" + v + "' is not a choice";
  }
  if (f.type != FlagType::Integer && f.type != FlagType::Real) return "";
  double x = 0;
  const bool integer = f.type == FlagType::Integer;
  if (!(integer ? parse_integer(v, x) : parse_real(v, x)))
    return "'" + v + "' is not " + (integer ? "an integer" : "a finite decimal number");
  for (const auto& special : f.special)
    if (x == std::strtod(special.first.c_str(), nullptr)) return "";
  const bool low = f.min_open ? !(x > f.min) : !(x >= f.min);
  return low || !(x <= f.max) ? "'" + v + "' is out of range" : "";
}

}  // namespace

std::string allowed_values(const Flag& f) {
  if (!f.list) return allowed_one(f);
  const size_t most = f.max_items ? f.max_items : kMaxListItems;
  return "a comma list of 1 to " + std::to_string(most) + (f.unique ? " distinct" : "") + " values, each " +
         allowed_one(f);
}

void check_flag_value(const Flag& f, const std::string& value) {
  if (f.type == FlagType::Switch) {
    if (value != "1") refuse(f, "takes no value, got '" + value + "'");
    return;
  }
  if (!f.list) {
    if (const std::string why = problem(f, value); !why.empty()) refuse(f, why);
    return;
  }
  const std::vector<std::string> items = split_all(value);
  const size_t most = f.max_items ? f.max_items : kMaxListItems;
  if (items.size() > most) refuse(f, std::to_string(items.size()) + " values");
  std::set<std::string> seen;  // numbers by value: 0.5 and 0.50 are the same budget
  for (size_t i = 0; i < items.size(); ++i) {
    if (const std::string why = problem(f, items[i]); !why.empty())
      refuse(f, "value " + std::to_string(i + 1) + " of '" + value + "': " + why);
    const bool number = f.type == FlagType::Integer || f.type == FlagType::Real;
    if (f.unique && !seen.insert(number ? shortest(std::strtod(items[i].c_str(), nullptr)) : items[i]).second)
      refuse(f, "'" + items[i] + "' is given twice");
  }
}

std::string flags_help(const std::vector<Flag>& flags) {
  std::string out;
  for (const Flag& f : flags) {
    std::string head = "  --" + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    std::string words = f.help;
    if (f.type != FlagType::Switch && f.type != FlagType::Text) words += "; " + allowed_values(f);
    else if (f.type == FlagType::Text && f.list) words += "; a comma list";
    if (!f.fallback.empty()) words += "; default " + f.fallback;
    if (f.repeatable) words += "; repeatable";
    // Wrapped at 100 columns, continuation lines under the help.
    const size_t indent = 26, width = 100;
    std::string line = head.size() + 1 < indent ? head + std::string(indent - head.size(), ' ') : head + "\n" + std::string(indent, ' ');
    size_t column = line.size() - (line.rfind('\n') == std::string::npos ? 0 : line.rfind('\n') + 1);
    std::istringstream in(words);
    std::string word;
    bool first = true;
    while (in >> word) {
      if (!first && column + 1 + word.size() > width) {
        line += "\n" + std::string(indent, ' ');
        column = indent;
      } else if (!first) {
        line += ' ';
        ++column;
      }
      line += word;
      column += word.size();
      first = false;
    }
    out += line + "\n";
  }
  return out;
}

std::string CommandLine::get(const std::string& flag, const std::string& fallback) const {
  auto it = flags.find(flag);
  return it == flags.end() ? fallback : it->second;
}

double CommandLine::number(const std::string& flag, double fallback) const {
  auto it = flags.find(flag);
  if (it == flags.end()) return fallback;
  double v = 0;
  if (!parse_real(it->second, v) || !std::isfinite(v))
    throw std::invalid_argument("--" + flag + ": expected a number, got '" + it->second + "'");
  return v;
}

std::string CommandLine::text(const std::string& flag) const {
  if (auto it = flags.find(flag); it != flags.end()) return it->second;
  if (auto it = defaults.find(flag); it != defaults.end()) return it->second;
  throw std::logic_error("headcount " + command + ": --" + flag + " was not given and has no default");
}

int64_t CommandLine::integer(const std::string& flag) const { return std::stoll(text(flag)); }

double CommandLine::real(const std::string& flag) const { return std::stod(text(flag)); }

std::vector<std::string> CommandLine::items(const std::string& flag) const { return split_all(text(flag)); }

std::vector<int64_t> CommandLine::integers(const std::string& flag) const {
  std::vector<int64_t> out;
  for (const std::string& s : items(flag)) out.push_back(std::stoll(s));
  return out;
}

std::vector<double> CommandLine::reals(const std::string& flag) const {
  std::vector<double> out;
  for (const std::string& s : items(flag)) out.push_back(std::stod(s));
  return out;
}

namespace {

const Flag* find_flag(const std::vector<Flag>& flags, const std::string& name) {
  for (const Flag& f : flags)
    if (f.name == name) return &f;
  return nullptr;
}

// The shared flags fill CommandLine's own fields; a command's own go to `flags`.
void store(CommandLine& cl, const std::string& name, const std::string& value) {
  if (name == "help") cl.help = true;
  else if (name == "tf32") cl.tf32 = true;
  else if (name == "config") cl.config = value;
  else if (name == "set") cl.sets.push_back(value);
  else if (name == "from") cl.from = value;
  else if (name == "device") cl.device = value == "cuda" ? Device::CUDA : Device::CPU;
  else if (name == "threads") cl.threads = std::stoi(value);
  else cl.flags[name] = value;
}

}  // namespace

CommandLine parse_command_line(const std::string& command, int argc, char** argv, const std::vector<Flag>& flags) {
  CommandLine cl;
  cl.command = command;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i] ? argv[i] : "";
    if (arg == "-h") arg = "--help";
    const bool dashed = arg.rfind("--", 0) == 0;
    const size_t eq = dashed ? arg.find('=') : std::string::npos;
    const std::string name = dashed ? arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2) : "";
    const Flag* f = dashed ? find_flag(flags, name) : nullptr;
    if (!f) throw std::invalid_argument("unknown argument '" + arg + "' (see headcount " + command + " --help)");
    std::string value = "1";
    if (eq != std::string::npos) {
      if (f->type == FlagType::Switch) refuse(*f, "takes no value, got '" + arg + "'");
      value = arg.substr(eq + 1);
    } else if (f->type != FlagType::Switch) {
      // A missing value: the end of the line, or the next flag of this command.
      const std::string next = i + 1 < argc && argv[i + 1] ? argv[i + 1] : "";
      if (i + 1 >= argc || (next.rfind("--", 0) == 0 && find_flag(flags, next.substr(2, next.find('=') - 2))))
        throw std::invalid_argument("--" + name + " needs a value: " + allowed_values(*f));
      value = argv[++i];
    }
    check_flag_value(*f, value);
    store(cl, name, value);
  }
  for (const Flag& f : flags)
    if (!f.fallback.empty() && !cl.flags.count(f.name)) cl.defaults[f.name] = f.fallback;
  return cl;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void apply_runtime_options(const CommandLine& cl) {
#ifdef _OPENMP
  if (cl.threads > 0) omp_set_num_threads(cl.threads);
#endif
  if (cl.tf32) {
    if (cl.device != Device::CUDA) throw std::invalid_argument("--tf32 applies to --device cuda only");
    set_tf32(true);
  }
}

}  // namespace hc
