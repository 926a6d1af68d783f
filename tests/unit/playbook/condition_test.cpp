#include <doctest/doctest.h>

#include "playbook/condition.hpp"

using namespace ir::playbook;
using nlohmann::json;

namespace {
const json k_scope = {
    {"pod", "web-1"},
    {"params", {{"dry", false}, {"ingress", true}, {"name", ""}, {"limit", 2.5}}},
    {"steps",
     {{"siblings", {{"count", 3}, {"pods", json::array({1, 2, 3})}, {"partial", false}}},
      {"isolate", {{"egress", "contained"}, {"contained", true}}},
      {"empty", {{"list", json::array()}, {"map", json::object()}, {"zero", 0}, {"null", nullptr}}}}},
};
}  // namespace

TEST_CASE("playbook::evaluate_condition: a table of expressions") {
  struct Case {
    const char* expr;
    bool expected;
  };
  const Case cases[] = {
      {"steps.siblings.count > 0", true},
      {"steps.siblings.count >= 3", true},
      {"steps.siblings.count < 3", false},
      {"steps.siblings.count <= 3.0", true},
      {"steps.siblings.count == 3", true},
      {"steps.siblings.count == 3.0", true},
      {"steps.siblings.count != 3", false},
      {"params.limit > 2", true},
      {"-1 < 0", true},
      {"steps.isolate.egress == \"contained\"", true},
      {"steps.isolate.egress == 'contained'", true},
      {"steps.isolate.egress != 'not contained'", true},
      {"'it\\'s' == \"it's\"", true},
      {"not params.dry", true},
      {"not not params.dry", false},
      {"params.dry == false", true},
      {"params.ingress", true},
      {"params.name", false},
      {"pod", true},
      {"steps.siblings.pods", true},
      {"steps.empty.list", false},
      {"steps.empty.map", false},
      {"steps.empty.zero", false},
      {"steps.empty.null", false},
      {"steps.empty.null == null", true},
      {"steps.siblings.count == '3'", false},  // different types are never equal
      {"true", true},
      {"false", false},
      {"null", false},
      {"0", false},
      {"'x'", true},
      // precedence: not > and > or
      {"true or false and false", true},
      {"(true or false) and false", false},
      {"not false and false", false},
      {"not (false and false)", true},
      {"false or not false", true},
      {"params.dry or steps.siblings.count > 2 and steps.isolate.contained", true},
      {"((steps.siblings.count > 0))", true},
      // short circuit: the undefined reference is never looked at
      {"false and steps.nope.x", false},
      {"true or steps.nope.x > 1", true},
      // "{{ }}" around the whole condition
      {"{{ steps.siblings.count > 0 }}", true},
      {"  {{params.dry}}  ", false},
      {"\tsteps.siblings.count\n>\r0 ", true},
  };
  for (const auto& c : cases) {
    const std::string expr = c.expr;
    CAPTURE(expr);
    const auto r = evaluate_condition(c.expr, k_scope);
    REQUIRE_MESSAGE(r, r.error().message);
    CHECK(*r == c.expected);
  }
}

TEST_CASE("playbook::evaluate_condition: evaluation errors") {
  struct Case {
    const char* expr;
    const char* message;
  };
  const Case cases[] = {
      {"steps.nope.count > 0", R"(undefined reference "steps.nope.count")"},
      {"true and steps.nope", R"(undefined reference "steps.nope")"},
      {"steps.isolate.egress > 'a'",
       R"(cannot compare string "contained" > string "a": ordering works on numbers only)"},
      {"steps.siblings.count <= 'a'", R"(cannot compare int 3 <= string "a": ordering works on numbers only)"},
      {"true < 1", R"(cannot compare bool true < int 1: ordering works on numbers only)"},
      {"null >= 0", R"(cannot compare null >= int 0: ordering works on numbers only)"},
  };
  for (const auto& c : cases) {
    const std::string expr = c.expr;
    CAPTURE(expr);
    const auto r = evaluate_condition(c.expr, k_scope);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ir::Errc::invalid);
    CHECK(r.error().message == c.message);
  }
}

