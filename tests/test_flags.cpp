// Every flag of every command, walked through bad values made from its own
// description (app/commands.cpp): a flag added to a command's table is
// covered here the day it is added. The parser runs in-process; a few cases
// run the binary for the exit status and for --help.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "app/commands.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

CommandLine parse(const std::string& command, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return parse_command_line(command, static_cast<int>(argv.size()), argv.data(), *flags_of(command));
}

// The parser's message for a refused line, or "" if the line is accepted.
std::string refusal(const std::string& command, const std::vector<std::string>& args) {
  try {
    parse(command, args);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

std::string number_text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, std::fabs(v) < 1e16 && v == std::floor(v) ? "%.0f" : "%.17g", v);
  return buf;
}

bool is_special(const Flag& f, const std::string& v) {
  for (const auto& s : f.special)
    if (s.first == v) return true;
  return false;
}

// Values one element of `f` must refuse: wrong type, NaN, infinities, past each end of the range.
std::vector<std::string> bad_values(const Flag& f) {
  std::vector<std::string> bad = {""};
  if (f.type == FlagType::Choice) bad.insert(bad.end(), {"bogus", f.choices[0] + "x", " " + f.choices[0]});
  if (f.type != FlagType::Integer && f.type != FlagType::Real) return bad;
  bad.insert(bad.end(), {"x", "1x", "nan", "NaN", "inf", "-inf", "infinity", "0x10", " 1", "1 ", "--1", "1e999",
                         "-1e999", "99999999999999999999999", "-99999999999999999999999"});
  if (f.type == FlagType::Integer) bad.insert(bad.end(), {"1.5", "1e3", "2.0"});
  const std::string below = f.type == FlagType::Real && f.min_open ? number_text(f.min) : number_text(f.min - 1);
  const std::string above = number_text(f.max + std::max(1.0, f.max * 1e-9));
  for (const std::string& v : {below, above})
    if (!is_special(f, v)) bad.push_back(v);
  return bad;
}

// Values one element of `f` must accept: both ends, the special ones, every choice.
std::vector<std::string> good_values(const Flag& f) {
  std::vector<std::string> good;
  if (f.type == FlagType::Text) good = {"a", "some/path.safetensors"};
  if (f.type == FlagType::Choice) good = f.choices;
  if (f.type == FlagType::Integer || (f.type == FlagType::Real && !f.min_open)) good.push_back(number_text(f.min));
  if (f.type == FlagType::Integer || f.type == FlagType::Real) good.push_back(number_text(f.max));
  for (const auto& s : f.special) good.push_back(s.first);
  return good;
}

// The flag's value as the command line gives it: one element, or a list whose second element is `v`.
std::vector<std::vector<std::string>> spellings(const Flag& f, const std::string& v, const std::string& good) {
  std::vector<std::vector<std::string>> out = {{"--" + f.name, v}, {"--" + f.name + "=" + v}};
  if (f.list && !v.empty()) out.push_back({"--" + f.name, good + "," + v});
  return out;
}

void check_refused(const std::string& command, const Flag& f, const std::vector<std::string>& args) {
  const std::string line = args.size() == 1 ? args[0] : args[0] + " '" + args[1] + "'";
  CAPTURE(command);
  CAPTURE(line);
  const std::string message = refusal(command, args);
  CAPTURE(message);
  CHECK(message.find("--" + f.name) != std::string::npos);
  CHECK(message.find(allowed_values(f)) != std::string::npos);
}

}  // namespace

TEST_CASE("flags: every command's table is consistent, and every default passes its own check") {
  for (const CommandFlags& c : command_flags()) {
    std::set<std::string> names;
    for (const Flag& f : c.flags) {
      CAPTURE(c.name);
      CAPTURE(f.name);
      CHECK(names.insert(f.name).second);
      CHECK(!f.help.empty());
      CHECK(f.min <= f.max);
      CHECK((f.type == FlagType::Switch) == f.metavar.empty());
      if (f.type == FlagType::Choice) CHECK(!f.choices.empty());
      if (!f.fallback.empty()) CHECK_NOTHROW(check_flag_value(f, f.fallback));
    }
    CHECK(names.count("help") == 1);
  }
}

