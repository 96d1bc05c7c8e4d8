// Helpers shared by tests: temporary directories, running the Python
// references with Debian's PyTorch.
#pragma once

#include <string>

namespace hc::test {

// A fresh empty directory under /tmp, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// True if `/usr/bin/python3 -c "import <module>"` works (checked once per module).
bool python_has(const std::string& module);
// Run /usr/bin/python3 with the script at tests/reference/<script> and the
// arguments; returns its exit status and puts stdout (+stderr) in `output`.
int run_python(const std::string& script, const std::string& args, std::string& output);
// Run the headcount binary with `args`; returns its exit status, output in `output`.
int run_headcount(const std::string& args, std::string& output);

}  // namespace hc::test
