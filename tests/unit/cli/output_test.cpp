#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "cmd/cli.hpp"
#include "cmd/exit_codes.hpp"
#include "cmd/output.hpp"
#include "cmd/siblings.hpp"
#include "support/run_cli.hpp"

using namespace ir;
using namespace ir::cli;
using nlohmann::json;

TEST_CASE("to_yaml: block style, deterministic, quoting what YAML would retype") {
  const json doc = {{"name", "web-1"},
                    {"count", 3},
                    {"ok", true},
                    {"none", nullptr},
                    {"ratio", 0.5},
                    {"list", {"a", "b"}},
                    {"empty", json::array()},
                    {"map", json::object()},
                    {"nested", {{"k", "v"}}},
                    {"items", json::array({json{{"x", 1}, {"y", "z"}}})}};
  CHECK(to_yaml(doc) ==
        "count: 3\n"
        "empty: []\n"
        "items:\n"
        "  - x: 1\n"
        "    \"y\": z\n"  // YAML 1.1 reads a bare y as true
        "list:\n"
        "  - a\n"
        "  - b\n"
        "map: {}\n"
        "name: web-1\n"
        "nested:\n"
        "  k: v\n"
        "none: ~\n"
        "ok: true\n"
        "ratio: 0.5\n");
  struct Case {
    std::string in;
    std::string out;
  };
  const Case strings[] = {
      {"true", "\"true\""},   {"Yes", "\"Yes\""},       {"off", "\"off\""},       {"null", "\"null\""},
      {"~", "\"~\""},         {"", "\"\""},             {"123", "\"123\""},       {"1.5", "\"1.5\""},
      {"-1", "\"-1\""},       {".inf", "\".inf\""},     {"0x1F", "\"0x1F\""},     {"1.4.2", "\"1.4.2\""},
      {"2026-11-21T16:00:00Z", "\"2026-11-21T16:00:00Z\""},
      {"key: value", "\"key: value\""},                 {"- x", "\"- x\""},       {"#c", "\"#c\""},
      {"plain words", "plain words"},                   {"sha256:ce8b", "sha256:ce8b"},
      {"\x1b[31mred", "\"\\x1b[31mred\""},              {"a\nb", "\"a\\nb\""},
      {"bad\xff", "bad\xEF\xBF\xBD"},                   {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},
      {"\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD"},        // an overlong '/' is not UTF-8
  };
  for (const auto& c : strings) {
    CAPTURE(c.in);
    CHECK(to_yaml(json{{"k", c.in}}) == "k: " + c.out + "\n");
  }
  CHECK(to_yaml(json{{"true", 1}}) == "\"true\": 1\n");  // keys too
}

TEST_CASE("to_json: pretty, and invalid UTF-8 does not throw") {
  CHECK(to_json(json{{"a", 1}}) == "{\n  \"a\": 1\n}\n");
  CHECK(to_json(json{{"a", "x\xff\x1b"}}) == "{\n  \"a\": \"x\xEF\xBF\xBD\\u001b\"\n}\n");
}

TEST_CASE("Table aligns columns, escapes cells, separates groups") {
  Table t({"NAMESPACE", "POD", "AGE"});
  t.add_break();  // nothing before: ignored
  t.add_row({"shop", "web-1", "5m"});
  t.add_row({"batch", "r\x1b[2J", "10d"});
  t.add_break();
  t.add_break();  // two breaks: one blank line
  t.add_row({"x", "caf\xc3\xa9", ""});
  t.add_break();  // trailing: not printed
  CHECK(t.rows() == 3);
  std::ostringstream out;
  t.print(out);
  CHECK(out.str() ==
        "NAMESPACE   POD        AGE\n"
        "shop        web-1      5m\n"
        "batch       r\\x1b[2J   10d\n"
        "\n"
        "x           caf\xc3\xa9\n");
}

TEST_CASE("human_duration follows kubectl's ages") {
  const std::pair<long long, const char*> cases[] = {
      {-5, "0s"},          {0, "0s"},         {119, "119s"},     {120, "2m"},        {552, "9m12s"},
      {600, "10m"},        {10799, "179m"},   {10800, "3h"},     {18600, "5h10m"},   {28800, "8h"},
      {129600, "36h"},     {172800, "2d"},    {273600, "3d4h"},  {691200, "8d"},     {17280000, "200d"},
      {63072000, "2y"},    {64368000, "2y15d"}, {252288000, "8y"},
  };
  for (const auto& [s, want] : cases) {
    CAPTURE(s);
    CHECK(human_duration(std::chrono::seconds(s)) == want);
  }
  const auto now = *util::parse_rfc3339("2026-11-21T16:05:00Z");
  CHECK(age_of("2026-11-21T16:00:00Z", now) == "5m");
  CHECK(age_of("", now) == "<unknown>");
  CHECK(age_of("yesterday", now) == "<unknown>");
}

