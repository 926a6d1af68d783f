#include "custody/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "custody/hex.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::custody {

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// "20130524T000000Z" and "20130524".
std::pair<std::string, std::string> amz_dates(util::TimePoint now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  const std::string stamp(buf);
  return {stamp, stamp.substr(0, 8)};
}

std::string canonical_query(const Pairs& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(aws_uri_encode(k, false), aws_uri_encode(v, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

// Lower-case names, trimmed values with inner runs of spaces folded, sorted by name.
Pairs canonical_headers(const Pairs& headers) {
  Pairs out;
  for (const auto& [name, value] : headers) {
    std::string v;
    bool space = false;
    for (const char c : util::trim(value)) {
      if (c == ' ') {
        if (!space) v += ' ';
        space = true;
      } else {
        v += c;
        space = false;
      }
    }
    out.emplace_back(util::to_lower(name), std::move(v));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string signed_header_names(const Pairs& canonical) {
  std::string out;
  for (const auto& [name, value] : canonical) {
    if (!out.empty()) out += ';';
    out += name;
  }
  return out;
}

std::string signature(const std::string& secret, const std::string& date, const std::string& region,
                      const std::string& service, const std::string& string_to_sign) {
  const std::string k_date = hmac("AWS4" + secret, date);
  const std::string k_region = hmac(k_date, region);
  const std::string k_service = hmac(k_region, service);
  const std::string k_signing = hmac(k_service, "aws4_request");
  return hex_encode(hmac(k_signing, string_to_sign));
}

std::string string_to_sign(const std::string& stamp, const std::string& scope, const std::string& canonical) {
  return "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + util::sha256_hex(canonical);
}

}  // namespace

std::string aws_uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += k_hex[b >> 4U];
      out += k_hex[b & 0x0FU];
    }
  }
  return out;
}

std::string canonical_request(const SigningRequest& request, const Pairs& all_headers) {
  const Pairs headers = canonical_headers(all_headers);
  std::string out = request.method + "\n" + aws_uri_encode(request.path.empty() ? "/" : request.path, true) + "\n" +
                    canonical_query(request.query) + "\n";
  for (const auto& [name, value] : headers) out += name + ":" + value + "\n";
  out += "\n" + signed_header_names(headers) + "\n" + request.payload_sha256;
  return out;
}

Pairs sign_request(const SigningRequest& request, const AwsCredentials& credentials, const std::string& region,
                   const std::string& service, util::TimePoint now) {
  const auto [stamp, date] = amz_dates(now);
  Pairs added = {{"x-amz-date", stamp}, {"x-amz-content-sha256", request.payload_sha256}};
  if (!credentials.session_token.empty()) added.emplace_back("x-amz-security-token", credentials.session_token);
  Pairs all = request.headers;
  all.emplace_back("host", request.host);
  all.insert(all.end(), added.begin(), added.end());
  const std::string canonical = canonical_request(request, all);
  const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, service);
  const std::string sig =
      signature(credentials.secret_access_key, date, region, service, string_to_sign(stamp, scope, canonical));
  added.emplace_back("Authorization",
                     fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                                 credentials.access_key_id, scope, signed_header_names(canonical_headers(all)), sig));
  return added;
}

std::string presign_url(const std::string& scheme, const SigningRequest& request, const AwsCredentials& credentials,
                        const std::string& region, const std::string& service, util::TimePoint now,
                        long expires_seconds) {
  const auto [stamp, date] = amz_dates(now);
  const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, service);
  Pairs headers = request.headers;
  headers.emplace_back("host", request.host);
  SigningRequest r = request;
  r.payload_sha256 = std::string(k_unsigned_payload);
  r.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  r.query.emplace_back("X-Amz-Credential", credentials.access_key_id + "/" + scope);
  r.query.emplace_back("X-Amz-Date", stamp);
  r.query.emplace_back("X-Amz-Expires", std::to_string(std::clamp(expires_seconds, 1L, 604800L)));
  if (!credentials.session_token.empty()) r.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  r.query.emplace_back("X-Amz-SignedHeaders", signed_header_names(canonical_headers(headers)));
  const std::string canonical = canonical_request(r, headers);
  const std::string sig =
      signature(credentials.secret_access_key, date, region, service, string_to_sign(stamp, scope, canonical));
  return scheme + "://" + request.host + aws_uri_encode(request.path.empty() ? "/" : request.path, true) + "?" +
         canonical_query(r.query) + "&X-Amz-Signature=" + sig;
}

std::string redact_url(const std::string& url) {
  const auto q = url.find('?');
  if (q == std::string::npos) return url;
  std::string out = url.substr(0, q + 1);
  bool first = true;
  for (const auto& param : util::split(std::string_view(url).substr(q + 1), '&')) {
    if (!first) out += '&';
    first = false;
    const auto eq = param.find('=');
    const std::string name = param.substr(0, eq);
    const std::string lower = util::to_lower(name);
    if (eq != std::string::npos &&
        (lower == "x-amz-signature" || lower == "x-amz-credential" || lower == "x-amz-security-token" ||
         lower == "signature" || lower == "awsaccesskeyid")) {
      out += name + "=REDACTED";
    } else {
      out += param;
    }
  }
  return out;
}

}  // namespace ir::custody
