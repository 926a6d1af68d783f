#include <doctest/doctest.h>

#include "kube/pager.hpp"
#include "support/fake_kube.hpp"

using namespace ir;
using namespace ir::kube;
using ir::testing::ClientFixture;

namespace {
std::string page(const std::vector<std::string>& names, const std::string& cont) {
  nlohmann::json j = {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "7"}}}};
  if (!cont.empty()) j["metadata"]["continue"] = cont;
  j["items"] = nlohmann::json::array();
  for (const auto& n : names) j["items"].push_back({{"metadata", {{"name", n}}}});
  return j.dump();
}
std::string expired(const std::string& fresh_token) {
  nlohmann::json j = {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                      {"status", "Failure"}, {"reason", "Expired"}, {"code", 410},
                      {"message", "The provided continue parameter is too old to display a consistent list result."}};
  if (!fresh_token.empty()) j["metadata"]["continue"] = fresh_token;
  return j.dump();
}
std::vector<std::string> drain(Pager& p, std::vector<bool>* restarted = nullptr) {
  std::vector<std::string> names;
  for (;;) {
    auto r = p.next();
    REQUIRE(r);
    if (!r->has_value()) return names;
    if ((*r)->restarted) names.clear();
    if (restarted) restarted->push_back((*r)->restarted);
    for (const auto& item : (*r)->list["items"]) names.push_back(item["metadata"]["name"].get<std::string>());
  }
}
std::string query_of(const HttpRequest& r) { return r.url.substr(r.url.find('?') + 1); }
}  // namespace

TEST_CASE("Pager hands out one page at a time") {
  ClientFixture f;
  f.transport.reply(200, page({"a", "b"}, "t1")).reply(200, page({"c", "d"}, "t2")).reply(200, page({"e"}, ""));
  Pager p(f.client, "/api/v1/pods", {{"labelSelector", "app=web"}}, 2, "list pods");
  auto first = p.next();
  REQUIRE(first);
  REQUIRE(first->has_value());
  CHECK(f.transport.requests.size() == 1);  // lazily: only the first page so far
  CHECK(f.transport.pending() == 2);
  CHECK(drain(p) == std::vector<std::string>{"c", "d", "e"});
  CHECK(query_of(f.transport.requests[0]) == "labelSelector=app%3Dweb&limit=2");
  CHECK(query_of(f.transport.requests[1]) == "labelSelector=app%3Dweb&limit=2&continue=t1");
  CHECK(p.pages() == 3);
  CHECK_FALSE(p.inconsistent());
  auto after = p.next();
  REQUIRE(after);
  CHECK_FALSE(after->has_value());
}

TEST_CASE("Pager restarts once after an expired continue token") {
  ClientFixture f;
  f.transport.reply(200, page({"a", "b"}, "t1"))
      .reply(410, expired("fresh"))
      .reply(200, page({"a", "b"}, "u1"))
      .reply(200, page({"c"}, ""));
  Pager p(f.client, "/api/v1/pods", {}, 2, "list pods");
  std::vector<bool> restarted;
  CHECK(drain(p, &restarted) == std::vector<std::string>{"a", "b", "c"});
  CHECK(restarted == std::vector<bool>{false, true, false});
  CHECK(query_of(f.transport.requests[2]) == "limit=2");  // from the beginning
  CHECK(p.restarts() == 1);
  CHECK_FALSE(p.inconsistent());
}

TEST_CASE("Pager continues inconsistently after a second expiry") {
  ClientFixture f;
  f.transport.reply(200, page({"a"}, "t1"))
      .reply(410, expired("x"))
      .reply(200, page({"a"}, "u1"))
      .reply(410, expired("fresh2"))
      .reply(200, page({"b"}, ""));
  Pager p(f.client, "/api/v1/pods", {}, 1, "list pods");
  CHECK(drain(p) == std::vector<std::string>{"a", "b"});
  CHECK(p.inconsistent());
  CHECK(query_of(f.transport.requests[4]) == "limit=1&continue=fresh2");
}

TEST_CASE("Pager fails when an expired token comes without a fresh one twice") {
  ClientFixture f;
  f.transport.reply(200, page({"a"}, "t1")).reply(410, expired("")).reply(200, page({"a"}, "u1")).reply(410, expired(""));
  Pager p(f.client, "/api/v1/pods", {}, 1, "list pods in all namespaces");
  REQUIRE(p.next());
  REQUIRE(p.next());  // restarted page
  auto r = p.next();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::gone);
  CHECK(r.error().message.rfind("list pods in all namespaces: The provided continue parameter is too old", 0) == 0);
}

TEST_CASE("Pager passes other errors through and stops") {
  ClientFixture f;
  f.transport.reply(200, page({"a"}, "t1")).reply(403, R"({"kind":"Status","status":"Failure","message":"nope","reason":"Forbidden","code":403})");
  Pager p(f.client, "/api/v1/pods", {}, 1, "list pods");
  REQUIRE(p.next());
  auto r = p.next();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::forbidden);
  auto done = p.next();
  REQUIRE(done);
  CHECK_FALSE(done->has_value());
}
