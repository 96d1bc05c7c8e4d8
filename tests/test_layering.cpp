// The layering of the source tree, checked on its #include lines:
//
//   app -> models -> autograd -> engine
//   data -> engine
//   cuda -> engine (headers only)
//
// A directory may include its own files and those of the layers below it;
// tests/ and bench/ may include anything. In particular nothing in engine/
// includes cuda/, or declares for itself a function that cuda/ defines: the
// CUDA backend registers itself with the engine (register_device_backend,
// engine/backend.h) instead.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "models/pruning_method.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;

// The directories each layer may include from, its own among them.
const std::map<std::string, std::set<std::string>> kMayInclude = {
    {"engine", {"engine"}},
    {"autograd", {"autograd", "engine"}},
    {"models", {"models", "autograd", "engine"}},
    {"data", {"data", "engine"}},
    {"app", {"app", "models", "autograd", "engine", "data"}},
    {"cuda", {"cuda", "engine"}},
};
// Every top-level directory of the project that an include can name.
const std::set<std::string> kProjectDirs = {"app", "models", "autograd", "engine", "data", "cuda", "tests", "bench"};

// The first component of a path relative to the source tree ("engine" for engine/cpu_tuned/gemm.h).
std::string top_dir(const fs::path& relative) { return relative.begin()->string(); }

// The project file an include names, relative to the source tree, or "" for
// a file from outside the project (<vector>, <Eigen/Core>, <cuda_runtime.h>).
// A quoted name is looked for beside the including file first, then from the
// root (the include path this project uses); an angle-bracket name from the root.
fs::path project_file(const fs::path& root, const fs::path& includer, const std::string& name, bool quoted) {
  if (quoted) {
    const fs::path beside = (root / includer).parent_path() / name;
    if (fs::exists(beside)) return fs::relative(fs::weakly_canonical(beside), fs::weakly_canonical(root));
  }
  const fs::path from_root = fs::path(name).lexically_normal();
  if (!from_root.empty() && kProjectDirs.count(top_dir(from_root))) return from_root;
  return {};
}

// One line per include in `text` (the file `includer`, relative to `root`)
// that breaks the layering: "file:line: engine/ includes cuda/x.h (engine/ may include engine/)".
std::vector<std::string> layering_offences(const fs::path& root, const fs::path& includer, const std::string& text) {
  static const std::regex include_line(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
  std::vector<std::string> offences;
  const std::string layer = top_dir(includer);
  const auto rule = kMayInclude.find(layer);
  if (rule == kMayInclude.end()) return offences;  // tests/, bench/: anything goes
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::smatch m;
    if (!std::regex_search(line, m, include_line)) continue;
    const fs::path target = project_file(root, includer, m[2].str(), m[1].str() == "\"");
    if (target.empty()) continue;
    const std::string where = includer.string() + ":" + std::to_string(number) + ": " + layer + "/ includes " +
                              target.string();
    const std::string to = top_dir(target);
    if (!rule->second.count(to)) {
      std::string may;
      for (const std::string& d : rule->second) may += (may.empty() ? "" : ", ") + d + "/";
      offences.push_back(where + " (" + layer + "/ may include " + may + ")");
    } else if (layer == "cuda" && to == "engine" && target.extension() != ".h") {
      offences.push_back(where + " (cuda/ may include engine/'s headers only)");
    }
  }
  return offences;
}

// Every C++ and CUDA source under the layered directories, relative to root.
std::vector<fs::path> layered_sources(const fs::path& root) {
  static const std::set<std::string> extensions = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh"};
  std::vector<fs::path> files;
  for (const auto& [layer, _] : kMayInclude) {
    if (!fs::is_directory(root / layer)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / layer))
      if (entry.is_regular_file() && extensions.count(entry.path().extension().string()))
        files.push_back(fs::relative(entry.path(), root));
  }
  return files;
}

// The names of the functions that cuda/'s headers declare at namespace scope
// (a line "Type name(...);"), e.g. cuda_backend.
std::set<std::string> cuda_function_names(const fs::path& root) {
  static const std::regex declaration(R"(^[A-Za-z_][\w:<>&\* ]*[\s&\*](\w+)\s*\([^;{]*\)\s*;)");
  std::set<std::string> names;
  if (!fs::is_directory(root / "cuda")) return names;
  for (const auto& entry : fs::directory_iterator(root / "cuda")) {
    if (entry.path().extension() != ".h") continue;
    std::istringstream lines(hc::test::read_text(entry.path()));
    std::string line;
    std::smatch m;
    while (std::getline(lines, line))
      if (std::regex_search(line, m, declaration)) names.insert(m[1].str());
  }
  return names;
}

// One line per line of `text` (a file of engine/) whose code, comments left
// out, names one of `names`: "file:line: engine/ names cuda_backend, which
// cuda/ defines". Preprocessor lines are left to the include check.
std::vector<std::string> names_from_cuda(const fs::path& file, const std::string& text,
                                         const std::set<std::string>& names) {
  static const std::regex identifier(R"(\w+)");
  std::vector<std::string> offences;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    line = line.substr(0, line.find("//"));
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), identifier); it != std::sregex_iterator(); ++it)
      if (names.count(it->str()))
        offences.push_back(file.string() + ":" + std::to_string(number) + ": engine/ names " + it->str() +
                           ", which cuda/ defines");
  }
  return offences;
}

}  // namespace