TEST_CASE("playbook::parse_condition: syntax errors and where they are") {
  struct Case {
    const char* expr;
    const char* message;
    std::size_t offset;
  };
  const Case cases[] = {
      {"", "empty condition", 0},
      {"{{ }}", "empty condition", 3},
      {"steps.x.count >", "expected a value, got end of condition", 15},
      {"steps.x.count > > 1", R"(expected a value, got ">")", 16},
      {"a == b == c", R"(unexpected "==" (comparisons do not chain: use "and"))", 7},
      {"a b", R"(unexpected "b" (expected "and", "or" or the end))", 2},
      {"(a or b", R"(unclosed "(")", 0},
      {"(a or b c)", R"x(unexpected "c" (expected ")"))x", 8},
      {"a)", R"x(unexpected ")" (no "(" to close))x", 1},
      {"a = 1", R"(unexpected "=" (use "=="))", 2},
      {"!a", R"(unexpected "!" (use "not"))", 0},
      {"a && b", R"(unexpected "&&" (use "and"))", 2},
      {"a || b", R"(unexpected "||" (use "or"))", 2},
      {"a == 'open", "unterminated string", 5},
      {"a == 12abc", R"(invalid number "12abc")", 5},
      {"steps..x", R"(invalid reference "steps..x")", 0},
      {"steps.x. == 1", R"(invalid reference "steps.x.")", 0},
      {"a == {{ b }}", "templates are not used inside a condition: write references bare (steps.x.count > 0)", 5},
      {"a # b", R"(unexpected "#")", 2},
      {"not", "expected a value, got end of condition", 3},
      {"and", R"(expected a value, got "and")", 0},
  };
  for (const auto& c : cases) {
    const std::string expr = c.expr;
    CAPTURE(expr);
    std::size_t offset = 99;
    const auto r = parse_condition(c.expr, &offset);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ir::Errc::invalid);
    CHECK(r.error().message == c.message);
    CHECK(offset == c.offset);
  }
}

TEST_CASE("playbook::parse_condition: nesting and length limits") {
  std::string deep(100, '(');
  deep += "true" + std::string(100, ')');
  CHECK(parse_condition(deep).error().message == "condition nests too deeply");
  std::string nots;
  for (int i = 0; i < 100; ++i) nots += "not ";
  CHECK(parse_condition(nots + "true").error().message == "condition nests too deeply");
  CHECK(parse_condition(std::string(5000, ' ') + "true").error().message == "condition is longer than 4096 bytes");
  std::string ok(30, '(');
  ok += "true" + std::string(30, ')');
  CHECK(evaluate_condition(ok, json::object()).value());
}

TEST_CASE("playbook::parse_condition: the references, in order, with offsets") {
  const auto c = parse_condition("{{ steps.a.count > 0 and not (params.x == item.name) }}").value();
  REQUIRE(c.references().size() == 3);
  CHECK(c.references()[0].text == "steps.a.count");
  CHECK(c.references()[0].offset == 3);
  CHECK(c.references()[1].text == "params.x");
  CHECK(c.references()[2].path == std::vector<std::string>{"item", "name"});
  CHECK(c.references()[2].offset == 42);
}

TEST_CASE("playbook::truthy") {
  CHECK_FALSE(truthy(json()));
  CHECK_FALSE(truthy(false));
  CHECK_FALSE(truthy(0));
  CHECK_FALSE(truthy(0.0));
  CHECK_FALSE(truthy(""));
  CHECK_FALSE(truthy(json::array()));
  CHECK_FALSE(truthy(json::object()));
  CHECK(truthy(true));
  CHECK(truthy(-1));
  CHECK(truthy("0"));
  CHECK(truthy(json::array({0})));
}
