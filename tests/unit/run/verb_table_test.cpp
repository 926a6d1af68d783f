#include <doctest/doctest.h>

#include "playbook/embedded.hpp"
#include "run/verbs.hpp"
#include "playbook/step_types.hpp"
#include "playbook/template.hpp"

using namespace ir::playbook;
using nlohmann::json;

namespace {
Step step(std::string id, std::string uses) {
  Step s;
  s.id = std::move(id);
  s.uses = std::move(uses);
  return s;
}
}  // namespace

TEST_CASE("run::step_types: the names and outputs of the verb table") {
  const auto types = ir::run::step_types();
  CHECK(types.names() == std::vector<std::string>{"isolate", "release", "collect", "siblings", "drift", "baseline", "exec",
                                                  "label", "annotate", "cordon", "logs", "wait", "sign", "upload", "for_each"});
  CHECK(types.outputs_of("drift") == std::vector<std::string>{"findings", "total", "connections", "processes", "files", "listening",
                                                              "indicators", "members", "judged_against", "partial"});
  CHECK(types.outputs_of("baseline") == std::vector<std::string>{"file", "members", "digest"});
  CHECK(types.outputs_of("upload") == std::vector<std::string>{"uploaded", "objects"});
  CHECK(types.outputs_of("isolate") == std::vector<std::string>{"policy", "egress", "ingress", "contained", "node"});
  CHECK(types.outputs_of("siblings") == std::vector<std::string>{"count", "pods", "partial", "digest"});
  CHECK(types.outputs_of("for_each") == std::vector<std::string>{"count", "failed", "results"});
  CHECK(types.outputs_of("wait").empty());
  CHECK(types.outputs_of("nope").empty());
  REQUIRE(types.find("siblings") != nullptr);
  CHECK(types.find("siblings")->outputs[1].element_fields ==
        std::vector<std::string>{"namespace", "name", "workload", "node", "phase"});
  CHECK(types.find("isolat") == nullptr);
  for (const auto& type : ir::run::step_type_table()) {
    CAPTURE(type.name);
    for (const auto& o : type.options)
      CHECK(o.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos);
  }
}

TEST_CASE("playbook::check_rendered_options: the shipped playbooks, rendered, pass") {
  const json scope = {{"pod", "web-1"},
                      {"namespace", "shop"},
                      {"case", "case-1"},
                      {"params",
                       {{"allow_dns", true},
                        {"ingress", false},
                         {"exclusive", true},
                        {"finding", "cryptominer"},
                        {"max_log_bytes", "256Mi"},
                        {"debug_image", "busybox"},
                        {"parallel", 2}}},
                      {"steps", {{"siblings", {{"pods", json::array({{{"name", "a"}, {"namespace", "b"}}})}}}}},
                      {"item", {{"name", "web-2"}, {"namespace", "shop"}}}};
  for (const auto& embedded : embedded_playbooks()) {
    const auto playbook = parse_playbook(embedded.text, embedded.file, ir::run::step_types()).value();
    const auto check = [&](const auto& self, const std::vector<Step>& steps) -> void {
      for (const auto& s : steps) {
        CAPTURE(s.id);
        const auto rendered = render(s.with, scope);
        REQUIRE_MESSAGE(rendered, rendered.error().message);
        const auto ok = check_rendered_options(ir::run::step_types(), s, *rendered);
        CHECK_MESSAGE(ok, (ok ? "" : ok.error().message));
        self(self, s.steps);
      }
    };
    check(check, playbook.steps);
  }
}

TEST_CASE("playbook::check_rendered_options: what a template rendered to is typed") {
  struct Case {
    const char* uses;
    json with;
    const char* message;  // "" = passes
  };
  const Case cases[] = {
      {"isolate", {{"ingress", true}, {"allow_egress", {"10.0.0.0/8"}}, {"pod", nullptr}}, ""},
      {"isolate", {{"ingress", "yes"}}, R"(option "ingress" of step "s" must be a bool, got string "yes")"},
      {"isolate",
       {{"allow_egress", {"a", 1}}},
       R"(option "allow_egress" of step "s" must be a list of strings, got list)"},
      {"collect",
       {{"fs", "tar"}},
       R"(option "fs" of step "s" must be one of listing, archive, none, got string "tar")"},
      {"collect", {{"max_log_bytes", 1024}, {"max_file_bytes", "1Gi"}}, ""},
      {"collect",
       {{"max_log_bytes", -1}},
       R"(option "max_log_bytes" of step "s" must be a size like 64Mi or 1048576, got int -1)"},
      {"exec", {{"command", {"ls"}}}, ""},
      {"exec", {{"command", json::array()}}, R"(option "command" of step "s" must not be empty)"},
      {"exec", {{"command", nullptr}}, R"(step "s" (exec) is missing required option "command")"},
      {"exec",
       {{"command", "ls -la"}},
       R"(option "command" of step "s" must be a list of strings, got string "ls -la")"},
      {"label", {{"labels", {{"a", "b"}, {"c", nullptr}}}}, ""},
      {"label",
       {{"labels", {{"a", 3}}}},
       R"(option "labels" of step "s" must be a map of string -> string or null, got map)"},
      {"wait", {{"duration", "1m30s"}}, ""},
      {"wait",
       {{"duration", 30}},
       R"(option "duration" of step "s" must be a duration like 30s, 2m, 1h or 1m30s, got int 30)"},
      {"for_each", {{"items", json::array()}, {"parallel", 1}}, ""},
      {"for_each",
       {{"items", {{"a", 1}}}},
       R"(option "items" of step "s" must be a list or one "{{ reference }}", got map)"},
      {"for_each",
       {{"items", json::array()}, {"parallel", 0}},
       R"(option "parallel" of step "s" must be an int >= 1, got int 0)"},
      {"cordon", {{"node", 12}}, R"(option "node" of step "s" must be a string, got int 12)"},
      {"nope", json::object(), R"(unknown step type "nope")"},
  };
  for (const auto& c : cases) {
    const std::string message = c.message;
    CAPTURE(message);
    const auto r = check_rendered_options(ir::run::step_types(), step("s", c.uses), c.with);
    if (message.empty()) {
      CHECK_MESSAGE(r, (r ? "" : r.error().message));
    } else {
      REQUIRE_FALSE(r);
      CHECK(r.error().code == ir::Errc::invalid);
      CHECK(r.error().message == message);
    }
  }
}