TEST_CASE("parse_pod_ref accepts what -o name prints and kubectl's forms") {
  struct Case {
    std::string in;
    std::string ns;
    std::string name;
  };
  const Case ok[] = {{"web-1", "", "web-1"},
                     {"pod/web-1", "", "web-1"},
                     {"pods/web-1", "", "web-1"},
                     {"po/web-1", "", "web-1"},
                     {"shop/pod/web-1", "shop", "web-1"},
                     {pod_name_ref("batch", "r-1"), "batch", "r-1"}};
  for (const auto& c : ok) {
    CAPTURE(c.in);
    auto r = parse_pod_ref(c.in);
    REQUIRE(r);
    CHECK(r->namespace_name == c.ns);
    CHECK(r->name == c.name);
  }
  for (const char* bad : {"", "shop/web-1", "deploy/web", "a/b/c", "shop/pod/", "/pod/x", "a/pod/b/c"}) {
    CAPTURE(bad);
    auto r = parse_pod_ref(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::usage);
  }
  CHECK(pod_name_ref("shop", "web-1") == "shop/pod/web-1");
}

TEST_CASE("parse_output_format") {
  auto t = parse_output_format("", {OutputFormat::table, OutputFormat::json});
  REQUIRE(t);
  CHECK(*t == OutputFormat::table);
  auto y = parse_output_format("yaml", {OutputFormat::table, OutputFormat::yaml});
  REQUIRE(y);
  CHECK(*y == OutputFormat::yaml);
  auto bad = parse_output_format("wide", {OutputFormat::table, OutputFormat::json, OutputFormat::name});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "invalid output format \"wide\": want one of table, json, name");
  CHECK_FALSE(parse_output_format("", {OutputFormat::json}));
}

namespace {

triage::SiblingsReport demo_report() {
  triage::SiblingsReport r;
  r.suspect_namespace = "shop";
  r.suspect_name = "web-x";
  triage::Target t;
  t.id = triage::parse_image_id("registry.example.com/shop/web@sha256:" + std::string(64, 'c'));
  t.image_id = "registry.example.com/shop/web@sha256:" + std::string(64, 'c');
  t.containers = {"web"};
  t.image = "registry.example.com/shop/web:1.4.2";
  r.targets = {t};
  const auto pod = [&](std::string ns, std::string name, triage::Workload w, bool suspect) {
    triage::SiblingPod p;
    p.namespace_name = std::move(ns);
    p.name = std::move(name);
    p.uid = "uid-" + p.name;
    p.node = "node-1";
    p.phase = "Running";
    p.created = "2026-11-21T16:00:00Z";
    p.workload = std::move(w);
    p.suspect = suspect;
    p.architecture = "amd64";
    triage::ContainerImage c;
    c.name = "web";
    c.image = t.image;
    c.image_id = t.image_id;
    c.id = t.id;
    c.target = 0;
    p.containers = {c};
    return p;
  };
  r.siblings = {pod("batch", "report-1", {"CronJob", "report", true, ""}, false),
                pod("shop", "web-a", {"Deployment", "web", true, ""}, false),
                pod("shop", "web-x", {"Deployment", "web", true, ""}, true)};
  r.siblings[0].containers[0].type = triage::ContainerType::init;
  triage::SiblingPod pending;
  pending.namespace_name = "shop";
  pending.name = "cache-0";
  pending.phase = "Pending";
  pending.created = "2026-11-21T16:04:00Z";
  pending.workload = {"ReplicaSet", "cache-1", false, "cannot get replicasets.apps in shop: forbidden"};
  triage::ContainerImage c;
  c.name = "cache";
  c.image = "registry.example.com/shop/web:1.4.2";
  pending.containers = {c};
  r.unknown = {pending};
  r.pods_scanned = 1200;
  r.pages = 3;
  r.requests = 6;
  r.notes = {"a note"};
  return r;
}

}  // namespace

