#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "playbook/playbook.hpp"
#include "run/verbs.hpp"

using namespace ir::playbook;
using nlohmann::json;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path corpus(const char* sub) {
  return std::filesystem::path(IR_TESTDATA_DIR) / "playbooks" / sub;
}

// The diagnostics of a playbook, one "file:line:col: message" line each, or "(parsed)".
std::string problems(std::string_view text, const std::string& file = "t.yaml") {
  std::vector<Diagnostic> diagnostics;
  const auto r = parse_playbook(text, file, ir::run::step_types(), &diagnostics);
  std::string lines;
  for (const auto& d : diagnostics) lines += d.to_string() + "\n";
  return r ? "(parsed)" : lines;
}

std::string pos(Position p) {
  return std::to_string(p.line) + ":" + std::to_string(p.column);
}

const char* const k_full = R"(# every field
name: full
description: Every field of the format
params:
  ingress:
    type: bool
    default: false
    description: deny ingress too
  collector:
    type: string
    required: true
  parallel: {type: int, default: 2}
  cidrs: {type: list, default: [10.0.0.0/8]}
steps:
  - id: isolate
    description: contain it
    uses: isolate
    with: {ingress: "{{ params.ingress }}", allow_dns: true, allow_egress: "{{ params.cidrs }}", probe: 10.0.0.1:53}
    when: "params.ingress == false"
    on_error: continue
    timeout: 1m30s
  - id: collect
    uses: collect
    with:
      pod: 1234
      fs: archive
      paths: [/tmp, "/var/{{ case }}"]
      max_log_bytes: 1048576
      max_file_bytes: 64Mi
  - id: contain
    uses: for_each
    timeout: 2h
    with:
      items: "{{ steps.siblings_none }}"
      parallel: 2
      steps:
        - {id: isolate_sibling, uses: isolate, with: {pod: "{{ item.name }}", namespace: "{{ item.namespace }}"}}
        - id: mark
          uses: label
          with: {labels: {kubectl-ir/finding: miner, gone: null, count: 3}}
)";

}  // namespace

TEST_CASE("playbook::parse_playbook: every field into the model") {
  std::string text = k_full;
  text.replace(text.find("steps.siblings_none"), 19, "params.cidrs");
  const auto r = parse_playbook(text, "full.yaml", ir::run::step_types());
  REQUIRE_MESSAGE(r, r.error().message);
  const Playbook& p = *r;
  CHECK(p.name == "full");
  CHECK(p.description == "Every field of the format");
  CHECK(p.file == "full.yaml");

  REQUIRE(p.params.size() == 4);
  CHECK(p.params[0].name == "ingress");
  CHECK(p.params[0].type == ParamType::boolean);
  CHECK(p.params[0].default_value == false);
  CHECK(p.params[0].description == "deny ingress too");
  CHECK(pos(p.params[0].pos) == "5:3");
  CHECK(p.params[1].required);
  CHECK(p.params[1].default_value.is_null());
  CHECK(p.params[2].type == ParamType::integer);
  CHECK(p.params[2].default_value == 2);
  CHECK(p.params[3].type == ParamType::list);
  CHECK(p.params[3].default_value == json::array({"10.0.0.0/8"}));

  REQUIRE(p.steps.size() == 3);
  const Step& isolate = p.steps[0];
  CHECK(isolate.id == "isolate");
  CHECK(isolate.uses == "isolate");
  CHECK(isolate.description == "contain it");
  CHECK(isolate.with == json{{"ingress", "{{ params.ingress }}"},
                             {"allow_dns", true},
                             {"allow_egress", "{{ params.cidrs }}"},
                             {"probe", "10.0.0.1:53"}});
  CHECK(isolate.when == "params.ingress == false");
  CHECK(isolate.on_error == OnError::continue_);
  CHECK(isolate.timeout == std::chrono::seconds(90));
  CHECK(pos(isolate.pos) == "15:5");
  CHECK(isolate.steps.empty());

  const Step& collect = p.steps[1];
  CHECK(collect.on_error == OnError::abort);
  CHECK(collect.timeout == std::chrono::seconds(0));
  CHECK(collect.when.empty());
  // Strings stay strings, a number for a string option is its text, a literal size its decimal text.
  CHECK(collect.with == json{{"pod", "1234"},
                             {"fs", "archive"},
                             {"paths", {"/tmp", "/var/{{ case }}"}},
                             {"max_log_bytes", "1048576"},
                             {"max_file_bytes", "64Mi"}});

  const Step& contain = p.steps[2];
  CHECK(contain.uses == "for_each");
  CHECK(contain.timeout == std::chrono::hours(2));
  CHECK(contain.with == json{{"items", "{{ params.cidrs }}"}, {"parallel", 2}});  // steps moved out
  REQUIRE(contain.steps.size() == 2);
  CHECK(contain.steps[0].id == "isolate_sibling");
  CHECK(pos(contain.steps[0].pos) == "37:11");
  CHECK(contain.steps[0].with == json{{"pod", "{{ item.name }}"}, {"namespace", "{{ item.namespace }}"}});
  CHECK(contain.steps[1].with ==
        json{{"labels", {{"kubectl-ir/finding", "miner"}, {"gone", nullptr}, {"count", "3"}}}});

  CHECK(find_step(p, "mark") == &contain.steps[1]);
  CHECK(find_step(p, "collect") == &p.steps[1]);
  CHECK(find_step(p, "nope") == nullptr);
}

