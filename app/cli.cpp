#include "app/cli.h"

#include <sstream>
#include <stdexcept>

#include "engine/backend.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace hc {

std::string CommandLine::get(const std::string& flag, const std::string& fallback) const {
  auto it = flags.find(flag);
  return it == flags.end() ? fallback : it->second;
}

double CommandLine::number(const std::string& flag, double fallback) const {
  auto it = flags.find(flag);
  if (it == flags.end()) return fallback;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(it->second, &used);
  } catch (const std::exception&) {
  }
  if (used == 0 || used != it->second.size())
    throw std::invalid_argument("--" + flag + ": expected a number, got '" + it->second + "'");
  return v;
}

CommandLine parse_command_line(const std::string& command, int argc, char** argv, const FlagSpec& own) {
  CommandLine cl;
  cl.command = command;
  auto value = [&](int& i, const std::string& flag) {
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    return std::string(argv[++i]);
  };
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    std::string inline_value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos && arg.rfind("--set", 0) != 0) {
      inline_value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_inline = true;
    }
    auto take = [&] { return has_inline ? inline_value : value(i, arg); };
    if (arg == "--help" || arg == "-h") cl.help = true;
    else if (arg == "--tf32") cl.tf32 = true;
    else if (arg == "--config") cl.config = take();
    else if (arg == "--set") cl.sets.push_back(value(i, arg));
    else if (arg.rfind("--set=", 0) == 0) cl.sets.push_back(arg.substr(6));
    else if (arg == "--from") cl.from = take();
    else if (arg == "--device") {
      const std::string d = take();
      if (d == "cpu") cl.device = Device::CPU;
      else if (d == "cuda") cl.device = Device::CUDA;
      else throw std::invalid_argument("--device must be cpu or cuda, got '" + d + "'");
    } else if (arg == "--threads") {
      const std::string t = take();
      size_t used = 0;
      int n = 0;
      try {
        n = std::stoi(t, &used);
      } catch (const std::exception&) {
      }
      if (used != t.size() || n < 1) throw std::invalid_argument("--threads needs a positive integer, got '" + t + "'");
      cl.threads = n;
    } else if (arg.rfind("--", 0) == 0 && own.count(arg.substr(2))) {
      cl.flags[arg.substr(2)] = own.at(arg.substr(2)) ? take() : "1";
    } else {
      throw std::invalid_argument("unknown argument '" + std::string(argv[i]) + "' (see headcount " + command + " --help)");
    }
  }
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