TEST_CASE("print_siblings_table: summary, grouped rows with the suspect's first, unknowns, notes") {
  const auto now = *util::parse_rfc3339("2026-11-21T16:05:00Z");
  std::ostringstream out;
  print_siblings_table(demo_report(), triage::GroupBy::workload, now, out);
  const std::string c64(64, 'c');
  CHECK(out.str() ==
        "Digest:    sha256:" + c64 + " (repository digest, container web)\n"
        "Suspect:   shop/web-x\n"
        "Searched:  all namespaces: 1200 pods in 3 pages\n"
        "Found:     3 pods in 2 workloads; 1 pod not started (digest unknown)\n"
        "\n"
        "NAMESPACE   POD               WORKLOAD         NODE     PHASE     CONTAINER   AGE\n"
        "shop        web-a             Deployment/web   node-1   Running   web         5m\n"
        "shop        web-x (suspect)   Deployment/web   node-1   Running   web         5m\n"
        "\n"
        "batch       report-1          CronJob/report   node-1   Running   init:web    5m\n"
        "\n"
        "Not started (the image digest is known only once a container runs):\n"
        "NAMESPACE   POD       WORKLOAD              NODE     PHASE     CONTAINER   IMAGE                                 AGE\n"
        "shop        cache-0   ReplicaSet/cache-1?   <none>   Pending   cache       registry.example.com/shop/web:1.4.2   60s\n"
        "\n"
        "Notes:\n"
        "  - a note\n"
        "  - a WORKLOAD ending in \"?\" is the last owner that could be read: the chain may go higher\n");

  SUBCASE("partial and inconsistent results say so before anything else") {
    auto r = demo_report();
    r.partial = true;
    r.partial_reason = "searched only namespace shop";
    r.inconsistent = true;
    r.all_namespaces = false;
    r.namespaces_listed = {"shop"};
    std::ostringstream o2;
    print_siblings_table(r, triage::GroupBy::node, now, o2);
    CHECK(o2.str().find("Searched:  namespace shop (namespace by namespace): 1200 pods in 3 pages\n"
                        "Found:     3 pods on 1 node; 1 pod not started (digest unknown)\n"
                        "Result:    PARTIAL: searched only namespace shop\n"
                        "Result:    INCONSISTENT: ") != std::string::npos);
  }
  SUBCASE("hostile names are escaped") {
    auto r = demo_report();
    r.siblings[1].name = "web\x1b]0;owned\x07";
    r.notes = {"note \x1b[2J"};
    std::ostringstream o2;
    print_siblings_table(r, triage::GroupBy::workload, now, o2);
    CHECK(o2.str().find('\x1b') == std::string::npos);
    CHECK(o2.str().find("web\\x1b]0;owned\\x07") != std::string::npos);
  }
  SUBCASE("several architectures get a column") {
    auto r = demo_report();
    r.siblings[0].architecture = "arm64";
    std::ostringstream o2;
    print_siblings_table(r, triage::GroupBy::workload, now, o2);
    CHECK(o2.str().find("NODE     ARCH    PHASE") != std::string::npos);
  }
}

TEST_CASE("siblings_json: the -o json/yaml document") {
  const auto j = siblings_json(demo_report(), triage::GroupBy::namespace_name);
  CHECK(j["kind"] == "SiblingList");
  CHECK(j["suspect"] == json{{"namespace", "shop"}, {"name", "web-x"}});
  CHECK(j["complete"] == true);
  CHECK(j["digests"][0]["kind"] == "repoDigest");
  CHECK(j["digests"][0]["containers"] == json::array({"web"}));
  CHECK(j["groupBy"] == "namespace");
  REQUIRE(j["items"].size() == 3);
  CHECK(j["items"][0]["name"] == "web-a");  // the suspect's namespace first
  CHECK(j["items"][1]["suspect"] == true);
  CHECK(j["items"][2]["containers"][0]["type"] == "init");
  CHECK(j["items"][0]["workload"] == json{{"kind", "Deployment"}, {"name", "web"}, {"resolved", true}});
  CHECK(j["items"][0]["containers"][0]["digest"] == "sha256:" + std::string(64, 'c'));
  CHECK(j["groups"][0] == json{{"key", "shop"}, {"count", 2}, {"pods", {"shop/web-a", "shop/web-x"}}});
  CHECK(j["unknown"][0]["containers"][0] ==
        json{{"name", "cache"}, {"type", "container"}, {"image", "registry.example.com/shop/web:1.4.2"}, {"pinned", false}});
  CHECK(j["unknown"][0]["workload"]["note"] == "cannot get replicasets.apps in shop: forbidden");
  CHECK(j["scanned"] == json{{"pods", 1200}, {"pages", 3}, {"restarts", 0}, {"requests", 6}});
  CHECK(to_yaml(j).find("kind: SiblingList\n") != std::string::npos);
}

namespace {
using ir::testing::run_cli;
}  // namespace

TEST_CASE("siblings: usage errors before any connection") {
  const std::vector<std::vector<std::string>> cases = {
      {"siblings"},
      {"siblings", "web-1", "--digest", "sha256:abc"},
      {"siblings", "web-1", "-o", "wide"},
      {"siblings", "web-1", "--group-by", "team"},
      {"siblings", "web-1", "--chunk-size", "0"},
      {"siblings", "--digest", "sha256:abc", "-c", "web"},
      {"siblings", "deploy/web"},
      {"siblings", "shop/pod/web-1", "-n", "batch"},
  };
  for (const auto& args : cases) {
    CAPTURE(args.size());
    CAPTURE(args.back());
    const auto r = run_cli(args);
    CHECK(r.code == k_exit_usage);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("kubectl-ir: error: ", 0) == 0);
  }
  const auto help = run_cli({"siblings", "--help"});
  CHECK(help.code == k_exit_ok);
  CHECK(help.out.find("NAMESPACE/pod/NAME") != std::string::npos);
}
