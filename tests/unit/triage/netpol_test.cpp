#include <doctest/doctest.h>

#include "triage/netpol.hpp"

using namespace ir;
using namespace ir::triage;
using nlohmann::json;

namespace {
json policy(const std::string& name, json spec) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}}}, {"spec", std::move(spec)}};
}
}  // namespace

TEST_CASE("selector_matches") {
  const json labels = {{"app", "web"}, {"tier", "frontend"}, {"kubectl-ir/quarantine", "case-1"}};
  struct Case {
    const char* name;
    json selector;
    bool match;
  };
  const Case cases[] = {
      {"empty selects all", json::object(), true},
      {"null selects nothing", json(), false},
      {"matchLabels hit", {{"matchLabels", {{"app", "web"}}}}, true},
      {"matchLabels miss", {{"matchLabels", {{"app", "db"}}}}, false},
      {"matchLabels all must hold", {{"matchLabels", {{"app", "web"}, {"tier", "backend"}}}}, false},
      {"In", {{"matchExpressions", {{{"key", "tier"}, {"operator", "In"}, {"values", {"frontend", "edge"}}}}}}, true},
      {"In miss", {{"matchExpressions", {{{"key", "tier"}, {"operator", "In"}, {"values", {"edge"}}}}}}, false},
      {"In on a missing label", {{"matchExpressions", {{{"key", "zone"}, {"operator", "In"}, {"values", {"a"}}}}}}, false},
      {"NotIn", {{"matchExpressions", {{{"key", "kubectl-ir/quarantine"}, {"operator", "NotIn"}, {"values", {"case-1"}}}}}}, false},
      {"NotIn other value", {{"matchExpressions", {{{"key", "kubectl-ir/quarantine"}, {"operator", "NotIn"}, {"values", {"case-2"}}}}}}, true},
      {"NotIn on a missing label", {{"matchExpressions", {{{"key", "zone"}, {"operator", "NotIn"}, {"values", {"a"}}}}}}, true},
      {"Exists", {{"matchExpressions", {{{"key", "app"}, {"operator", "Exists"}}}}}, true},
      {"Exists miss", {{"matchExpressions", {{{"key", "zone"}, {"operator", "Exists"}}}}}, false},
      {"DoesNotExist", {{"matchExpressions", {{{"key", "zone"}, {"operator", "DoesNotExist"}}}}}, true},
      {"DoesNotExist miss", {{"matchExpressions", {{{"key", "app"}, {"operator", "DoesNotExist"}}}}}, false},
      {"labels and expressions combined",
       {{"matchLabels", {{"app", "web"}}}, {"matchExpressions", {{{"key", "tier"}, {"operator", "Exists"}}}}}, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = selector_matches(c.selector, labels);
    REQUIRE(r);
    CHECK(*r == c.match);
  }
  SUBCASE("an unknown operator is an error, not a match") {
    auto r = selector_matches({{"matchExpressions", {{{"key", "app"}, {"operator", "Gt"}, {"values", {"1"}}}}}}, labels);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("Gt") != std::string::npos);
  }
}

TEST_CASE("policy_types defaults") {
  CHECK(policy_types(policy("a", {{"podSelector", json::object()}})) == std::vector<Direction>{Direction::ingress});
  CHECK(policy_types(policy("b", {{"podSelector", json::object()}, {"egress", json::array()}})) ==
        std::vector<Direction>{Direction::ingress, Direction::egress});
  CHECK(policy_types(policy("c", {{"policyTypes", {"Egress"}}})) == std::vector<Direction>{Direction::egress});
}

