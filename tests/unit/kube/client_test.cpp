#include <doctest/doctest.h>

#include "support/fake_kube.hpp"

using namespace ir;
using namespace ir::kube;
using ir::testing::ClientFixture;
using ir::testing::header_of;

namespace {
Call get(const std::string& path) {
  Call c;
  c.path = path;
  c.what = "get thing";
  return c;
}
Call post(const std::string& path) {
  Call c = get(path);
  c.method = "POST";
  c.body = "{}";
  c.content_type = "application/json";
  c.what = "create thing";
  return c;
}
const char* k_forbidden =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"web-1\" is forbidden: User \"alice\" cannot patch resource \"pods\" in API group \"\" in the namespace \"shop\"","reason":"Forbidden","details":{"name":"web-1","kind":"pods"},"code":403})";
}  // namespace

TEST_CASE("Client::send builds the URL and headers") {
  ClientFixture f;
  f.transport.reply(200, "{}");
  Call c = get("/api/v1/pods");
  c.query = {{"labelSelector", "app=web"}, {"limit", "500"}};
  REQUIRE(f.client.send(c));
  REQUIRE(f.transport.requests.size() == 1);
  const auto& r = f.transport.requests[0];
  CHECK(r.url == "https://127.0.0.1:6443/api/v1/pods?labelSelector=app%3Dweb&limit=500");
  CHECK(header_of(r, "Authorization") == "Bearer token-0");
  CHECK(header_of(r, "Accept") == "application/json");
}

TEST_CASE("Client::send adds impersonation headers") {
  testing::FakeTransport transport;
  testing::FakeCredentials creds;
  util::FakeClock clock;
  auto config = testing::test_config();
  config.impersonate_user = "bob";
  config.impersonate_groups = {"ops", "sre"};
  Client client(config, transport, creds, clock);
  transport.reply(200, "{}");
  REQUIRE(client.send(get("/version")));
  int groups = 0;
  for (const auto& h : transport.requests[0].headers) groups += h.name == "Impersonate-Group" ? 1 : 0;
  CHECK(header_of(transport.requests[0], "Impersonate-User") == "bob");
  CHECK(groups == 2);
}

TEST_CASE("Client::send surfaces the Status message with context") {
  ClientFixture f;
  f.transport.reply(403, k_forbidden, {{"content-type", "application/json"}});
  auto r = f.client.send(get("/api/v1/namespaces/shop/pods/web-1"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::forbidden);
  CHECK(r.error().reason == "Forbidden");
  CHECK(r.error().message ==
        "get thing: pods \"web-1\" is forbidden: User \"alice\" cannot patch resource \"pods\" in API group \"\" in the "
        "namespace \"shop\"");
  CHECK(f.transport.requests.size() == 1);  // 403 is not retried
}

TEST_CASE("Client::send retries 429 honouring Retry-After") {
  ClientFixture f;
  f.transport.reply(429, "", {{"retry-after", "3"}}).reply(429, "", {{"retry-after", "1"}}).reply(200, "{}");
  REQUIRE(f.client.send(post("/apis/x")));  // any method: a 429 was not processed
  CHECK(f.transport.requests.size() == 3);
  CHECK(f.clock.slept() == std::chrono::seconds(4));
}

TEST_CASE("Client::send caps a huge Retry-After and falls back on a malformed one") {
  ClientFixture f;
  f.transport.reply(429, "", {{"retry-after", "86400"}}).reply(429, "", {{"retry-after", "soon"}}).reply(200, "{}");
  REQUIRE(f.client.send(get("/x")));
  // 60 s cap + 500 ms backoff (second attempt's exponential step)
  CHECK(f.clock.slept() == std::chrono::milliseconds(60500));
}

TEST_CASE("Client::send gives up after max attempts") {
  ClientFixture f;
  for (int i = 0; i < 10; ++i) f.transport.reply(503, "");
  auto r = f.client.send(get("/x"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::server);
  CHECK(f.transport.requests.size() == 6);
}

TEST_CASE("Client::send retries 5xx and network errors only where safe") {
  SUBCASE("5xx on GET is retried") {
    ClientFixture f;
    f.transport.reply(500, "").reply(200, "{}");
    CHECK(f.client.send(get("/x")));
    CHECK(f.transport.requests.size() == 2);
  }
  SUBCASE("5xx on POST is not") {
    ClientFixture f;
    f.transport.reply(500, "");
    CHECK_FALSE(f.client.send(post("/x")));
    CHECK(f.transport.requests.size() == 1);
  }
  SUBCASE("a failed connect is retried for any method") {
    ClientFixture f;
    f.transport.fail_with(Errc::network, "connect").reply(201, "{}");
    CHECK(f.client.send(post("/x")));
    CHECK(f.transport.requests.size() == 2);
  }
  SUBCASE("a reset after sending is retried for GET only") {
    ClientFixture f;
    f.transport.fail_with(Errc::network);
    CHECK_FALSE(f.client.send(post("/x")));
    ClientFixture g;
    g.transport.fail_with(Errc::network).reply(200, "{}");
    CHECK(g.client.send(get("/x")));
  }
  SUBCASE("TLS errors are not retried") {
    ClientFixture f;
    f.transport.fail_with(Errc::tls);
    auto r = f.client.send(get("/x"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::tls);
    CHECK(f.transport.requests.size() == 1);
  }
}

TEST_CASE("Client::send refreshes credentials once after a 401") {
  ClientFixture f;
  f.transport.reply(401, "").reply(200, "{}");
  REQUIRE(f.client.send(get("/x")));
  CHECK(f.credentials.refreshes == 1);
  CHECK(header_of(f.transport.requests[1], "Authorization") == "Bearer token-1");

  ClientFixture g;
  g.transport.reply(401, "").reply(401, "");
  auto r = g.client.send(get("/x"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::unauthorized);
  CHECK(g.credentials.refreshes == 1);
  CHECK_FALSE(r.error().hint.empty());
}

TEST_CASE("Client::send_json rejects a non-JSON 2xx body with a hint") {
  ClientFixture f;
  f.transport.reply(200, "<html>login page</html>", {{"content-type", "text/html"}});
  auto r = f.client.send_json(get("/version"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::protocol);
  CHECK(r.error().message == "get thing: the server answered HTTP 200 with text/html instead of JSON: <html>login page</html>");
  CHECK(r.error().hint.find("https://127.0.0.1:6443") != std::string::npos);
}

TEST_CASE("Client::send streams a 2xx body to on_body") {
  ClientFixture f;
  f.transport.reply(200, "line1\nline2\n");
  std::string got;
  Call c = get("/log");
  c.on_body = [&](std::string_view chunk) -> Result<void> {
    got += chunk;
    return {};
  };
  auto r = f.client.send(c);
  REQUIRE(r);
  CHECK(got == "line1\nline2\n");
  CHECK(r->body.empty());
}
