// The test runner: doctest's own, then one line that counts what was skipped
// and why (test::skip), so that a green run says which areas it did not touch.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <map>

#include "tests/test_util.h"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int status = context.run();
  if (context.shouldExit()) return status;
  std::map<std::string, std::vector<std::string>> by_reason;
  for (const hc::test::Skip& s : hc::test::skips()) by_reason[s.why].push_back(s.what);
  std::printf("skipped for want of a GPU, a tool or a package: %zu", hc::test::skips().size());
  for (const auto& [why, what] : by_reason) {
    std::printf("%s %zu for \"%s\" (", by_reason.begin()->first == why ? " cases:" : ";", what.size(), why.c_str());
    for (size_t i = 0; i < what.size(); ++i) std::printf("%s%s", i ? ", " : "", what[i].c_str());
    std::printf(")");
  }
  std::printf("\n");
  return status;
}
