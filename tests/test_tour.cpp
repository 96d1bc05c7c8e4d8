// docs/tour.md cannot rot: every stop it names is checked against the code.
//
// A stop is a numbered list item that starts with two code spans joined by
// `::`, a file and a marker in it:
//
//   3. `autograd/variable.cpp` :: `make_result` — what to notice there.
//
// The file must exist (relative to the repository root). A marker that looks
// like a C++ name (`make_result`, `Variable::backward`, `Node::~Node`) must
// occur in the file as a whole word; any other marker (a comment, a test
// case's name, `part.next("qkv")`) must occur verbatim. Every numbered item
// of a path or a checklist must be a stop, so a stop written in some other
// form cannot slip past the check. Every other code span of the page that
// names a repository path must name one that exists.
//
// The files are read from the source tree (HEADCOUNT_SOURCE_DIR).
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = HEADCOUNT_SOURCE_DIR;

struct Stop {
  int line = 0;         // in the page
  std::string section;  // the "## ..." heading it is under
  int number = 0;       // its number in the list
  std::string file, marker;
};

struct Tour {
  std::vector<Stop> stops;
  std::vector<std::string> errors;  // items that look like stops but are not
  std::vector<std::pair<int, std::string>> paths;  // other code spans that name a repository path
};

// Sections whose numbered items must all be stops.
bool stop_section(const std::string& heading) {
  return heading.rfind("## Path ", 0) == 0 || heading.rfind("## How to ", 0) == 0;
}

// A code span that names a file or folder of the repository: it starts with
// one of the top-level folders. Templates (NAME, *) are left out.
bool names_repository_path(const std::string& span) {
  static const std::regex path(R"(^(app|autograd|bench|configs|cuda|data|docs|engine|models|python|tests|tools)/[A-Za-z0-9_./-]*$)");
  return std::regex_match(span, path) && span.find("NAME") == std::string::npos;
}

Tour parse_tour(const std::string& text) {
  static const std::regex item(R"(^([0-9]+)\. (.*)$)");
  static const std::regex stop(R"(^`([^`]+)` :: `([^`]+)`)");
  static const std::regex span(R"(`([^`]+)`)");
  Tour tour;
  std::istringstream in(text);
  std::string line, section;
  int number = 0;
  bool fenced = false;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    if (line.rfind("## ", 0) == 0) section = line;
    std::smatch m;
    bool is_stop = false;
    if (std::regex_match(line, m, item) && stop_section(section)) {
      const int n = std::stoi(m[1]);
      const std::string rest = m[2];
      std::smatch s;
      if (std::regex_search(rest, s, stop)) {
        tour.stops.push_back({number, section, n, s[1], s[2]});
        is_stop = true;
      } else {
        tour.errors.push_back("line " + std::to_string(number) + ": item " + std::to_string(n) + " of '" + section +
                              "' is not a stop (`file` :: `marker`)");
      }
    }
    for (auto it = std::sregex_iterator(line.begin(), line.end(), span); it != std::sregex_iterator(); ++it) {
      const std::string s = (*it)[1];
      if (is_stop && (s == tour.stops.back().file || s == tour.stops.back().marker)) continue;
      if (names_repository_path(s)) tour.paths.emplace_back(number, s);
    }
  }
  return tour;
}

bool is_name(const std::string& marker) {
  static const std::regex name(R"(^[A-Za-z_][A-Za-z0-9_]*(::~?[A-Za-z_][A-Za-z0-9_]*)*$)");
  return std::regex_match(marker, name);
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Whether `marker` occurs in `text`: as a whole word if it is a name, else verbatim.
bool occurs(const std::string& text, const std::string& marker) {
  if (!is_name(marker)) return text.find(marker) != std::string::npos;
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const bool starts = at == 0 || !word_char(text[at - 1]);
    const bool ends = at + marker.size() == text.size() || !word_char(text[at + marker.size()]);
    if (starts && ends) return true;
  }
  return false;
}

// What is wrong with a stop ("" if nothing).
std::string check_stop(const Stop& s, const fs::path& root) {
  const fs::path f = root / s.file;
  if (!fs::is_regular_file(f)) return s.file + " does not exist";
  if (!occurs(hc::test::read_text(f), s.marker)) return "'" + s.marker + "' does not occur in " + s.file;
  return "";
}

}  // namespace

TEST_CASE("tour: every stop names a file that exists and a marker inside it") {
  const std::string page = hc::test::read_text(kRoot / "docs/tour.md");
  REQUIRE_FALSE(page.empty());
  const Tour tour = parse_tour(page);
  for (const std::string& e : tour.errors) FAIL_CHECK("docs/tour.md " << e);
  for (const Stop& s : tour.stops) {
    const std::string problem = check_stop(s, kRoot);
    if (!problem.empty()) FAIL_CHECK("docs/tour.md:" << s.line << ": stop " << s.number << " of '" << s.section << "': " << problem);
  }
  for (const std::pair<int, std::string>& p : tour.paths)
    if (!fs::exists(kRoot / p.second)) FAIL_CHECK("docs/tour.md:" << p.first << ": " << p.second << " does not exist");
  MESSAGE(tour.stops.size() << " stops and " << tour.paths.size() << " other paths checked");
}

