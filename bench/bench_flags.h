// The two flags bench_linear and bench_machine take, --json and --quick, and
// their --help: one parser, so both programs refuse the same way.
#pragma once

#include <cstdio>
#include <cstring>
#include <string>

struct BenchFlags {
  bool json = false;   // one JSON value instead of the table
  bool quick = false;  // fewer, shorter runs (make results QUICK=1)
};

// Reads argv into `flags`. Returns -1 to go on, or the status to exit with:
// 0 after printing `usage` for --help, 2 after naming an unknown argument.
inline int parse_bench_flags(int argc, char** argv, const char* name, const char* usage, BenchFlags& flags) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) {
      flags.json = true;
    } else if (!std::strcmp(argv[i], "--quick")) {
      flags.quick = true;
    } else {
      const bool help = !std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h");
      if (!help) std::fprintf(stderr, "%s: unknown argument %s\n", name, argv[i]);
      std::fputs(usage, help ? stdout : stderr);
      return help ? 0 : 2;
    }
  }
  return -1;
}