TEST_CASE("playbook::parse_playbook: every problem, sorted, in the error and in `diagnostics`") {
  std::string text = k_full;
  text.replace(text.find("uses: collect"), 13, "uses: colect");  // line 23, after the params error
  text.replace(text.find("type: int"), 9, "type: integer");      // line 12
  std::vector<Diagnostic> diagnostics;
  const auto r = parse_playbook(text, "full.yaml", ir::run::step_types(), &diagnostics);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ir::Errc::invalid);
  REQUIRE(diagnostics.size() == 3);
  CHECK(
      diagnostics[0].to_string() ==
      R"(full.yaml:12:20: type of parameter "parallel" must be one of string, bool, int, list, got string "integer")");
  CHECK(diagnostics[1].to_string() == R"(full.yaml:23:11: unknown step type "colect" (did you mean "collect"?))");
  CHECK(diagnostics[2].to_string() ==
        R"(full.yaml:34:14: undefined reference "steps.siblings_none": no earlier step "siblings_none")");
  CHECK(diagnostics[2].file == "full.yaml");
  CHECK(pos(diagnostics[2].pos) == "34:14");
  CHECK(r.error().message ==
        diagnostics[0].to_string() + "\n" + diagnostics[1].to_string() + "\n" + diagnostics[2].to_string());
}

TEST_CASE("playbook::parse_playbook: YAML typing of plain and quoted scalars") {
  const std::string head = "name: t\ndescription: d\nsteps:\n  - id: s\n    uses: isolate\n    with: ";
  CHECK(problems(head + "{ingress: True, allow_dns: FALSE, detach: false}") == "(parsed)");
  CHECK(problems(head + "{ingress: \"true\"}") ==
        std::string(R"(t.yaml:6:21: option "ingress" of step "s" must be a bool, got string "true")"
                    "\n"));
  CHECK(problems(head + "{ingress: yes}") ==
        std::string(R"(t.yaml:6:21: option "ingress" of step "s" must be a bool, got string "yes")"
                    "\n"));
  CHECK(problems(head + "{ingress: !!str true}") ==
        std::string(R"(t.yaml:6:21: option "ingress" of step "s" must be a bool, got string "true")"
                    "\n"));
  CHECK(problems(head + "{ingress: 0x10}") ==
        std::string(R"(t.yaml:6:21: option "ingress" of step "s" must be a bool, got int 16)"
                    "\n"));
  CHECK(problems(head + "{ingress: 1.5e3}") ==
        std::string(R"(t.yaml:6:21: option "ingress" of step "s" must be a bool, got number 1500.0)"
                    "\n"));
  CHECK(problems(head + "{ingress: ~, pod: ~}") == "(parsed)");  // null = not set
  CHECK(problems(head + "{pod: false}") ==
        std::string(R"(t.yaml:6:17: option "pod" of step "s" must be a string, got bool false)"
                    "\n"));
}