TEST_CASE("tour: five reading paths and two checklists, each numbered 1, 2, 3, ...") {
  const Tour tour = parse_tour(hc::test::read_text(kRoot / "docs/tour.md"));
  std::vector<std::string> sections;
  std::vector<int> counts;
  for (const Stop& s : tour.stops) {
    if (sections.empty() || sections.back() != s.section) {
      sections.push_back(s.section);
      counts.push_back(0);
    }
    ++counts.back();
    CHECK_MESSAGE(s.number == counts.back(), "docs/tour.md:" << s.line << ": stop numbered " << s.number << ", expected "
                                                             << counts.back());
  }
  int paths = 0, checklists = 0;
  for (size_t i = 0; i < sections.size(); ++i) {
    CAPTURE(sections[i]);
    if (sections[i].rfind("## Path ", 0) == 0) {
      ++paths;
      CHECK(counts[i] >= 5);  // a path worth the name
    } else {
      ++checklists;
    }
  }
  CHECK(paths == 5);
  CHECK(checklists == 2);
  // Each checklist ends with the test that proves the addition works.
  for (size_t i = 0; i < tour.stops.size(); ++i) {
    const Stop& s = tour.stops[i];
    const bool last_of_section = i + 1 == tour.stops.size() || tour.stops[i + 1].section != s.section;
    if (last_of_section && s.section.rfind("## How to ", 0) == 0)
      CHECK_MESSAGE(s.file.rfind("tests/", 0) == 0, s.section << " ends with " << s.file << ", not a test");
  }
}

TEST_CASE("tour: the checker catches a missing file, a missing marker and an item that is not a stop") {
  // A page made up for the checker, against this repository's files.
  const std::string page =
      "## Path 1: made up\n"
      "1. `autograd/variable.cpp` :: `make_result` — fine.\n"
      "2. `autograd/variable.cpp` :: `make_resul` — a part of a name is not the name.\n"
      "3. `autograd/no_such_file.cpp` :: `make_result` — no file.\n"
      "4. `autograd/variable.cpp` :: `Variable::backward` — fine, a qualified name.\n"
      "5. `autograd/variable.cpp` :: `ordering by a loop` — no such comment.\n"
      "6. autograd/variable.cpp, make_result — no code spans: not a stop.\n"
      "See `models/no_such_dir/x.h` too.\n"
      "```\n"
      "1. inside a code block: ignored\n"
      "```\n"
      "## Other\n"
      "1. a numbered item outside a path is prose.\n";
  const Tour tour = parse_tour(page);
  REQUIRE(tour.stops.size() == 5);
  CHECK(check_stop(tour.stops[0], kRoot).empty());
  CHECK(check_stop(tour.stops[1], kRoot) == "'make_resul' does not occur in autograd/variable.cpp");
  CHECK(check_stop(tour.stops[2], kRoot) == "autograd/no_such_file.cpp does not exist");
  CHECK(check_stop(tour.stops[3], kRoot).empty());
  CHECK(check_stop(tour.stops[4], kRoot) == "'ordering by a loop' does not occur in autograd/variable.cpp");
  REQUIRE(tour.errors.size() == 1);
  CHECK(tour.errors[0].find("item 6") != std::string::npos);
  REQUIRE(tour.paths.size() == 1);
  CHECK(tour.paths[0].second == "models/no_such_dir/x.h");
  // A marker that is not a name is found verbatim, spaces and all.
  CHECK(occurs("  // Reverse topological order by an iterative", "Reverse topological order"));
  CHECK_FALSE(occurs("forward_backward(r)", "forward"));
  CHECK(occurs("int forward(int)", "forward"));
}

TEST_CASE("tour: the README's first screen starts with make demo and make test, then points to the tour") {
  std::istringstream in(hc::test::read_text(kRoot / "README.md"));
  std::vector<std::string> first;  // a screen: the first 24 lines
  for (std::string line; first.size() < 24 && std::getline(in, line);) first.push_back(line);
  int demo = -1, test = -1, tour = -1;
  for (int i = 0; i < static_cast<int>(first.size()); ++i) {
    if (demo < 0 && first[i].rfind("make demo", 0) == 0) demo = i;
    if (test < 0 && first[i].rfind("make test", 0) == 0) test = i;
    if (tour < 0 && first[i].find("](docs/tour.md)") != std::string::npos) tour = i;
  }
  CHECK(demo >= 0);
  CHECK(test > demo);
  CHECK(tour > test);
  // No other command comes before the two.
  for (int i = 0; i < demo; ++i) CHECK_MESSAGE(first[i].rfind("make ", 0) != 0, "README line " << i + 1);
}
