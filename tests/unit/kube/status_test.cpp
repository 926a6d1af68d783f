#include <doctest/doctest.h>

#include "kube/status.hpp"
#include "support/samples.hpp"

using namespace ir;
using namespace ir::kube;

using ir::testing::sample;

TEST_CASE("error_from_http decodes real Status bodies") {
  struct Case {
    const char* file;
    int http;
    Errc code;
    const char* reason;
    const char* message_start;
  };
  const Case cases[] = {
      {"status-404-notfound.json", 404, Errc::not_found, "NotFound", "pods \"doesnotexist\" not found"},
      {"status-403-forbidden.json", 403, Errc::forbidden, "Forbidden", "pods \"doesnotexist\" is forbidden: User"},
      {"status-409-alreadyexists.json", 409, Errc::conflict, "AlreadyExists", "networkpolicies.networking.k8s.io"},
      {"status-422-invalid.json", 422, Errc::invalid, "Invalid", "NetworkPolicy.extensions \"Bad_Name\" is invalid"},
      {"status-400-badcontinue.json", 400, Errc::invalid, "BadRequest", "invalid continue token"},
      {"selfsubjectreview-v1-on-1.26.json", 404, Errc::not_found, "NotFound", "the server could not find"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    const Error e = error_from_http(c.http, "application/json", sample(c.file));
    CHECK(e.code == c.code);
    CHECK(e.http_status == c.http);
    CHECK(e.reason == c.reason);
    CHECK(e.message.rfind(c.message_start, 0) == 0);
  }
}

TEST_CASE("error_from_http without a Status body") {
  SUBCASE("empty 403 (exec upgrade refused on v5-only offer)") {
    const Error e = error_from_http(403, "", "");
    CHECK(e.code == Errc::forbidden);
    CHECK(e.message == "the server answered HTTP 403 Forbidden");
  }
  SUBCASE("an HTML page is recognisable and bounded") {
    const std::string html = "<html><body>" + std::string(1000, 'x') + "</body></html>";
    const Error e = error_from_http(502, "text/html", html);
    CHECK(e.code == Errc::server);
    CHECK(e.message.rfind("the server answered HTTP 502 Bad Gateway (text/html: <html><body>xxx", 0) == 0);
    CHECK(e.message.size() < 250);
  }
  SUBCASE("401 keeps a reason") {
    const Error e = error_from_http(401, "application/json",
                                    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})");
    CHECK(e.code == Errc::unauthorized);
    CHECK(e.message == "Unauthorized");
  }
}

TEST_CASE("parse_status") {
  auto ok = parse_status(R"({"metadata":{},"status":"Success"})");
  REQUIRE(ok);
  CHECK(ok->status == "Success");
  auto exit3 = parse_status(
      R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}})");
  REQUIRE(exit3);
  CHECK(exit3->reason == "NonZeroExitCode");
  CHECK(exit3->details_json.find("ExitCode") != std::string::npos);
  auto expired = parse_status(
      R"({"kind":"Status","apiVersion":"v1","metadata":{"continue":"tok2"},"status":"Failure","reason":"Expired","code":410})");
  REQUIRE(expired);
  CHECK(expired->continue_token == "tok2");
  CHECK_FALSE(parse_status("not json"));
  CHECK_FALSE(parse_status(R"({"kind":"Pod","status":{}})"));
  CHECK_FALSE(parse_status("[1,2]"));
}