TEST_CASE("playbook::parse_playbook: positions") {
  SUBCASE("an empty value is reported at its key, not at the next token") {
    CHECK(problems("name: t\ndescription: d\nsteps:\n  - id: s\n    uses: wait\n    with:\n\n\n    when: pod\n") ==
          std::string(R"(t.yaml:6:5: step "s" (wait) is missing required option "duration")"
                      "\n"));
  }
  SUBCASE("a condition's problem inside a plain, a quoted and a block scalar") {
    const std::string head = "name: t\ndescription: d\nsteps:\n  - id: s\n    uses: wait\n    with: {duration: 1s}\n";
    const std::string message =
        R"(condition of step "s" does not parse: unexpected "==" (comparisons do not chain: use "and"))";
    const std::pair<std::string, std::string> cases[] = {
        {"    when: a == b ==\n", "7:18"},
        {"    when: 'a == b =='\n", "7:19"},
        {"    when: \"\\x61 == b ==\"\n", "7:11"},  // an escape before the problem: the node's position
        {"    when: |\n      a == b ==\n", "7:11"},
    };
    for (const auto& [when, at] : cases) {
      CAPTURE(when);
      CHECK(problems(head + when) == "t.yaml:" + at + ": " + message + "\n");
    }
  }
  SUBCASE("CRLF line endings count as one line break") {
    CHECK(problems("name: t\r\ndescription: d\r\nsteps:\r\n  - id: s\r\n    uses: wiat\r\n") ==
          std::string(R"(t.yaml:5:11: unknown step type "wiat" (did you mean "wait"?))"
                      "\n"));
  }
  SUBCASE("an empty file and a file of comments") {
    CHECK(problems("") == "t.yaml:1:1: empty playbook: it needs at least name, description and steps\n");
    CHECK(problems("# nothing\n\n") == "t.yaml:1:1: empty playbook: it needs at least name, description and steps\n");
  }
  SUBCASE("user text in messages is escaped to one line") {
    CHECK(
        problems("name: t\ndescription: d\nsteps:\n  - id: s\n    uses: \"a\\nb\\e[31m\"\n") ==
        std::string(
            R"(t.yaml:5:11: unknown step type "a\nb\x1b[31m" (one of: isolate, release, collect, siblings, drift, baseline, exec, label, annotate, cordon, logs, wait, sign, upload, for_each))"
            "\n"));
  }
}

TEST_CASE("playbook::parse_playbook: the broken corpus, one file per kind of problem") {
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus("broken"))) {
    const std::string file = entry.path().filename().string();
    CAPTURE(file);
    const std::string text = read_file(entry.path());
    // The file starts with its expected diagnostics, one "# expect: " line each.
    std::vector<std::string> expected;
    std::size_t pos = 0;
    constexpr std::string_view k_prefix = "# expect: ";
    while (text.compare(pos, k_prefix.size(), k_prefix) == 0) {
      const std::size_t end = text.find('\n', pos);
      std::string line = text.substr(pos + k_prefix.size(), end - pos - k_prefix.size());
      if (!line.empty() && line.back() == '\r') line.pop_back();
      expected.push_back(line);
      pos = end + 1;
    }
    REQUIRE_FALSE(expected.empty());
    std::string joined;
    for (const auto& line : expected) joined += line + "\n";
    CHECK(problems(text, file) == joined);
    ++files;
  }
  CHECK(files >= 40);
}