TEST_CASE("flags: every numeric, choice and text flag of every command refuses bad values, naming the range") {
  for (const CommandFlags& c : command_flags())
    for (const Flag& f : c.flags) {
      if (f.type == FlagType::Switch) continue;
      const std::string good = good_values(f).front();
      for (const std::string& v : bad_values(f))
        for (const std::vector<std::string>& args : spellings(f, v, good)) check_refused(c.name, f, args);
      // A missing value: the end of the line, or another flag where the value should be.
      check_refused(c.name, f, {"--" + f.name});
      check_refused(c.name, f, {"--" + f.name, "--help"});
      if (!f.list) continue;
      check_refused(c.name, f, {"--" + f.name, good + ",," + good});
      check_refused(c.name, f, {"--" + f.name, good + ","});
      std::string many = good;
      for (size_t i = 0; i < (f.max_items ? f.max_items : kMaxListItems); ++i) many += "," + good;
      check_refused(c.name, f, {"--" + f.name, many});
      if (f.unique) check_refused(c.name, f, {"--" + f.name, good + "," + good});
    }
}

TEST_CASE("flags: every flag accepts the ends of its range, its special values and its default") {
  for (const CommandFlags& c : command_flags())
    for (const Flag& f : c.flags) {
      CAPTURE(c.name);
      CAPTURE(f.name);
      if (f.type == FlagType::Switch) {
        CHECK(refusal(c.name, {"--" + f.name}) == "");
        CHECK(refusal(c.name, {"--" + f.name + "=1"}).find("takes no value") != std::string::npos);
        continue;
      }
      for (const std::string& v : good_values(f)) {
        CAPTURE(v);
        CHECK(refusal(c.name, {"--" + f.name, v}) == "");
        CHECK(refusal(c.name, {"--" + f.name + "=" + v}) == "");
      }
      if (f.fallback.empty()) continue;
      const CommandLine cl = parse(c.name, {});  // the default, through the typed accessors
      if (f.type == FlagType::Integer && !f.list) CHECK(cl.integer(f.name) == std::stoll(f.fallback));
      if (f.type == FlagType::Real && !f.list) CHECK(cl.real(f.name) == std::stod(f.fallback));
      if (f.type == FlagType::Integer && f.list) CHECK(!cl.integers(f.name).empty());
      if (f.type == FlagType::Real && f.list) CHECK(!cl.reals(f.name).empty());
      CHECK(!cl.has(f.name));
    }
}

TEST_CASE("flags: unknown flags and stray words are refused; a repeated flag keeps its last value, --set all") {
  for (const CommandFlags& c : command_flags()) {
    CAPTURE(c.name);
    CHECK(refusal(c.name, {"--bogus"}).find("unknown argument '--bogus'") != std::string::npos);
    CHECK(refusal(c.name, {"stray"}).find("unknown argument 'stray'") != std::string::npos);
    CHECK(refusal(c.name, {"-"}).find("unknown argument") != std::string::npos);
    CHECK(refusal(c.name, {""}).find("unknown argument") != std::string::npos);
    CHECK(parse(c.name, {"--help", "-h"}).help);
    for (const Flag& f : c.flags) {
      if (f.type == FlagType::Switch || f.repeatable) continue;
      const std::vector<std::string> good = good_values(f);
      CAPTURE(f.name);
      const CommandLine cl = parse(c.name, {"--" + f.name, good.front(), "--" + f.name + "=" + good.back()});
      if (cl.has(f.name)) CHECK(cl.get(f.name, "") == good.back());  // shared flags fill their own fields
      // Each value is checked, the overridden one too.
      check_refused(c.name, f, {"--" + f.name, bad_values(f).front(), "--" + f.name, good.back()});
    }
  }
  const CommandLine cl = parse("train", {"--set", "a=1", "--set=b=2", "--threads", "3", "--device=cuda", "--resume"});
  CHECK(cl.sets == std::vector<std::string>{"a=1", "b=2"});
  CHECK(cl.threads == 3);
  CHECK(cl.device == Device::CUDA);
  CHECK(cl.has("resume"));
  CHECK(refusal("heatmap", {"--device", "cpu"}).find("unknown argument '--device'") != std::string::npos);
  CHECK(refusal("train", {"--from", "x.safetensors"}).find("unknown argument '--from'") != std::string::npos);
}

