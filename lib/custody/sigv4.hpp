#pragma once
// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing.html),
// by hand on OpenSSL's HMAC-SHA256 and SHA-256. libcurl's CURLOPT_AWS_SIGV4 is not used: 7.88
// signs the payload hash of POSTFIELDS only (an upload streamed with -T gets the hash of an empty
// body and fails), cannot presign a URL, and we want the payload hash to be the bundle's own
// SHA-256 so the server checks the bytes it stores against it.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/clock.hpp"

namespace ir::custody {

// Credentials for signing. The secret and the session token are never formatted into a message,
// a trace line or a journal: only the access key id may be shown.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;                  // "" for long-term keys
  std::optional<util::TimePoint> expiration;  // temporary credentials (web identity)
  std::string source;                         // where they came from: "environment", "profile default", ...
};

// The payload hash for a body that is not hashed (presigned URLs, unsigned streaming).
inline constexpr std::string_view k_unsigned_payload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string: the payload hash of a request without a body.
inline constexpr std::string_view k_empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// What is signed of one request.
struct SigningRequest {
  std::string method;  // "PUT"
  std::string host;    // the Host header: "bucket.s3.eu-west-1.amazonaws.com" or "127.0.0.1:7480"
  std::string path;    // the raw (unencoded) path, "/bucket/key with space"; encoded here
  std::vector<std::pair<std::string, std::string>> query;    // raw names and values, any order
  std::vector<std::pair<std::string, std::string>> headers;  // headers to sign besides host and x-amz-*
  std::string payload_sha256;                                // hex, or k_unsigned_payload
};

// Percent-encodes as SigV4 wants: RFC 3986 unreserved characters pass, everything else is %XX
// (upper case); with `keep_slash`, '/' passes too (object key paths).
std::string aws_uri_encode(std::string_view s, bool keep_slash);

// The canonical request's text (for tests and for debugging signature mismatches).
std::string canonical_request(const SigningRequest& request,
                              const std::vector<std::pair<std::string, std::string>>& all_headers);

// Signs `request` for `service` in `region` at `now`: returns the headers to send with it
// (Authorization, x-amz-date, x-amz-content-sha256, and x-amz-security-token when the credentials
// have a session token), besides those in request.headers. Never fails.
std::vector<std::pair<std::string, std::string>> sign_request(const SigningRequest& request,
                                                              const AwsCredentials& credentials,
                                                              const std::string& region, const std::string& service,
                                                              util::TimePoint now);

// A presigned URL ("query string authentication") for `request`, valid `expires_seconds` (1 s to
// 7 days) from `now`: scheme://host/path?...&X-Amz-Signature=... . request.payload_sha256 is
// ignored (UNSIGNED-PAYLOAD); request.headers are signed, so the user of the URL must send them.
std::string presign_url(const std::string& scheme, const SigningRequest& request, const AwsCredentials& credentials,
                        const std::string& region, const std::string& service, util::TimePoint now,
                        long expires_seconds);

// `url` with the values of its credential-bearing query parameters (X-Amz-Signature,
// X-Amz-Credential, X-Amz-Security-Token, Signature, AWSAccessKeyId) replaced by "REDACTED", for
// messages and trace lines.
std::string redact_url(const std::string& url);

}  // namespace ir::custody
