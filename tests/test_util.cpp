#include "tests/test_util.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace hc::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "headcount-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

bool python_has(const std::string& module) {
  static std::map<std::string, bool> known;
  auto it = known.find(module);
  if (it != known.end()) return it->second;
  const std::string cmd = "/usr/bin/python3 -c 'import " + module + "' >/dev/null 2>&1";
  return known[module] = std::system(cmd.c_str()) == 0;
}

namespace {
int run(const std::string& cmd, std::string& output) {
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  output.clear();
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

int run_python(const std::string& script, const std::string& args, std::string& output) {
  return run("/usr/bin/python3 " HEADCOUNT_SOURCE_DIR "/tests/reference/" + script + " " + args + " 2>&1", output);
}

int run_headcount(const std::string& args, std::string& output) {
  return run(std::string(HEADCOUNT_BINARY) + " " + args + " 2>&1 </dev/null", output);
}

}  // namespace hc::test