TEST_CASE("selecting_allowances reports what other policies still allow") {
  const json labels = {{"app", "web"}};
  const json policies = json::array({
      policy("allow-egress", {{"podSelector", {{"matchLabels", {{"app", "web"}}}}}, {"policyTypes", {"Egress"}}, {"egress", {json::object()}}}),
      policy("deny-all", {{"podSelector", json::object()}, {"policyTypes", {"Ingress", "Egress"}}}),
      policy("db-only", {{"podSelector", json::object()},
                         {"policyTypes", {"Egress"}},
                         {"egress", {{{"to", {{{"podSelector", {{"matchLabels", {{"app", "db"}}}}}}}}, {"ports", {{{"port", 5432}}}}}}}}),
      policy("to-cidr", {{"podSelector", json::object()},
                         {"egress", {{{"to", {{{"ipBlock", {{"cidr", "10.0.0.0/8"}, {"except", {"10.1.0.0/16"}}}}}}}}}}}),
      policy("other-app", {{"podSelector", {{"matchLabels", {{"app", "api"}}}}}, {"egress", {json::object()}}}),
      policy("ingress-web", {{"podSelector", json::object()},
                             {"ingress", {{{"from", {{{"namespaceSelector", json::object()}}}}}}}}),
      policy("kubectl-ir-quarantine-web", {{"podSelector", json::object()}, {"egress", {json::object()}}}),
  });
  auto r = selecting_allowances(policies, labels, "kubectl-ir-quarantine-web");
  REQUIRE(r);
  REQUIRE(r->size() == 4);
  CHECK((*r)[0].policy == "allow-egress");
  CHECK((*r)[0].rules == std::vector<std::string>{"all destinations, all ports"});
  CHECK((*r)[1].policy == "db-only");
  CHECK((*r)[1].rules == std::vector<std::string>{"pods app=db in the same namespace, TCP/5432"});
  CHECK((*r)[2].policy == "to-cidr");
  CHECK((*r)[2].direction == Direction::egress);
  CHECK((*r)[2].rules == std::vector<std::string>{"10.0.0.0/8 except 10.1.0.0/16, all ports"});
  CHECK((*r)[3].policy == "ingress-web");
  CHECK((*r)[3].direction == Direction::ingress);
  CHECK((*r)[3].rules == std::vector<std::string>{"pods all in namespaces all, all ports"});
}

TEST_CASE("render_quarantine_policy for each flag") {
  QuarantineSpec s{"shop", "web-1", "uid-1", "case-1", false, false, {}};
  SUBCASE("egress only: deny all, explicit policyTypes, owner reference") {
    auto p = render_quarantine_policy(s);
    REQUIRE(p);
    CHECK((*p)["metadata"]["name"] == "kubectl-ir-quarantine-web-1");
    CHECK((*p)["spec"] == json{{"podSelector", {{"matchLabels", {{"kubectl-ir/quarantine", "case-1"}}}}},
                               {"policyTypes", {"Egress"}},
                               {"egress", json::array()}});
    const json& owner = (*p)["metadata"]["ownerReferences"][0];
    CHECK(owner["kind"] == "Pod");
    CHECK(owner["uid"] == "uid-1");
    CHECK(owner["name"] == "web-1");
  }
  SUBCASE("--ingress") {
    s.ingress = true;
    auto p = render_quarantine_policy(s);
    REQUIRE(p);
    CHECK((*p)["spec"]["policyTypes"] == json{"Egress", "Ingress"});
    CHECK((*p)["spec"]["ingress"] == json::array());
  }
  SUBCASE("--allow-dns and --allow-egress") {
    s.allow_dns = true;
    s.allow_egress = {"10.9.8.7/32:443", "192.168.0.0/16", "[fd00::/8]:8443", "2001:db8::/32"};
    auto p = render_quarantine_policy(s);
    REQUIRE(p);
    const json& egress = (*p)["spec"]["egress"];
    REQUIRE(egress.size() == 5);
    CHECK(egress[0]["to"][0]["podSelector"]["matchLabels"]["k8s-app"] == "kube-dns");
    CHECK(egress[0]["ports"] == json{{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}});
    CHECK(egress[1] == json{{"to", {{{"ipBlock", {{"cidr", "10.9.8.7/32"}}}}}}, {"ports", {{{"protocol", "TCP"}, {"port", 443}}}}});
    CHECK(egress[2] == json{{"to", {{{"ipBlock", {{"cidr", "192.168.0.0/16"}}}}}}});
    CHECK(egress[3]["to"][0]["ipBlock"]["cidr"] == "fd00::/8");
    CHECK(egress[3]["ports"][0]["port"] == 8443);
    CHECK(egress[4]["to"][0]["ipBlock"]["cidr"] == "2001:db8::/32");
  }
  SUBCASE("bad --allow-egress") {
    for (const char* bad : {"10.0.0.1", "10.0.0.0/33", "300.0.0.0/8", "10.0.0.0/8:0", "10.0.0.0/8:99999", "host:80", "[fd00::/8"}) {
      CAPTURE(bad);
      s.allow_egress = {bad};
      auto p = render_quarantine_policy(s);
      REQUIRE_FALSE(p);
      CHECK(p.error().code == Errc::usage);
    }
  }
  SUBCASE("a long pod name keeps the object name valid and distinct") {
    const std::string long_name(250, 'a');
    const auto n1 = quarantine_policy_name(long_name);
    const auto n2 = quarantine_policy_name(long_name + "b");
    CHECK(n1.size() <= 253);
    CHECK(n1 != n2);
  }
}