TEST_CASE("layering: includes run down the layers (app -> models -> autograd -> engine, data -> engine, "
          "cuda -> engine headers)") {
  const fs::path root = HEADCOUNT_SOURCE_DIR;
  const std::vector<fs::path> files = layered_sources(root);
  REQUIRE_MESSAGE(files.size() > 50, "only " << files.size() << " sources found under " << root);
  int offences = 0;
  for (const fs::path& file : files)
    for (const std::string& offence : layering_offences(root, file, hc::test::read_text(root / file))) {
      FAIL_CHECK(offence);
      ++offences;
    }
  MESSAGE(files.size() << " files scanned, " << offences << " includes against the layering");
}

TEST_CASE("layering: engine/ names no function that cuda/ declares (the CUDA backend registers itself)") {
  const fs::path root = HEADCOUNT_SOURCE_DIR;
  const std::set<std::string> names = cuda_function_names(root);
  REQUIRE_MESSAGE(names.count("cuda_backend") == 1, "the scan of cuda/'s headers found no cuda_backend");
  // The scan itself: a declaration is named, a plain function and a comment are not.
  CHECK(names_from_cuda("engine/x.cpp", "Backend& cuda_backend();\nBackend& backend();  // cf. cuda/cuda_backend.cu\n",
                        names) == std::vector<std::string>{"engine/x.cpp:1: engine/ names cuda_backend, which cuda/ defines"});
  for (const fs::path& file : layered_sources(root))
    if (top_dir(file) == "engine")
      for (const std::string& offence : names_from_cuda(file, hc::test::read_text(root / file), names)) FAIL_CHECK(offence);
}

TEST_CASE("layering: the scan names each include against the layering by file and line, and passes the rest") {
  const fs::path root = HEADCOUNT_SOURCE_DIR;
  const std::string text =
      "#include <vector>\n"                   // 1: outside the project
      "#include \"engine/tensor.h\"\n"        // 2: its own layer
      "#include \"autograd/variable.h\"\n"    // 3: upward
      "  #  include \"cuda/cuda_backend.h\"\n"  // 4: engine -> cuda
      "// #include \"app/run.h\"\n"           // 5: a comment, not an include
      "#include <models/allatt_lm.h>\n";      // 6: upward, in angle brackets
  const std::vector<std::string> engine = layering_offences(root, "engine/example.cpp", text);
  REQUIRE(engine.size() == 3);
  CHECK(engine[0] == "engine/example.cpp:3: engine/ includes autograd/variable.h (engine/ may include engine/)");
  CHECK(engine[1].rfind("engine/example.cpp:4: engine/ includes cuda/cuda_backend.h", 0) == 0);
  CHECK(engine[2].rfind("engine/example.cpp:6: engine/ includes models/allatt_lm.h", 0) == 0);

  // A relative include resolves beside the including file: autograd/ops/common.h
  // is autograd's own; ../../app/run.h from there is not.
  CHECK(layering_offences(root, "autograd/ops/example.cpp", "#include \"common.h\"\n").empty());
  const std::vector<std::string> up = layering_offences(root, "autograd/ops/example.cpp", "#include \"../../app/run.h\"\n");
  REQUIRE(up.size() == 1);
  CHECK(up[0].rfind("autograd/ops/example.cpp:1: autograd/ includes app/run.h", 0) == 0);

  // cuda/ may include engine/'s headers, not its sources; tests/ anything.
  CHECK(layering_offences(root, "cuda/example.cu", "#include \"engine/backend.h\"\n").empty());
  CHECK(layering_offences(root, "cuda/example.cu", "#include \"engine/backend.cpp\"\n").size() == 1);
  CHECK(layering_offences(root, "tests/example.cpp", "#include \"cuda/cuda_backend.h\"\n").empty());
}

TEST_CASE("structure: app/ spells out no pruning method's name (method logic lives in models/, behind the registry)") {
  const fs::path root = HEADCOUNT_SOURCE_DIR;
  std::vector<std::string> names;
  for (const hc::MethodInfo& m : hc::pruning_methods()) names.push_back(std::string("\"") + m.name + "\"");
  REQUIRE(names.size() >= 5);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(root / "app")) {
    const std::string text = hc::test::read_text(entry.path());
    ++files;
    for (const std::string& quoted : names)
      if (text.find(quoted) != std::string::npos)
        FAIL_CHECK(entry.path().filename().string() << " has the literal " << quoted);
  }
  CHECK(files > 10);
}

TEST_CASE("structure: no function in app/ or models/ is longer than 80 lines (tools/long-functions.py)") {
  if (!hc::test::python_has("re")) {
    hc::test::skip("function lengths", "no /usr/bin/python3");
    return;
  }
  const std::string root = HEADCOUNT_SOURCE_DIR;
  std::string out;
  // The tool itself: a made-up 81-line function is reported, an 80-line one is not.
  const hc::test::TempDir tmp;
  const std::string& dir = tmp.path();
  for (int lines : {80, 81}) {
    std::ofstream f(dir + "/f" + std::to_string(lines) + ".cpp");
    f << "int f() {\n";
    for (int i = 0; i < lines - 2; ++i) f << "  int x" << i << " = 0;\n";
    f << "}\n";
  }
  CHECK(hc::test::run_command("/usr/bin/python3 " + root + "/tools/long-functions.py " + dir + "/f80.cpp", out) == 0);
  CHECK(hc::test::run_command("/usr/bin/python3 " + root + "/tools/long-functions.py " + dir + "/f81.cpp", out) == 1);
  CHECK(out.find("81 lines") != std::string::npos);
  const int status = hc::test::run_command("/usr/bin/python3 " + root + "/tools/long-functions.py " + root + "/app " +
                                           root + "/models 2>&1",
                                       out);
  CHECK_MESSAGE(status == 0, out);
}
