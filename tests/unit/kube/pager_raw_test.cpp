#include <doctest/doctest.h>

#include "kube/pager.hpp"
#include "support/fake_kube.hpp"
#include "support/samples.hpp"

using namespace ir;
using namespace ir::kube;
using ir::testing::ClientFixture;

TEST_CASE("list_continue_token finds metadata.continue without parsing the items") {
  struct Case {
    const char* what;
    std::string text;
    std::string token;
  };
  const Case ok[] = {
      {"metadata first, as API servers write it", R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"eyJ2Ijo"},"items":[{}]})", "eyJ2Ijo"},
      {"last page", R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]})", ""},
      {"white space", " {\n \"metadata\" : { \"continue\" : \"t1\" } ,\"items\":[]}\n", "t1"},
      {"items before metadata", R"({"items":[{"metadata":{"continue":"not-this","name":"a\"}"}},[1,{"x":"]"}]],"metadata":{"continue":"t2"}})", "t2"},
      {"a continue inside an item is not the list's", R"({"items":[{"metadata":{"continue":"evil"}}],"metadata":{}})", ""},
      {"no metadata", R"({"items":[]})", ""},
      {"null continue", R"({"metadata":{"continue":null,"remainingItemCount":3}})", ""},
      {"escapes", R"({"metadata":{"continue":"a\/b\u0041\n"}})", "a/bA\n"},
      {"empty object", "{}", ""},
      {"nested values in metadata", R"({"metadata":{"x":{"continue":"deep"},"y":[true,null,1.5e3],"continue":"t3"}})", "t3"},
  };
  for (const auto& c : ok) {
    CAPTURE(c.what);
    auto t = list_continue_token(c.text);
    REQUIRE(t);
    CHECK(*t == c.token);
  }
  const char* bad[] = {"", "[]", "null", "<html>", R"({"metadata":{"continue":"t)", R"({"items":[{"a":1})", R"({"metadata" "x"})", R"({"metadata":{"continue":"\u00zz"}})"};
  // (Text after the metadata object is not looked at: the caller's parser validates the page.)
  for (const char* b : bad) {
    CAPTURE(b);
    auto t = list_continue_token(b);
    REQUIRE_FALSE(t);
    CHECK(t.error().code == Errc::protocol);
  }
}

TEST_CASE("list_continue_token reads the captured v1.26 pages") {
  auto p1 = list_continue_token(ir::testing::sample("podlist-allns-page1.json"));
  REQUIRE(p1);
  CHECK(*p1 == "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NzI3LCJzdGFydCI6ImlyLWRlbW8vbm9zaGVsbFx1MDAwMCJ9");
  auto p2 = list_continue_token(ir::testing::sample("podlist-allns-page2.json"));
  REQUIRE(p2);
}

namespace {
std::string page(const std::string& body_items, const std::string& cont) {
  return R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7")" +
         (cont.empty() ? std::string() : R"(,"continue":")" + cont + "\"") + R"(},"items":[)" + body_items + "]}";
}
std::string expired_status() {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{"continue":"fresh"},"status":"Failure","reason":"Expired","code":410,"message":"too old"})";
}
}  // namespace

TEST_CASE("Pager::next_raw hands out bodies page by page, with restarts") {
  ClientFixture f;
  f.transport.reply(200, page(R"({"n":1})", "t1"))
      .reply(410, expired_status())
      .reply(200, page(R"({"n":1})", "u1"))
      .reply(200, page(R"({"n":2})", ""));
  Pager p(f.client, "/api/v1/pods", {}, 1, "list pods");
  std::vector<std::pair<std::string, bool>> got;
  for (;;) {
    auto r = p.next_raw();
    REQUIRE(r);
    if (!r->has_value()) break;
    got.emplace_back((*r)->body, (*r)->restarted);
  }
  REQUIRE(got.size() == 3);
  CHECK(got[0] == std::make_pair(page(R"({"n":1})", "t1"), false));
  CHECK(got[1].second);  // restarted: the caller drops what it had
  CHECK_FALSE(got[2].second);
  CHECK(f.transport.requests[1].url.find("continue=t1") != std::string::npos);
  CHECK(f.transport.requests[2].url.find("continue") == std::string::npos);
  CHECK(f.transport.requests[3].url.find("continue=u1") != std::string::npos);
  CHECK(p.pages() == 3);
  CHECK(p.restarts() == 1);
  CHECK_FALSE(p.inconsistent());
}

TEST_CASE("Pager::next_raw fails on a page that is not a JSON object, naming the list") {
  ClientFixture f;
  f.transport.reply(200, "<html>sign in</html>");
  Pager p(f.client, "/api/v1/pods", {}, 500, "list pods in all namespaces");
  auto r = p.next_raw();
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "list pods in all namespaces: the list page is not a JSON object");
  auto done = p.next_raw();
  REQUIRE(done);
  CHECK_FALSE(done->has_value());
}

namespace {
// Streams half of the first answer's body, then breaks the connection; answers in full after.
class BreakingTransport final : public Transport {
 public:
  explicit BreakingTransport(std::vector<std::string> bodies) : m_bodies(std::move(bodies)) {}
  Result<HttpResponse> send(const HttpRequest& request) override {
    const std::string body = m_bodies.at(std::min(m_calls, m_bodies.size() - 1));
    if (m_calls++ == 0) {
      if (request.on_body) IR_CHECK(request.on_body(std::string_view(body).substr(0, body.size() / 2)));
      Error e(Errc::network, "connection reset by peer");
      return unexpected(e);
    }
    HttpResponse r;
    r.status = 200;
    if (request.on_body) {
      // In two chunks, as a network delivers it.
      IR_CHECK(request.on_body(std::string_view(body).substr(0, 10)));
      IR_CHECK(request.on_body(std::string_view(body).substr(10)));
    } else {
      r.body = body;
    }
    return r;
  }
  std::size_t m_calls = 0;

 private:
  std::vector<std::string> m_bodies;
};
}  // namespace

TEST_CASE("Pager::next_raw: a retried request's body starts over; the buffer handed in is reused") {
  const std::string first = page(R"({"n":1})", "t1");
  const std::string second = page(R"({"n":2})", "");
  BreakingTransport transport({first, first, second});
  ir::testing::FakeCredentials credentials;
  util::FakeClock clock;
  Client client(ir::testing::test_config(), transport, credentials, clock);
  Pager p(client, "/api/v1/pods", {}, 1, "list pods");
  auto r1 = p.next_raw();
  REQUIRE(r1);
  REQUIRE(r1->has_value());
  CHECK((*r1)->body == first);  // not half of it followed by all of it
  CHECK(transport.m_calls == 2);
  std::string reuse = std::move((*r1)->body);
  reuse.reserve(1 << 16);
  const char* memory = reuse.data();
  auto r2 = p.next_raw(std::move(reuse));
  REQUIRE(r2);
  REQUIRE(r2->has_value());
  CHECK((*r2)->body == second);
  CHECK((*r2)->body.data() == memory);
}
