#include <doctest/doctest.h>

#include "custody/credentials.hpp"
#include "fake_s3.hpp"
#include "support/temp_dir.hpp"
#include "util/files.hpp"

using namespace ir;
using namespace ir::custody;
using ir::testing::answer;
using ir::testing::ScriptedTransport;

namespace {

const char* k_sts_answer = R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIATEMP</AccessKeyId>
<SecretAccessKey>temp-secret</SecretAccessKey><SessionToken>temp-token</SessionToken>
<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>)";

ScriptedTransport no_network() {
  return ScriptedTransport(
      [](const auto&) -> Result<kube::HttpResponse> { return fail(Errc::failure, "no network in this test"); });
}

}  // namespace

TEST_CASE("parse_ini reads the AWS CLI's files") {
  const auto ini = parse_ini(
      "# c\n[default]\naws_access_key_id = AK\nAWS_Secret_Access_Key=SK \n; c\n"
      "[profile ir]\nregion = eu-west-1\ns3 =\n  addressing_style = path\nrole_arn = arn\n");
  CHECK(ini.at("default").at("aws_access_key_id") == "AK");
  CHECK(ini.at("default").at("aws_secret_access_key") == "SK");
  CHECK(ini.at("profile ir").at("region") == "eu-west-1");
  CHECK(ini.at("profile ir").count("addressing_style") == 0);
  CHECK(ini.at("profile ir").at("role_arn") == "arn");
}

TEST_CASE("resolve_credentials: the environment first, complete or refused") {
  util::FakeClock clock;
  auto transport = no_network();
  CredentialInputs in;
  in.access_key_id = "AKENV";
  in.secret_access_key = "SKENV";
  in.session_token = "TOK";
  auto c = resolve_credentials(in, transport, clock);
  REQUIRE(c);
  CHECK(c->access_key_id == "AKENV");
  CHECK(c->session_token == "TOK");
  CHECK(c->source == "environment");
  in.secret_access_key.clear();
  auto half = resolve_credentials(in, transport, clock);
  REQUIRE_FALSE(half);
  CHECK(half.error().message.find("AWS_SECRET_ACCESS_KEY is not set") != std::string::npos);
}

TEST_CASE("resolve_credentials: profiles in the credentials file, then the config file") {
  testing::TempDir dir;
  util::FakeClock clock;
  auto transport = no_network();
  REQUIRE(util::write_file_atomic(dir.file("credentials"),
                                  "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n"
                                  "[ir]\naws_access_key_id = AKIR\naws_secret_access_key = SKIR\n"));
  REQUIRE(util::write_file_atomic(dir.file("config"),
                                  "[profile cfg]\naws_access_key_id = AKC\naws_secret_access_key = SKC\n"
                                  "region = eu-central-1\n[profile chained]\nrole_arn = arn:x\n"
                                  "source_profile = ir\n"));
  CredentialInputs in;
  in.credentials_file = dir.file("credentials");
  in.config_file = dir.file("config");
  CHECK(resolve_credentials(in, transport, clock)->access_key_id == "AKD");
  in.profile = "ir";
  CHECK(resolve_credentials(in, transport, clock)->access_key_id == "AKIR");
  in.profile = "cfg";
  CHECK(resolve_credentials(in, transport, clock)->access_key_id == "AKC");
  CHECK(profile_config(in)->at("region") == "eu-central-1");
  in.profile = "chained";
  auto chained = resolve_credentials(in, transport, clock);
  REQUIRE_FALSE(chained);
  CHECK(chained.error().message.find("source_profile") != std::string::npos);
  in.profile = "absent";
  auto none = resolve_credentials(in, transport, clock);
  REQUIRE_FALSE(none);
  CHECK(none.error().message.find("no AWS credentials") != std::string::npos);
  CHECK(none.error().message.find("SKD") == std::string::npos);
}

TEST_CASE("resolve_credentials: web identity through STS, before the profile") {
  testing::TempDir dir;
  util::FakeClock clock(*util::parse_rfc3339("2026-12-05T10:00:00Z"));
  REQUIRE(util::write_file_atomic(dir.file("token"), "jwt.token.value\n"));
  std::string answer_body = k_sts_answer;
  ScriptedTransport sts([&](const testing::SeenRequest& r) -> Result<kube::HttpResponse> {
    return answer(r.body.find("WebIdentityToken=jwt.token.value") != std::string::npos ? 200 : 403,
                  r.body.find("WebIdentityToken=jwt.token.value") != std::string::npos
                      ? answer_body
                      : "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>");
  });
  CredentialInputs in;
  in.role_arn = "arn:aws:iam::1:role/ir";
  in.web_identity_token_file = dir.file("token");
  in.sts_endpoint = "http://127.0.0.1:9/";
  auto c = resolve_credentials(in, sts, clock);
  REQUIRE(c);
  CHECK(c->access_key_id == "ASIATEMP");
  CHECK(c->session_token == "temp-token");
  REQUIRE(sts.requests.size() == 1);
  const auto& form = sts.requests[0].body;
  CHECK(form.find("Action=AssumeRoleWithWebIdentity") != std::string::npos);
  CHECK(form.find("RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fir") != std::string::npos);
  CHECK(form.find("RoleSessionName=kubectl-ir-20261205T100000Z") != std::string::npos);
  CHECK(sts.requests[0].request.url.find("jwt") == std::string::npos);  // the token is never in the URL

  SUBCASE("expired credentials are refused") {
    answer_body.replace(answer_body.find("2099-01-01"), 10, "2020-01-01");
    auto expired = resolve_credentials(in, sts, clock);
    REQUIRE_FALSE(expired);
    CHECK(expired.error().message == "the temporary credentials from STS expired at 2020-01-01T00:00:00Z");
  }
  SUBCASE("STS's refusal is shown with its code, never the token") {
    REQUIRE(util::write_file_atomic(dir.file("token"), "another.token\n"));
    auto refused = resolve_credentials(in, sts, clock);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::forbidden);
    CHECK(refused.error().message.find("AccessDenied: no") != std::string::npos);
    CHECK(refused.error().message.find("another.token") == std::string::npos);
  }
  SUBCASE("a role without a token file is incomplete") {
    in.web_identity_token_file.clear();
    auto half = resolve_credentials(in, sts, clock);
    REQUIRE_FALSE(half);
    CHECK(half.error().message.find("the token file is missing") != std::string::npos);
  }
}