TEST_CASE("playbook::parse_playbook: the valid corpus (tricky but correct)") {
  for (const auto& entry : std::filesystem::directory_iterator(corpus("valid"))) {
    const std::string file = entry.path().filename().string();
    CAPTURE(file);
    const auto r = parse_playbook(read_file(entry.path()), file, ir::run::step_types());
    REQUIRE_MESSAGE(r, r.error().message);
    CHECK(r->name + ".yaml" == file);
  }
  const auto flow = parse_playbook(read_file(corpus("valid") / "flow-and-anchors.yaml"), "f.yaml", ir::run::step_types()).value();
  CHECK(flow.steps[1].with == flow.steps[0].with);  // the alias
  CHECK(flow.steps[0].with["ingress"] == true);
  CHECK(flow.steps[2].id == "1234");
  CHECK(flow.steps[2].with == json{{"pod", "1234"}, {"namespace", "2024"}});
  CHECK(flow.steps[2].timeout == std::chrono::seconds(3605));
  CHECK(flow.steps[3].with["command"][3] == "folded over two lines");
  CHECK(flow.params[1].default_value == json::array({"10.0.0.0/8", "192.168.0.0/16"}));

  const auto block = parse_playbook(read_file(corpus("valid") / "block-scalars.yaml"), "b.yaml", ir::run::step_types()).value();
  CHECK(block.description == "Folded over three source lines into one");
  CHECK(block.steps[0].with["command"][2] == "ls -la /tmp\ncat /proc/loadavg\n");
  CHECK(pos(block.steps[0].pos) == "9:5");
}

TEST_CASE("playbook::resolve_params") {
  const auto playbook = parse_playbook(R"(name: p
description: d
params:
  ingress: {type: bool, default: false}
  parallel: {type: int, default: 2}
  collector: {type: string, required: true}
  cidrs: {type: list}
  note: {type: string}
steps: [{id: s, uses: siblings}]
)",
                                       "p.yaml", ir::run::step_types())
                            .value();
  SUBCASE("given values converted to the declared types, defaults, null for the rest") {
    const auto r = resolve_params(
        playbook,
        {{"ingress", "TRUE"}, {"parallel", "-4"}, {"collector", "=a b="}, {"cidrs", " 10.0.0.0/8, ,192.168.0.0/16 "}});
    REQUIRE_MESSAGE(r, r.error().message);
    CHECK(*r == json{{"ingress", true},
                     {"parallel", -4},
                     {"collector", "=a b="},
                     {"cidrs", {"10.0.0.0/8", "192.168.0.0/16"}},
                     {"note", nullptr}});
    CHECK(resolve_params(playbook, {{"collector", "c"}, {"cidrs", ""}}).value() ==
          json{{"ingress", false}, {"parallel", 2}, {"collector", "c"}, {"cidrs", json::array()}, {"note", nullptr}});
  }
  SUBCASE("errors are usage errors") {
    struct Case {
      std::map<std::string, std::string> given;
      const char* message;
    };
    const Case cases[] = {
        {{{"collector", "c"}, {"ingres", "true"}}, R"(unknown parameter "ingres" (did you mean "ingress"?))"},
        {{{"collector", "c"}, {"zzz", "1"}},
         R"(unknown parameter "zzz" (parameters: ingress, parallel, collector, cidrs, note))"},
        {{{"collector", "c"}, {"ingress", "yes"}}, R"(parameter "ingress" must be true or false, got "yes")"},
        {{{"collector", "c"}, {"parallel", "2x"}}, R"(parameter "parallel" must be an integer, got "2x")"},
        {{{"collector", "c"}, {"parallel", ""}}, R"(parameter "parallel" must be an integer, got "")"},
        {{{"collector", "c"}, {"parallel", "99999999999999999999"}},
         R"(parameter "parallel" must be an integer, got "99999999999999999999")"},
        {{}, R"(missing required parameter "collector" (--param collector=...))"},
    };
    for (const auto& c : cases) {
      const std::string message = c.message;
      CAPTURE(message);
      const auto r = resolve_params(playbook, c.given);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == ir::Errc::usage);
      CHECK(r.error().message == message);
    }
  }
  SUBCASE("a playbook without parameters") {
    Playbook none;
    CHECK(resolve_params(none, {}).value() == json::object());
    CHECK(resolve_params(none, {{"x", "1"}}).error().message == R"(unknown parameter "x": the playbook takes none)");
  }
}

