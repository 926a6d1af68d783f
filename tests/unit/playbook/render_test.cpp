#include <doctest/doctest.h>

#include "playbook/template.hpp"

using namespace ir::playbook;
using nlohmann::json;

namespace {
const json k_scope = {
    {"pod", "web-1"},
    {"namespace", "shop"},
    {"case", "case-42"},
    {"params", {{"ingress", true}, {"parallel", 2}, {"image", "busybox"}, {"nothing", nullptr}}},
    {"steps",
     {{"siblings",
       {{"count", 2},
        {"pods", json::array({{{"name", "web-2"}, {"namespace", "shop"}}, {{"name", "api-1"}, {"namespace", "ops"}}})},
        {"partial", false}}},
      {"label", {{"labels", {{"a", "b"}}}}}}},
    {"item", {{"name", "web-2"}, {"namespace", "shop"}}},
};
}  // namespace

TEST_CASE("playbook::render: a string that is exactly one template keeps the value's type") {
  CHECK(render("{{ params.ingress }}", k_scope).value() == json(true));
  CHECK(render("{{params.parallel}}", k_scope).value() == json(2));
  CHECK(render("{{ steps.siblings.pods }}", k_scope).value() == k_scope["steps"]["siblings"]["pods"]);
  CHECK(render("{{ steps.label.labels }}", k_scope).value() == json{{"a", "b"}});
  CHECK(render("{{ params.nothing }}", k_scope).value().is_null());
  CHECK(render("{{   item.name   }}", k_scope).value() == json("web-2"));
  CHECK(render("{{ steps.siblings.pods.1.name }}", k_scope).value() == json("api-1"));
}

TEST_CASE("playbook::render: text mixed with templates becomes a string") {
  CHECK(render("case {{ case }} on {{ namespace }}/{{ pod }}", k_scope).value() == json("case case-42 on shop/web-1"));
  CHECK(render("ingress={{ params.ingress }} n={{ params.parallel }}", k_scope).value() == json("ingress=true n=2"));
  CHECK(render("x{{ params.nothing }}", k_scope).value() == json("xnull"));
  CHECK(render(" {{ steps.label.labels }}", k_scope).value() == json(R"( {"a":"b"})"));
  CHECK(render("{{ item.name }}.{{ item.namespace }}", k_scope).value() == json("web-2.shop"));
  CHECK(render("no templates, } { }}", k_scope).value() == json("no templates, } { }}"));
}

TEST_CASE("playbook::render: deep in maps and lists, keys untouched, other scalars unchanged") {
  const json with = {{"labels", {{"kubectl-ir/case", "{{ case }}"}, {"{{ pod }}", nullptr}}},
                     {"command", json::array({"ls", "{{ params.image }}", 3})},
                     {"ingress", "{{ params.ingress }}"},
                     {"dry", false}};
  const json expected = {{"labels", {{"kubectl-ir/case", "case-42"}, {"{{ pod }}", nullptr}}},
                         {"command", json::array({"ls", "busybox", 3})},
                         {"ingress", true},
                         {"dry", false}};
  CHECK(render(with, k_scope).value() == expected);
}

TEST_CASE("playbook::render: an undefined reference is an error naming it") {
  for (const std::string text : {"{{ steps.siblings.cnt }}", "pods: {{ steps.siblings.cnt }}"}) {
    CAPTURE(text);
    const auto r = render(json{{"a", json::array({text})}}, k_scope);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ir::Errc::invalid);
    CHECK(r.error().message == R"(undefined reference "steps.siblings.cnt")");
  }
  CHECK(render("{{ item.name.first }}", k_scope).error().message == R"(undefined reference "item.name.first")");
  CHECK(render("{{ steps.siblings.pods.7 }}", k_scope).error().message ==
        R"(undefined reference "steps.siblings.pods.7")");
  CHECK(render("{{ item }}", json::object()).error().message == R"(undefined reference "item")");
}

TEST_CASE("playbook::split_template: malformed templates and their offsets") {
  struct Case {
    const char* text;
    const char* message;
    std::size_t offset;
  };
  const Case cases[] = {
      {"abc {{ pod", R"("{{" without a closing "}}")", 4},
      {"{{ }}", R"(empty template "{{ }}")", 0},
      {"x {{ a b }}", R"(template "{{ a b }}" is not a reference (like {{ params.name }} or {{ steps.id.output }}))",
       2},
      {"{{ steps..x }}",
       R"(template "{{ steps..x }}" is not a reference (like {{ params.name }} or {{ steps.id.output }}))", 0},
      {"{{ 1.a }}", R"(template "{{ 1.a }}" is not a reference (like {{ params.name }} or {{ steps.id.output }}))", 0},
  };
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    std::size_t offset = 99;
    const auto r = split_template(c.text, &offset);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == c.message);
    CHECK(offset == c.offset);
    CHECK(render(c.text, k_scope).error().message == c.message);
  }
}

TEST_CASE("playbook::split_template and single_reference") {
  const auto parts = split_template("a {{ item.name }}-{{pod}}").value();
  REQUIRE(parts.size() == 4);
  CHECK(parts[0].literal == "a ");
  CHECK(parts[1].reference.text == "item.name");
  CHECK(parts[1].reference.path == std::vector<std::string>{"item", "name"});
  CHECK(parts[1].reference.offset == 5);
  CHECK(parts[2].literal == "-");
  CHECK(parts[3].reference.text == "pod");
  CHECK(single_reference("{{ params.x }}")->text == "params.x");
  CHECK_FALSE(single_reference(" {{ params.x }}"));
  CHECK_FALSE(single_reference("{{ params.x }}{{ pod }}"));
  CHECK_FALSE(single_reference("{{ params.x"));
}

TEST_CASE("playbook::describe_value") {
  CHECK(describe_value("yes please") == R"(string "yes please")");
  CHECK(describe_value(3) == "int 3");
  CHECK(describe_value(1.5) == "number 1.5");
  CHECK(describe_value(false) == "bool false");
  CHECK(describe_value(nullptr) == "null");
  CHECK(describe_value(json::array()) == "list");
  CHECK(describe_value(json::object()) == "map");
  CHECK(describe_value("a\x1b[31m") == R"(string "a\x1b[31m")");
}
