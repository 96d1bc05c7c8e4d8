#include "tests/test_util.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
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

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int run_command(const std::string& cmd, std::string& output) {
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  output.clear();
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_python(const std::string& script, const std::string& args, std::string& output) {
  return run_command("/usr/bin/python3 " HEADCOUNT_SOURCE_DIR "/tests/reference/" + script + " " + args + " 2>&1", output);
}

int run_headcount(const std::string& args, std::string& output) {
  return run_command(std::string(HEADCOUNT_BINARY) + " " + args + " 2>&1 </dev/null", output);
}

pid_t spawn_headcount(const std::string& args, const std::string& log) {
  // exec: the pid is headcount's own, so a kill reaches it and not a shell.
  const std::string cmd = "exec " + std::string(HEADCOUNT_BINARY) + " " + args + " >" + log + " 2>&1 </dev/null";
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0)
    throw std::runtime_error("cannot start " + cmd);
  return pid;
}

namespace {
std::vector<Skip>& skip_list() {
  static std::vector<Skip> list;
  return list;
}
}  // namespace

void skip(const std::string& what, const std::string& why) {
  std::printf("SKIPPED %s: %s\n", what.c_str(), why.c_str());
  std::fflush(stdout);
  skip_list().push_back({what, why});
}

const std::vector<Skip>& skips() { return skip_list(); }

AllAttConfig tiny_model(const TinyModel& t) {
  AllAttConfig c;
  c.vocab = t.vocab;
  c.layers = t.layers;
  c.d_model = t.d_model;
  c.heads = t.heads;
  c.d_head = t.d_head;
  c.persist = t.persist;
  c.seg_len = t.seg_len;
  c.mem_len = t.mem_len;
  c.max_len = t.max_len;
  if (!t.dropout)
    c.dropout_embed = c.dropout_pos = c.dropout_attn = c.dropout_residual = c.dropout_proj = c.dropout_output = 0.0;
  return c;
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string write_tiny_corpus(const TempDir& dir) {
  const std::string c = dir.file("corpus");
  std::filesystem::create_directories(c);
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the whale " + std::to_string(i % 17) + " swam on and on.\n";
  for (const char* s : {"train", "valid", "test"}) std::ofstream(c + "/" + s + ".txt") << text;
  return c;
}

std::string tiny_training(const std::string& corpus, const std::string& out, int steps) {
  return "--config " HEADCOUNT_SOURCE_DIR "/configs/moby-char-tiny.json --set corpus=" + corpus +
         " --set out_dir=" + out + " --set steps=" + std::to_string(steps) +
         " --set eval_every=4 --set checkpoint_every=4 --set eval_segments=2 --threads 2";
}

}  // namespace hc::test
