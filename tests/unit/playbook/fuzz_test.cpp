#include <doctest/doctest.h>

#include <random>

#include "playbook/condition.hpp"
#include "playbook/embedded.hpp"
#include "playbook/playbook.hpp"
#include "run/verbs.hpp"
#include "playbook/template.hpp"

using namespace ir::playbook;

namespace {

// Feeds one input through every entry point; a parse either succeeds or explains itself with
// well-formed diagnostics. Exceptions must not escape (yaml-cpp and nlohmann both throw).
void exercise(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  ir::Result<Playbook> r = ir::fail(ir::Errc::failure, "not run");
  REQUIRE_NOTHROW(r = parse_playbook(text, "fuzz.yaml", ir::run::step_types(), &diagnostics));
  if (!r) {
    CHECK(r.error().code == ir::Errc::invalid);
    REQUIRE_FALSE(diagnostics.empty());
    for (const auto& d : diagnostics) {
      CHECK(d.pos.line >= 1);
      CHECK(d.pos.column >= 1);
      CHECK_FALSE(d.message.empty());
      CHECK(d.message.find('\n') == std::string::npos);
    }
    return;
  }
  CHECK(diagnostics.empty());
  const nlohmann::json scope = {{"pod", "web-1"},
                                {"namespace", "shop"},
                                {"case", "c"},
                                {"params", nlohmann::json::object()},
                                {"steps", nlohmann::json::object()},
                                {"item", {{"name", "x"}}}};
  const auto visit = [&](const auto& self, const std::vector<Step>& steps) -> void {
    for (const auto& s : steps) {
      CHECK_NOTHROW((void)render(s.with, scope));
      if (!s.when.empty()) CHECK_NOTHROW((void)evaluate_condition(s.when, scope));
      self(self, s.steps);
    }
  };
  visit(visit, r->steps);
  CHECK_NOTHROW((void)resolve_params(*r, {{"x", "1"}}));
}

std::string mutate(std::string text, std::mt19937& rng) {
  static const std::vector<std::string> k_pieces = {"{",
                                                    "}",
                                                    "[",
                                                    "]",
                                                    ":",
                                                    ",",
                                                    "- ",
                                                    "&a ",
                                                    "*a",
                                                    "!!str ",
                                                    "!!int ",
                                                    "|",
                                                    ">",
                                                    "'",
                                                    "\"",
                                                    "#",
                                                    "%",
                                                    "@",
                                                    "`",
                                                    "\t",
                                                    "\n",
                                                    "\r\n",
                                                    " ",
                                                    "  ",
                                                    "\\",
                                                    "{{",
                                                    "}}",
                                                    "{{ item.name }}",
                                                    "{{ steps.x.y }}",
                                                    "{{ params.",
                                                    "~",
                                                    "null",
                                                    "true",
                                                    "0x",
                                                    "1e9",
                                                    "-",
                                                    "---\n",
                                                    "...\n",
                                                    "? ",
                                                    "\xff",
                                                    "\xc3",
                                                    std::string(1, '\0'),
                                                    "for_each",
                                                    "steps:",
                                                    "with:",
                                                    "when: ",
                                                    "uses: ",
                                                    "id: ",
                                                    "items: ",
                                                    "(",
                                                    ")",
                                                    "and ",
                                                    "not ",
                                                    "==",
                                                    ">"};
  const auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const int edits = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < edits && !text.empty(); ++i) {
    const std::size_t at = pick(text.size());
    switch (pick(5)) {
      case 0:
        text.erase(at, 1 + pick(16));
        break;
      case 1:
        text.insert(at, k_pieces[pick(k_pieces.size())]);
        break;
      case 2:
        text[at] = static_cast<char>(pick(256));
        break;
      case 3: {  // duplicate a line
        const std::size_t start = text.rfind('\n', at);
        const std::size_t end = text.find('\n', at);
        const std::size_t from = start == std::string::npos ? 0 : start + 1;
        text.insert(from, text.substr(from, (end == std::string::npos ? text.size() : end + 1) - from));
        break;
      }
      default: {  // swap two regions
        const std::size_t other = pick(text.size());
        const std::size_t n = std::min<std::size_t>(1 + pick(24), text.size() - std::max(at, other));
        std::string a = text.substr(at, n);
        std::string b = text.substr(other, n);
        text.replace(at, n, b);
        text.replace(other, n, a);
        break;
      }
    }
  }
  return text;
}

}  // namespace

