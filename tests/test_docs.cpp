// The repository stands alone: a reader who clones it can follow every
// reference in it. Nothing points into the team's folder beside the
// repository, every relative Markdown link names a file that exists, every
// page of docs/ is listed in docs/index.md, and every "docs/spec.md section N"
// that a comment cites is a numbered section of docs/spec.md.
//
// The files are read straight from the source tree (HEADCOUNT_SOURCE_DIR), so
// the test needs no git and runs the same in a checkout or an unpacked copy.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = HEADCOUNT_SOURCE_DIR;

// The top-level folders and files under version control (.ci/ is left out:
// CI runs beside the team's folder on purpose).
const char* const kDirs[] = {"app",  "autograd", "bench", "configs", "cuda",  "data",
                             "docs", "engine",   "models", "python", "tests", "tools"};
const char* const kFiles[] = {"README.md", "Makefile", "CMakeLists.txt"};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Build outputs, fetched corpora and caches are not part of the repository.
bool skipped_dir(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string rel = fs::relative(p, kRoot).generic_string();
  return name.rfind("build", 0) == 0 || name == ".git" || name == "__pycache__" || rel == "data/corpora" ||
         rel == "data/cache" || rel == "bench/results";
}

// Every file the repository holds, as paths under kRoot.
std::vector<fs::path> repository_files() {
  std::vector<fs::path> files;
  for (const char* f : kFiles)
    if (fs::is_regular_file(kRoot / f)) files.push_back(kRoot / f);
  for (const char* d : kDirs) {
    if (!fs::is_directory(kRoot / d)) continue;
    for (auto it = fs::recursive_directory_iterator(kRoot / d); it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_directory() && skipped_dir(it->path())) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path());
    }
  }
  return files;
}

// README.md and the pages of docs/.
std::vector<fs::path> markdown_pages() {
  std::vector<fs::path> pages{kRoot / "README.md"};
  for (const auto& e : fs::directory_iterator(kRoot / "docs"))
    if (e.is_regular_file() && e.path().extension() == ".md") pages.push_back(e.path());
  return pages;
}

// The targets of the inline links `](target)` of a Markdown page, outside
// fenced code blocks, with their line numbers.
std::vector<std::pair<int, std::string>> links_of(const std::string& text) {
  std::vector<std::pair<int, std::string>> links;
  bool fenced = false;
  int number = 0;
  for (const std::string& line : lines_of(text)) {
    ++number;
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    for (size_t at = line.find("]("); at != std::string::npos; at = line.find("](", at + 2)) {
      const size_t end = line.find(')', at + 2);
      if (end == std::string::npos) break;
      links.emplace_back(number, line.substr(at + 2, end - at - 2));
    }
  }
  return links;
}

}  // namespace

TEST_CASE("docs: no file of the repository points into the folder beside it") {
  // Spelled in two parts so that this file does not match itself.
  const std::string outside = std::string("..") + "/shared";
  const std::vector<fs::path> files = repository_files();
  // The walk found the repository (a wrong root would pass vacuously).
  REQUIRE(files.size() > 100);
  int hits = 0;
  for (const fs::path& f : files) {
    int number = 0;
    for (const std::string& line : lines_of(hc::test::read_text(f))) {
      ++number;
      if (line.find(outside) == std::string::npos) continue;
      ++hits;
      FAIL_CHECK(fs::relative(f, kRoot).generic_string() << ":" << number << ": " << line);
    }
  }
  MESSAGE(files.size() << " files read, " << hits << " references to " << outside);
  CHECK(hits == 0);
}

TEST_CASE("docs: every relative link in README.md and docs/ names a file that exists") {
  int checked = 0;
  for (const fs::path& page : markdown_pages()) {
    for (const auto& [number, raw] : links_of(hc::test::read_text(page))) {
      std::string target = raw.substr(0, raw.find(' '));  // drop a "title"
      if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0 || target.rfind("mailto:", 0) == 0)
        continue;
      target = target.substr(0, target.find('#'));  // drop an #anchor
      if (target.empty()) continue;                 // a link within the page
      ++checked;
      const fs::path resolved = page.parent_path() / target;
      if (!fs::exists(resolved))
        FAIL_CHECK(fs::relative(page, kRoot).generic_string() << ":" << number << ": link to " << raw
                                                                   << ", which does not exist");
    }
  }
  MESSAGE(checked << " relative links checked");
  CHECK(checked >= 5);  // docs/index.md alone links to every page
}

TEST_CASE("docs: docs/index.md lists every page of docs/") {
  REQUIRE(fs::is_regular_file(kRoot / "docs/index.md"));
  std::set<std::string> listed;
  for (const auto& [number, target] : links_of(hc::test::read_text(kRoot / "docs/index.md"))) listed.insert(target);
  for (const fs::path& page : markdown_pages()) {
    const std::string name = page.filename().string();
    if (page.parent_path() != kRoot / "docs" || name == "index.md") continue;
    if (!listed.count(name)) FAIL_CHECK("docs/index.md does not link to " << name);
  }
}

TEST_CASE("docs: every 'docs/spec.md section N' cited in the repository is a section of docs/spec.md") {
  // The numbered sections: headings "## N. Title".
  std::set<int> sections;
  const std::regex heading(R"(^## ([0-9]+)\. )");
  for (const std::string& line : lines_of(hc::test::read_text(kRoot / "docs/spec.md"))) {
    std::smatch m;
    if (line.rfind("## ", 0) == 0 && std::regex_search(line, m, heading)) sections.insert(std::stoi(m[1]));
  }
  REQUIRE(sections.size() >= 10);
  // Cited as "section N", "sections N, M and K" or "sections N-M", the file
  // name possibly a Markdown link.
  const std::regex cite(R"(spec\.md(?:\]\([^)]*\))? sections? ([0-9]+(?:(?:, | and |-)[0-9]+)*))");
  const std::regex number(R"([0-9]+)");
  int citations = 0;
  for (const fs::path& f : repository_files()) {
    int line_number = 0;
    for (const std::string& line : lines_of(hc::test::read_text(f))) {
      ++line_number;
      if (line.find("spec.md") == std::string::npos) continue;  // std::regex is slow on long lines
      for (auto m = std::sregex_iterator(line.begin(), line.end(), cite); m != std::sregex_iterator(); ++m) {
        const std::string list = (*m)[1];
        for (auto n = std::sregex_iterator(list.begin(), list.end(), number); n != std::sregex_iterator(); ++n) {
          ++citations;
          if (!sections.count(std::stoi(n->str())))
            FAIL_CHECK(fs::relative(f, kRoot).generic_string() << ":" << line_number << ": cites section "
                                                                    << n->str() << ", which docs/spec.md lacks");
        }
      }
    }
  }
  MESSAGE(citations << " section citations checked against " << sections.size() << " sections");
  CHECK(citations >= 10);
}