TEST_CASE("playbook::parse_duration") {
  struct Case {
    const char* text;
    long long seconds;  // -1 = invalid
  };
  const Case cases[] = {{"30s", 30},  {"2m", 120},     {"1h", 3600},     {"1m30s", 90}, {"1h0m5s", 3605},
                        {"90s", 90},  {"1h30m", 5400}, {"", -1},         {"30", -1},    {"0s", -1},
                        {"1s1m", -1}, {"1m1m", -1},    {"1.5s", -1},     {"-1s", -1},   {"1d", -1},
                        {"s", -1},    {"1 m", -1},     {"1000000s", -1}, {"1M", -1},    {"999999h", 999999LL * 3600}};
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    const auto r = parse_duration(text);
    if (c.seconds < 0) {
      REQUIRE_FALSE(r);
      CHECK(r.error().message == "invalid duration \"" + text + "\": want a duration like 30s, 2m, 1h or 1m30s");
    } else {
      REQUIRE(r);
      CHECK(r->count() == c.seconds);
    }
  }
}

TEST_CASE("playbook::parse_playbook: report and upload, what run does after sealing") {
  const std::string head = R"(name: t
description: after sealing
params:
  upload: {type: string, default: ""}
  report: {type: bool, default: true}
  count: {type: int, default: 1}
steps:
  - id: a
    uses: siblings
)";
  SUBCASE("templates over params, rendered after the run") {
    const std::string text = head + "report: \"{{ params.report }}\"\nupload: \"{{ params.upload }}\"\n";
    INFO(problems(text));
    const auto r = parse_playbook(text, "t.yaml", ir::run::step_types());
    REQUIRE(r);
    auto s = render_after_seal(*r, {{"pod", "p"}, {"namespace", "n"}, {"case", "c"}, {"params", {{"upload", "s3://b/x/"}, {"report", false}}}});
    REQUIRE(s);
    CHECK(s->upload == "s3://b/x/");
    CHECK_FALSE(s->report);
    s = render_after_seal(*r, {{"pod", "p"}, {"namespace", "n"}, {"case", "c"}, {"params", {{"upload", ""}, {"report", true}}}});
    REQUIRE(s);
    CHECK(s->upload.empty());
    CHECK(s->report);
  }
  SUBCASE("literal values; a prefix naming the case") {
    const auto r = parse_playbook(head + "report: true\nupload: \"s3://ev/{{ case }}/\"\n", "t.yaml", ir::run::step_types());
    REQUIRE(r);
    auto s = render_after_seal(*r, {{"pod", "p"}, {"namespace", "n"}, {"case", "case-1"}, {"params", {{"upload", ""}, {"report", true}, {"count", 1}}}});
    REQUIRE(s);
    CHECK(s->report);
    CHECK(s->upload == "s3://ev/case-1/");
  }
  SUBCASE("none set: nothing after sealing") {
    const auto r = parse_playbook(head, "t.yaml", ir::run::step_types());
    REQUIRE(r);
    auto s = render_after_seal(*r, {{"params", json::object()}});
    REQUIRE(s);
    CHECK_FALSE(s->report);
    CHECK(s->upload.empty());
  }
  SUBCASE("wrong types and step references are diagnosed with their position") {
    CHECK(problems(head + "report: \"{{ params.count }}\"\n").find("but params.count is a parameter of type int") != std::string::npos);
    CHECK(problems(head + "report: yes please\n").find("playbook key \"report\" must be a bool") != std::string::npos);
    CHECK(problems(head + "upload: true\n").find("playbook key \"upload\" must be a string") != std::string::npos);
    CHECK(problems(head + "upload: \"{{ steps.a.outputs.x }}\"\n").find("acts after the run") != std::string::npos);
    CHECK(problems(head + "upload: \"{{ params.nope }}\"\n").find("undefined reference") != std::string::npos);
    CHECK(problems(head + "upload: [a]\n").find("t.yaml:10:9: playbook key \"upload\" must be a string") != std::string::npos);
  }
}
