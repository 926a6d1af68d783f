#include <doctest/doctest.h>

#include "custody/sigv4.hpp"
#include "util/clock.hpp"

using namespace ir;
using namespace ir::custody;

namespace {

// The examples of https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// and sigv4-query-string-auth.html (bucket examplebucket, 24 May 2013).
AwsCredentials example_credentials() {
  return AwsCredentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", std::nullopt, "test"};
}
util::TimePoint may_24_2013() {
  return *util::parse_rfc3339("2013-05-24T00:00:00Z");
}

std::string header(const std::vector<std::pair<std::string, std::string>>& h, const std::string& name) {
  for (const auto& [k, v] : h)
    if (k == name) return v;
  return {};
}

}  // namespace

TEST_CASE("sign_request: AWS's GET object example") {
  SigningRequest r;
  r.method = "GET";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/test.txt";
  r.headers = {{"range", "bytes=0-9"}};
  r.payload_sha256 = std::string(k_empty_sha256);
  const auto added = sign_request(r, example_credentials(), "us-east-1", "s3", may_24_2013());
  CHECK(header(added, "x-amz-date") == "20130524T000000Z");
  CHECK(header(added, "Authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  CHECK(header(added, "x-amz-security-token").empty());
}

TEST_CASE("sign_request: AWS's PUT object example (signed payload, storage class header)") {
  SigningRequest r;
  r.method = "PUT";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/test$file.text";
  r.headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  r.payload_sha256 = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";  // "Welcome to Amazon S3."
  const auto added = sign_request(r, example_credentials(), "us-east-1", "s3", may_24_2013());
  CHECK(header(added, "Authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_CASE("sign_request: AWS's GET bucket lifecycle example (query sub-resource without a value)") {
  SigningRequest r;
  r.method = "GET";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/";
  r.query = {{"lifecycle", ""}};
  r.payload_sha256 = std::string(k_empty_sha256);
  const auto added = sign_request(r, example_credentials(), "us-east-1", "s3", may_24_2013());
  CHECK(header(added, "Authorization")
            .find("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") != std::string::npos);
}

TEST_CASE("sign_request: a session token is sent and signed") {
  SigningRequest r;
  r.method = "GET";
  r.host = "127.0.0.1:7480";
  r.path = "/b/k";
  r.payload_sha256 = std::string(k_empty_sha256);
  auto creds = example_credentials();
  creds.session_token = "session/token+value";
  const auto added = sign_request(r, creds, "us-east-1", "s3", may_24_2013());
  CHECK(header(added, "x-amz-security-token") == "session/token+value");
  CHECK(
      header(added, "Authorization").find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token") !=
      std::string::npos);
}

TEST_CASE("presign_url: AWS's query-string example") {
  SigningRequest r;
  r.method = "GET";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/test.txt";
  const std::string url = presign_url("https", r, example_credentials(), "us-east-1", "s3", may_24_2013(), 86400);
  CHECK(url ==
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
        "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST_CASE("aws_uri_encode") {
  CHECK(aws_uri_encode("a b/c~d_e.f-g", true) == "a%20b/c~d_e.f-g");
  CHECK(aws_uri_encode("a b/c", false) == "a%20b%2Fc");
  CHECK(aws_uri_encode("é+=", false) == "%C3%A9%2B%3D");
}

TEST_CASE("redact_url hides signatures, credentials and tokens") {
  CHECK(redact_url(
            "https://h/b/k?X-Amz-Algorithm=A&X-Amz-Credential=AK%2Fx&X-Amz-Security-Token=tok&X-Amz-Signature=abc") ==
        "https://h/b/"
        "k?X-Amz-Algorithm=A&X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED");
  CHECK(redact_url("https://h/b/k?partNumber=1&uploadId=x") == "https://h/b/k?partNumber=1&uploadId=x");
  CHECK(redact_url("https://h/b/k") == "https://h/b/k");
}