TEST_CASE("exclude_case and include_case round trip") {
  const json original = {{"matchLabels", {{"app", "web"}}}};
  auto one = exclude_case(original, "case-1");
  REQUIRE(one);
  CHECK((*one)["matchExpressions"] == json{{{"key", "kubectl-ir/quarantine"}, {"operator", "NotIn"}, {"values", {"case-1"}}}});
  CHECK_FALSE(exclude_case(*one, "case-1"));  // idempotent
  auto two = exclude_case(*one, "case-2");
  REQUIRE(two);
  CHECK((*two)["matchExpressions"][0]["values"] == json{"case-1", "case-2"});
  const json back_one = include_case(*two, "case-2");
  CHECK(back_one == *one);
  const json back = include_case(back_one, "case-1");
  CHECK(back["matchExpressions"] == json::array());
  CHECK(back["matchLabels"] == original["matchLabels"]);
  SUBCASE("the excluded pod is no longer selected, others still are") {
    CHECK_FALSE(*selector_matches(*one, {{"app", "web"}, {"kubectl-ir/quarantine", "case-1"}}));
    CHECK(*selector_matches(*one, {{"app", "web"}}));
  }
}

TEST_CASE("render_admin_quarantine_policy") {
  QuarantineSpec s{"shop", "web-1", "uid-1", "case-1", true, true, {"10.0.0.0/8:443"}};
  auto p = render_admin_quarantine_policy(s);
  REQUIRE(p);
  CHECK((*p)["kind"] == "AdminNetworkPolicy");
  CHECK((*p)["metadata"]["name"] == "kubectl-ir-quarantine-shop-web-1");
  CHECK_FALSE((*p)["metadata"].contains("ownerReferences"));  // cluster-scoped: no namespaced owner
  const json& spec = (*p)["spec"];
  CHECK(spec["priority"] == 0);
  CHECK(spec["subject"]["pods"]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "shop");
  CHECK(spec["subject"]["pods"]["podSelector"]["matchLabels"]["kubectl-ir/quarantine"] == "case-1");
  REQUIRE(spec["egress"].size() == 3);  // allow DNS, allow the CIDR, then deny the rest: order matters
  CHECK(spec["egress"][0]["action"] == "Allow");
  CHECK(spec["egress"][1]["to"][0]["networks"] == json{"10.0.0.0/8"});
  CHECK(spec["egress"][1]["ports"][0]["portNumber"]["port"] == 443);
  CHECK(spec["egress"][2]["action"] == "Deny");
  CHECK(spec["ingress"][0]["action"] == "Deny");
}