TEST_CASE("playbook::parse_playbook: random mutations of the shipped playbooks never throw") {
  std::mt19937 rng(20261121);  // fixed: a failure reproduces
  int parsed = 0;
  int rejected = 0;
  for (int round = 0; round < 300; ++round) {
    for (const auto& p : embedded_playbooks()) {
      const std::string text = mutate(std::string(p.text), rng);
      CAPTURE(text);
      exercise(text);
      (parse_playbook(text, "f.yaml", ir::run::step_types()) ? parsed : rejected)++;
    }
  }
  CHECK(parsed > 0);  // some mutations land in comments or descriptions
  CHECK(rejected > 0);
}

TEST_CASE("playbook::parse_playbook: hostile inputs") {
  std::string alias_bomb = "name: x\ndescription: d\nl0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    alias_bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
    for (int j = 0; j < 9; ++j) alias_bomb += ", " + prev;
    alias_bomb += "]\n";
  }
  alias_bomb += "steps: [{id: a, uses: wait, with: {duration: 1s}}]\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a: " + std::string(100000, '['), "fuzz.yaml:1:1: yaml: nested too deeply"},
      {"a: " + std::string(100, '[') + std::string(100, ']'), "fuzz.yaml:1:68: yaml: nested deeper than 64 levels"},
      // yaml-cpp 0.7's LoadAll loops forever on these (jbeder/yaml-cpp#1040)
      {",", "fuzz.yaml:1:1: yaml: a playbook is one YAML document; another one starts here"},
      {"name: x\n---\n, and more\n", "fuzz.yaml:2:1: yaml: a playbook is one YAML document; another one starts here"},
      // yaml-cpp quotes the offending byte raw
      {"a: \"x\\\x1b[31m\"\n", R"(fuzz.yaml:1:8: yaml: unknown escape character: \x1b)"},
      {alias_bomb, "fuzz.yaml:3:10: yaml: more than 100000 nodes (aliases expanding?)"},
      {"a: &x [1, *x]\n", "fuzz.yaml:1:8: yaml: nested deeper than 64 levels"},
      {std::string(2 << 20, '#'), "fuzz.yaml:1:1: playbook is larger than 1 MiB"},
      {"\xef\xbb\xbfname: bom\ndescription: d\nsteps: [{id: a, uses: wait, with: {duration: 1s}}]\n", ""},
      {"name: x\ndescription: d\nsteps: [{id: a, uses: \"\xc3\x28\"}]\n",
       R"(fuzz.yaml:3:23: unknown step type "\xc3(" (one of: isolate, release, collect, siblings, drift, baseline, exec, label, annotate, cordon, logs, wait, sign, upload, for_each))"},
      {"name: x\ndescription: d\nsteps: [{id: a, uses: wait, with: {duration: 1s}, when: \"{{" +
           std::string(5000, '(') + "}}\"}]\n",
       R"(fuzz.yaml:3:58: condition of step "a" does not parse: condition is longer than 4096 bytes)"},
      {"name: x\ndescription: d\nsteps: [{id: a, uses: wait, with: {duration: 1s}, when: \"" + std::string(200, '(') +
           "\"}]\n",
       R"(fuzz.yaml:3:122: condition of step "a" does not parse: condition nests too deeply)"},
  };
  for (const auto& [text, expected] : cases) {
    CAPTURE(expected);
    exercise(text);
    std::vector<Diagnostic> diagnostics;
    (void)parse_playbook(text, "fuzz.yaml", ir::run::step_types(), &diagnostics);
    CHECK((diagnostics.empty() ? "" : diagnostics.front().to_string()) == expected);
  }
}