TEST_CASE("flags: the typed accessors read what was given") {
  const CommandLine g = parse("generate", {"--tokens", "7", "--temperature=0.25", "--top-k", "0", "--seed",
                                           "9007199254740991", "--prompt", "--not a flag"});
  CHECK(g.integer("tokens") == 7);
  CHECK(g.real("temperature") == 0.25);
  CHECK(g.integer("top-k") == 0);
  CHECK(g.integer("seed") == 9007199254740991LL);
  CHECK(g.text("prompt") == "--not a flag");
  const CommandLine c = parse("compare", {"--budgets", "0.5,1", "--seeds", "3,1", "--methods", "l0,random"});
  CHECK(c.reals("budgets") == std::vector<double>{0.5, 1.0});
  CHECK(c.integers("seeds") == std::vector<int64_t>{3, 1});
  CHECK(c.items("methods") == std::vector<std::string>{"l0", "random"});
  CHECK_THROWS_AS(c.integer("tokens"), std::logic_error);  // a flag compare does not have
}

TEST_CASE("flags: --help of every command lists exactly the flags it accepts") {
  const std::regex option("^  --([a-z0-9-]+)"), mention("--([a-z0-9][a-z0-9-]*)");
  for (const CommandFlags& c : command_flags()) {
    CAPTURE(c.name);
    std::string out;
    REQUIRE(test::run_headcount(c.name + " --help", out) == 0);
    std::set<std::string> accepted, listed;
    for (const Flag& f : c.flags) accepted.insert(f.name);
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, option)) listed.insert(m[1]);
      for (std::sregex_iterator it(line.begin(), line.end(), mention), end; it != end; ++it) {
        const std::string named = (*it)[1];
        CAPTURE(line);
        CHECK(accepted.count(named) == 1);  // no flag documented that the command refuses
      }
    }
    CHECK(listed == accepted);
    std::string words;  // the help text unwrapped, to find a range that spans two lines
    std::istringstream w(out);
    for (std::string word; w >> word;) words += (words.empty() ? "" : " ") + word;
    for (const Flag& f : c.flags)
      if (f.type != FlagType::Switch && f.type != FlagType::Text) {
        CAPTURE(f.name);
        CHECK(words.find(allowed_values(f)) != std::string::npos);
      }
  }
}

TEST_CASE("flags: the binary exits 2 naming the flag and its range, before loading anything") {
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {"generate --from none.safetensors --top-k -3", "--top-k: '-3' is out of range; allowed: an integer in 1..1000000, or 0 = all tokens"},
      {"generate --from none.safetensors --temperature inf", "--temperature: 'inf' is not a finite decimal number"},
      {"generate --from none.safetensors --temperature 1e999", "allowed: a number in (0, 100]"},
      {"generate --from none.safetensors --tokens -5", "--tokens: '-5' is out of range; allowed: an integer in 1..1000000"},
      {"bench --config none.json --batches 1,0,16", "--batches: value 2 of '1,0,16': '0' is out of range"},
      {"compare --dense a --out b --config c --seeds 1,-2", "--seeds: value 2 of '1,-2': '-2' is out of range"},
      {"eval --from none.safetensors --split dev", "--split: 'dev' is not a choice; allowed: one of valid, test, train"},
      {"train --config none.json --threads 0", "--threads: '0' is out of range; allowed: an integer in 1..1024"},
      {"heatmap --metrics m --out o --columns nan", "--columns: 'nan' is not an integer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    std::string out;
    CHECK(test::run_headcount(c.args, out) == 2);
    CAPTURE(out);
    CHECK(out.find(c.words) != std::string::npos);
  }
}
