#include "custody/s3.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "custody/hex.hpp"
#include "custody/xml.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::custody {

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

constexpr std::uint64_t k_mib = 1024ULL * 1024;
constexpr std::uint64_t k_min_part = 8 * k_mib;
constexpr std::uint64_t k_max_part = 64 * k_mib;
constexpr std::uint64_t k_max_parts = 10000;
constexpr std::uint64_t k_max_single_put = 5ULL * 1024 * 1024 * 1024;
constexpr std::size_t k_max_response = 4 * 1024 * 1024;  // S3's XML answers (1,000 parts listed ~ 300 KiB)
constexpr std::size_t k_read_chunk = 1024 * 1024;

std::string message_text(std::string_view s) {
  return util::escape_for_terminal(s, 512);
}

// --- files ------------------------------------------------------------------------------------

// An open file, read with pread (so several readers never share an offset). Closed on destruction.
class File {
 public:
  static Result<std::shared_ptr<File>> open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(Errc::io, fmt::format("{}: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return fail(Errc::io, fmt::format("{}: not a regular file", path));
    }
    return std::make_shared<File>(fd, static_cast<std::uint64_t>(st.st_size), path);
  }
  File(int fd, std::uint64_t size, std::string path) : m_fd(fd), m_size(size), m_path(std::move(path)) {}
  ~File() { ::close(m_fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  [[nodiscard]] std::uint64_t size() const { return m_size; }

  // Reads exactly `n` bytes at `offset`; a short file (truncated meanwhile) is an error.
  Result<void> read_at(std::uint64_t offset, char* out, std::size_t n) const {
    while (n > 0) {
      const ssize_t r = ::pread(m_fd, out, n, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        return fail(Errc::io, fmt::format("read {}: {}", m_path, std::strerror(errno)));
      }
      if (r == 0) return fail(Errc::io, fmt::format("read {}: the file became shorter during the upload", m_path));
      out += r;
      n -= static_cast<std::size_t>(r);
      offset += static_cast<std::uint64_t>(r);
    }
    return {};
  }

 private:
  int m_fd;
  std::uint64_t m_size;
  std::string m_path;
};

// Reads [offset, offset+length) of `file` in chunks of `buffer`'s size, handing each to `each`.
Result<void> read_chunks(const File& file, std::uint64_t offset, std::uint64_t length, std::string& buffer,
                         const std::function<void(std::string_view)>& each) {
  for (std::uint64_t done = 0; done < length;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done));
    IR_CHECK(file.read_at(offset + done, buffer.data(), n));
    each(std::string_view(buffer.data(), n));
    done += n;
  }
  return {};
}

// SHA-256 of a whole file, streamed in 1 MiB reads.
Result<std::string> hash_file(const File& file) {
  util::Sha256 h;
  std::string buf(k_read_chunk, '\0');
  IR_CHECK(read_chunks(file, 0, file.size(), buf, [&](std::string_view data) { h.update(data); }));
  return h.hex_digest();
}

// A body source over [offset, offset+length) of a file.
kube::BodySource file_source(std::shared_ptr<File> file, std::uint64_t offset, std::uint64_t length,
                             std::function<void(std::string_view)> observe = {}) {
  auto pos = std::make_shared<std::uint64_t>(0);
  return [file = std::move(file), offset, length, pos, observe = std::move(observe)](
             char* buf, std::size_t cap) -> Result<std::size_t> {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(cap, length - *pos));
    if (n == 0) return std::size_t{0};
    IR_CHECK(file->read_at(offset + *pos, buf, n));
    if (observe) observe(std::string_view(buf, n));
    *pos += n;
    return n;
  };
}

std::string raw_sha256(std::string_view data) {
  util::Digest d(util::DigestAlgorithm::sha256);
  d.update(data);
  return d.raw();
}

// An ETag without its quotes, lower-cased.
std::string bare_etag(std::string_view etag) {
  auto e = util::trim(etag);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return util::to_lower(e);
}

// --- endpoint and addressing --------------------------------------------------------------------

struct Endpoint {
  std::string scheme;  // "https"
  std::string host;    // "s3.eu-west-1.amazonaws.com", "127.0.0.1:7480"
  bool host_is_ip_or_has_port = false;
};

Result<Endpoint> parse_endpoint(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos)
    return fail(Errc::usage, "S3 endpoint " + message_text(url) + ": not a URL (https://host[:port])");
  Endpoint e;
  e.scheme = util::to_lower(url.substr(0, sep));
  if (e.scheme != "https" && e.scheme != "http") {
    return fail(Errc::usage, "S3 endpoint " + message_text(url) + ": the scheme must be https or http");
  }
  std::string rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty() || rest.find('@') != std::string::npos)
    return fail(Errc::usage, "S3 endpoint " + message_text(url) + ": no host");
  e.host = rest;
  const bool bracketed = rest.front() == '[';
  const auto close = rest.find(']');
  const std::string after_host = bracketed ? (close == std::string::npos ? "" : rest.substr(close + 1)) : rest;
  const bool has_port = after_host.find(':') != std::string::npos;
  std::string bare = bracketed ? rest : rest.substr(0, rest.find(':'));
  const bool ip =
      bracketed || std::all_of(bare.begin(), bare.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  e.host_is_ip_or_has_port = ip || has_port;
  return e;
}

// --- errors -------------------------------------------------------------------------------------

Errc errc_for_status(int status) {
  switch (status) {
    case 400:
      return Errc::invalid;
    case 401:
      return Errc::unauthorized;
    case 403:
      return Errc::forbidden;
    case 404:
      return Errc::not_found;
    case 409:
      return Errc::conflict;
    case 429:
      return Errc::too_many_requests;
    default:
      return status >= 500 ? Errc::server : Errc::failure;
  }
}

bool retryable(const Error& e) {
  switch (e.code) {
    case Errc::network:
    case Errc::timeout:
    case Errc::server:
    case Errc::too_many_requests:
      return true;
    default:
      // BadDigest: the body did not match its Content-MD5 (damaged on the way, or the file changed:
      // then every attempt fails the same way and the upload is given up).
      return e.reason == "RequestTimeout" || e.reason == "SlowDown" || e.reason == "InternalError" ||
             e.reason == "BadDigest";
  }
}

}  // namespace

Error s3_error(const kube::HttpResponse& response, const std::string& what, bool lock_requested) {
  std::string code;
  std::string message;
  if (!response.body.empty()) {
    if (auto doc = parse_xml(response.body); doc && doc->name == "Error") {
      code = doc->child_text("Code");
      message = doc->child_text("Message");
    } else if (doc && doc->name == "ErrorResponse") {  // STS
      if (const auto* err = doc->child("Error")) {
        code = err->child_text("Code");
        message = err->child_text("Message");
      }
    }
  }
  std::string text = fmt::format("{}: HTTP {}", what, response.status);
  if (!code.empty()) text += " " + message_text(code);
  if (!message.empty()) text += ": " + message_text(message);
  Error e(errc_for_status(response.status), text);
  e.http_status = response.status;
  e.reason = code;
  if (code == "SignatureDoesNotMatch") {
    e = e.with_hint(
        "the secret access key does not belong to the access key id (check AWS_SECRET_ACCESS_KEY or the "
        "profile), or the region (--s3-region) is not the bucket's");
  } else if (code == "InvalidAccessKeyId") {
    e = e.with_hint(
        "the access key id is unknown to this endpoint (check AWS_ACCESS_KEY_ID, AWS_PROFILE, --s3-endpoint)");
  } else if (code == "ExpiredToken" || code == "TokenRefreshRequired" || code == "InvalidToken" ||
             code == "ExpiredTokenException") {
    e = e.with_hint("the session token is expired or invalid: get fresh temporary credentials (AWS_SESSION_TOKEN)");
  } else if (code == "AccessDenied" && lock_requested) {
    e = e.with_hint(
        "the identity needs s3:PutObject, s3:PutObjectRetention and s3:PutObjectLegalHold on the bucket "
        "(and s3:GetObjectRetention, s3:GetObjectLegalHold to confirm the lock)");
  } else if (code == "AccessDenied") {
    e = e.with_hint(
        "the identity needs s3:PutObject (and s3:ListBucketMultipartUploads, s3:ListMultipartUploadParts, "
        "s3:AbortMultipartUpload for large bundles) on the bucket; if it has them, check the secret access "
        "key: some servers (radosgw with STS) answer a wrong signature with AccessDenied");
  } else if (code == "NoSuchBucket") {
    e = e.with_hint("check the bucket name, the endpoint and the region");
  } else if (lock_requested && (code == "InvalidRequest" || code == "InvalidBucketState" ||
                                code == "ObjectLockConfigurationNotFoundError" || response.status == 400)) {
    e.message =
        fmt::format("{}: the bucket refused the Object Lock (HTTP {}{}{})", what, response.status,
                    code.empty() ? "" : " " + message_text(code), message.empty() ? "" : ": " + message_text(message));
    e = e.with_hint(
        "the bucket needs Object Lock, which is enabled when it is created (aws s3api create-bucket "
        "--object-lock-enabled-for-bucket); nothing unlocked was stored");
  }
  return e;
}

std::string_view to_header(LockMode mode) {
  switch (mode) {
    case LockMode::governance:
      return "GOVERNANCE";
    case LockMode::compliance:
      return "COMPLIANCE";
    default:
      return "";
  }
}

std::string_view to_string(ObjectState state) {
  switch (state) {
    case ObjectState::uploaded:
      return "uploaded";
    case ObjectState::unprotected:
      return "unprotected";
    case ObjectState::failed:
      return "failed";
    case ObjectState::left_for_resume:
      return "left_for_resume";
    default:
      return "not_attempted";
  }
}

nlohmann::json outcome_json(const ObjectOutcome& o) {
  nlohmann::json j = {{"path", o.path},
                      {"url", o.url},
                      {"state", to_string(o.state)},
                      {"size", o.size},
                      {"sha256", o.sha256_hex},
                      {"checksum_sha256", o.checksum_sha256},
                      {"etag", o.etag},
                      {"version_id", o.version_id},
                      {"already_there", o.already_there}};
  if (!o.upload_id.empty()) {
    j["multipart"] = {{"upload_id", o.upload_id},
                      {"parts", o.parts},
                      {"parts_in_bucket", o.parts_in_bucket},
                      {"parts_reused", o.parts_reused}};
  }
  if (!o.lock_mode.empty() || !o.legal_hold.empty()) {
    j["lock"] = {{"mode", o.lock_mode}, {"retain_until", o.retain_until}, {"legal_hold", o.legal_hold}};
  }
  if (o.state != ObjectState::uploaded) j["error"] = o.error.message;
  return j;
}

Result<S3Location> parse_s3_url(std::string_view url) {
  constexpr std::string_view scheme = "s3://";
  if (url.substr(0, scheme.size()) != scheme) {
    return fail(Errc::usage, "destination " + message_text(url) + ": not an s3:// URL (s3://BUCKET/PREFIX)");
  }
  url.remove_prefix(scheme.size());
  S3Location loc;
  const auto slash = url.find('/');
  loc.bucket = std::string(url.substr(0, slash));
  if (slash != std::string_view::npos) loc.prefix = std::string(url.substr(slash + 1));
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (3-63 of
  // [a-z0-9.-], starting and ending with a letter or digit); underscores and capitals too, which
  // older buckets and local servers allow, but nothing that could change the URL.
  const bool chars_ok = std::all_of(loc.bucket.begin(), loc.bucket.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
  });
  if (loc.bucket.size() < 3 || loc.bucket.size() > 63 || !chars_ok) {
    return fail(Errc::usage, "destination s3://" + message_text(url) + ": \"" + message_text(loc.bucket) +
                                 "\" is not a bucket name (3-63 letters, digits, '.', '-')");
  }
  while (!loc.prefix.empty() && loc.prefix.front() == '/') loc.prefix.erase(0, 1);
  return loc;
}

std::string object_key(const S3Location& location, const std::string& local_path) {
  const auto slash = local_path.find_last_of('/');
  const std::string name = slash == std::string::npos ? local_path : local_path.substr(slash + 1);
  if (location.prefix.empty()) return name;
  if (location.prefix.back() == '/') return location.prefix + name;
  return location.prefix + "/" + name;
}

Result<util::TimePoint> parse_retain_until(std::string_view text, util::TimePoint now) {
  const std::string t(util::trim(text));
  std::optional<util::TimePoint> until;
  if (t.size() == 10 && t[4] == '-' && t[7] == '-') {
    until = util::parse_rfc3339(t + "T00:00:00Z");
  } else if (t.find('T') != std::string::npos) {
    until = util::parse_rfc3339(t);
  } else {
    // A duration: units y (365 days), d, h, m, s, and Go's forms through parse_duration.
    std::chrono::seconds total{0};
    std::size_t i = 0;
    bool ok = !t.empty();
    std::string go_form;
    while (ok && i < t.size()) {
      std::size_t j = i;
      while (j < t.size() && t[j] >= '0' && t[j] <= '9') ++j;
      if (j == i || j == t.size() || j - i > 6) {
        ok = false;
        break;
      }
      const long n = std::stol(t.substr(i, j - i));
      const char unit = t[j];
      if (unit == 'y') {
        total += std::chrono::hours(24 * 365) * n;
      } else if (unit == 'd') {
        total += std::chrono::hours(24) * n;
      } else {
        go_form += t.substr(i, j - i + 1);
      }
      i = j + 1;
    }
    if (ok && !go_form.empty()) {
      const auto d = util::parse_duration(go_form);
      if (!d) {
        ok = false;
      } else {
        total += std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
    if (ok) until = now + total;
  }
  if (!until) {
    return fail(Errc::usage, "--retain-until " + message_text(t) +
                                 ": not a date (2027-01-31, 2027-01-31T00:00:00Z) or a duration (90d, 1y, 2160h)");
  }
  if (*until <= now) return fail(Errc::usage, "--retain-until " + message_text(t) + ": not in the future");
  return *until;
}

// --- the client -----------------------------------------------------------------------------------

struct S3Client::Impl {
  kube::Transport& transport;
  S3Config config;
  AwsCredentials credentials;
  util::Clock& clock;
  const util::CancelToken* cancel;
  Trace trace;
  Endpoint endpoint;
  Error endpoint_error;  // set when the endpoint could not be parsed: every request fails with it

  Impl(kube::Transport& t, S3Config c, AwsCredentials cr, util::Clock& cl, const util::CancelToken* ca, Trace tr)
      : transport(t), config(std::move(c)), credentials(std::move(cr)), clock(cl), cancel(ca), trace(std::move(tr)) {
    if (config.endpoint.empty()) config.endpoint = "https://s3." + config.region + ".amazonaws.com";
    if (auto e = parse_endpoint(config.endpoint)) {
      endpoint = *e;
    } else {
      endpoint_error = e.error();
    }
  }

  [[nodiscard]] bool cancelled() const { return cancel != nullptr && cancel->cancelled(); }

  [[nodiscard]] bool path_style() const {
    if (config.addressing == Addressing::path) return true;
    if (config.addressing == Addressing::virtual_hosted) return false;
    return endpoint.host_is_ip_or_has_port;
  }

  // One S3 call: what is signed and sent. `make_body` gives a fresh body source for each attempt.
  struct Call {
    std::string method;
    std::string bucket;
    std::string key;
    Pairs query;
    Pairs headers;
    std::string payload_sha256 = std::string(k_empty_sha256);
    std::string body;  // small bodies (XML)
    std::function<kube::BodySource()> make_body;
    std::uint64_t body_size = 0;
    bool lock_requested = false;
    std::string what;  // for messages: "PUT s3://bucket/key"
  };

  SigningRequest signing_request(const Call& call) const {
    SigningRequest r;
    r.method = call.method;
    if (path_style()) {
      r.host = endpoint.host;
      r.path = "/" + call.bucket + (call.key.empty() ? "" : "/" + call.key);
    } else {
      r.host = call.bucket + "." + endpoint.host;
      r.path = "/" + call.key;
    }
    r.query = call.query;
    r.headers = call.headers;
    r.payload_sha256 = call.payload_sha256;
    return r;
  }

  static std::string url_of(const std::string& scheme, const SigningRequest& r) {
    std::string url = scheme + "://" + r.host + aws_uri_encode(r.path, true);
    std::vector<std::pair<std::string, std::string>> q;
    for (const auto& [k, v] : r.query) q.emplace_back(aws_uri_encode(k, false), aws_uri_encode(v, false));
    std::sort(q.begin(), q.end());
    for (std::size_t i = 0; i < q.size(); ++i) url += (i == 0 ? "?" : "&") + q[i].first + "=" + q[i].second;
    return url;
  }

  // Sends `call` once. Any HTTP answer is a value; transport failures are errors.
  Result<kube::HttpResponse> send_once(const Call& call) {
    const SigningRequest sr = signing_request(call);
    kube::HttpRequest req;
    req.method = call.method;
    req.url = url_of(endpoint.scheme, sr);
    for (const auto& [k, v] : call.headers) req.headers.push_back({k, v});
    for (const auto& [k, v] : sign_request(sr, credentials, config.region, "s3", clock.now()))
      req.headers.push_back({k, v});
    req.timeout = config.request_timeout;
    req.max_body = k_max_response;
    if (call.make_body) {
      req.body_source = call.make_body();
      req.body_size = call.body_size;
    } else {
      req.body = call.body;
    }
    const auto started = std::chrono::steady_clock::now();
    auto resp = transport.send(req);
    if (trace) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      trace(fmt::format("S3 {} {} {} ({} ms)", call.method, redact_url(req.url),
                        resp ? std::to_string(resp->status) : "failed: " + resp.error().message, ms.count()));
    }
    return resp;
  }

  // Sends `call`, retrying transient failures; a non-2xx answer becomes an Error (s3_error).
  Result<kube::HttpResponse> send(const Call& call) {
    if (!endpoint_error.message.empty()) return unexpected(endpoint_error);
    auto delay = config.retry_delay;
    Error last;
    for (int attempt = 1; attempt <= std::max(1, config.attempts); ++attempt) {
      if (cancelled()) return fail(Errc::cancelled, "interrupted");
      auto resp = send_once(call);
      if (resp && resp->status >= 200 && resp->status < 300) {
        // CompleteMultipartUpload may answer 200 with an <Error> document.
        if (call.method == "POST" && resp->body.find("<Error>") != std::string::npos) {
          kube::HttpResponse as_error = *resp;
          as_error.status = 500;
          last = s3_error(as_error, call.what, call.lock_requested);
        } else {
          return resp;
        }
      } else if (resp) {
        last = s3_error(*resp, call.what, call.lock_requested);
        // A refused session token shows as InvalidArgument (radosgw) or InvalidToken/ExpiredToken
        // (AWS): say which credential it is.
        if (!credentials.session_token.empty() &&
            (last.reason == "InvalidArgument" || last.reason == "InvalidToken" || last.reason == "ExpiredToken" ||
             last.reason == "TokenRefreshRequired")) {
          last = last.with_hint("the session token (" + credentials.source +
                                ") was refused: it is expired, malformed or for another endpoint; get fresh "
                                "temporary credentials");
        }
      } else {
        last = resp.error().context(call.what);
        last.code = resp.error().code;
      }
      if (last.code == Errc::cancelled || !retryable(last) || attempt == config.attempts) break;
      if (trace)
        trace(fmt::format("S3 {}: {} (attempt {} of {}, retrying in {})", call.what, last.message, attempt,
                          config.attempts, util::format_duration(delay)));
      clock.sleep_for(delay);
      delay *= 2;
    }
    return unexpected(last);
  }

  std::string s3_url(const std::string& bucket, const std::string& key) const { return "s3://" + bucket + "/" + key; }

  Pairs lock_headers(const ObjectLock& lock) const {
    Pairs h;
    if (lock.mode != LockMode::none) {
      h.emplace_back("x-amz-object-lock-mode", std::string(to_header(lock.mode)));
      h.emplace_back("x-amz-object-lock-retain-until-date", util::format_rfc3339(lock.retain_until));
    }
    if (lock.legal_hold == LegalHold::on) h.emplace_back("x-amz-object-lock-legal-hold", "ON");
    return h;
  }

  // HEAD of an object (version).
  Result<kube::HttpResponse> head(const std::string& bucket, const std::string& key, const std::string& version_id) {
    Call c;
    c.method = "HEAD";
    c.bucket = bucket;
    c.key = key;
    if (!version_id.empty()) c.query.emplace_back("versionId", version_id);
    c.what = "HEAD " + s3_url(bucket, key);
    return send(c);
  }

  // Reads the lock back and judges it against what was asked.
  void confirm_lock(const std::string& bucket, ObjectOutcome& out, const ObjectLock& lock) {
    auto h = head(bucket, out.key, out.version_id);
    if (!h) {
      out.state = ObjectState::unprotected;
      out.error = h.error()
                      .context("confirm the lock")
                      .with_hint(
                          "the object is in the bucket, but its lock could not be read back: the identity needs "
                          "s3:GetObjectRetention and s3:GetObjectLegalHold");
      return;
    }
    out.lock_mode = h->header("x-amz-object-lock-mode");
    out.retain_until = h->header("x-amz-object-lock-retain-until-date");
    out.legal_hold = h->header("x-amz-object-lock-legal-hold");
    std::string missing;
    if (lock.mode != LockMode::none) {
      const auto until = util::parse_rfc3339(out.retain_until);
      if (out.lock_mode != to_header(lock.mode)) {
        missing =
            fmt::format("lock mode {} (the server reports \"{}\")", to_header(lock.mode), message_text(out.lock_mode));
      } else if (!until || *until + std::chrono::seconds(1) < lock.retain_until) {
        missing = fmt::format("retention until {} (the server reports \"{}\")", util::format_rfc3339(lock.retain_until),
                              message_text(out.retain_until));
      }
    }
    if (missing.empty() && lock.legal_hold == LegalHold::on && util::to_lower(out.legal_hold) != "on") {
      missing = fmt::format("legal hold (the server reports \"{}\")", message_text(out.legal_hold));
    }
    if (!missing.empty()) {
      out.state = ObjectState::unprotected;
      out.error =
          Error(Errc::failure, fmt::format("{}: stored WITHOUT the requested {}", out.url, missing))
              .with_hint("the server accepted the object but ignored the Object Lock headers: it is not write-once");
    }
  }

  // Whether the same bytes are already there (an earlier run): HEAD shows our sha256 metadata.
  bool already_there(const std::string& bucket, ObjectOutcome& out, const ObjectLock& lock) {
    if (out.sha256_hex.empty()) return false;
    Call c;
    c.method = "HEAD";
    c.bucket = bucket;
    c.key = out.key;
    c.what = "HEAD " + out.url;
    auto h = send(c);
    if (!h || h->header("x-amz-meta-sha256") != out.sha256_hex) return false;
    if (std::to_string(out.size) != h->header("content-length")) return false;
    out.etag = h->header("etag");
    out.version_id = h->header("x-amz-version-id");
    out.checksum_sha256 = h->header("x-amz-checksum-sha256");
    out.already_there = true;
    out.state = ObjectState::uploaded;
    if (lock.requested()) confirm_lock(bucket, out, lock);
    return out.state == ObjectState::uploaded;
  }

  void single_put(const std::string& bucket, const std::shared_ptr<File>& file, ObjectOutcome& out,
                  const UploadOptions& options, const UploadProgress& progress) {
    const std::string raw = hex_decode(out.sha256_hex).value_or(std::string());
    Call c;
    c.method = "PUT";
    c.bucket = bucket;
    c.key = out.key;
    c.what = "PUT " + out.url;
    c.payload_sha256 = out.sha256_hex;  // the server hashes what it receives and compares
    c.headers = {{"content-type", options.content_type},
                 {"x-amz-checksum-sha256", util::base64_encode(raw)},
                 {"x-amz-meta-sha256", out.sha256_hex}};
    const auto lock = lock_headers(options.lock);
    c.headers.insert(c.headers.end(), lock.begin(), lock.end());
    c.lock_requested = options.lock.requested();
    c.body_size = file->size();
    c.make_body = [file] { return file_source(file, 0, file->size()); };
    auto resp = send(c);
    if (!resp) {
      out.state = ObjectState::failed;
      out.error = resp.error();
      if (resp.error().reason == "XAmzContentSHA256Mismatch" || resp.error().reason == "BadDigest") {
        out.error = out.error.with_hint(
            "the bytes read do not have the SHA-256 given for the file: it changed after it was hashed");
      }
      return;
    }
    out.etag = resp->header("etag");
    out.version_id = resp->header("x-amz-version-id");
    out.checksum_sha256 = resp->header("x-amz-checksum-sha256");
    if (!out.checksum_sha256.empty() && out.checksum_sha256 != util::base64_encode(raw)) {
      out.state = ObjectState::failed;
      out.error = Error(Errc::protocol, out.url + ": the server recorded another SHA-256 than the one sent");
      return;
    }
    if (out.checksum_sha256.empty()) out.checksum_sha256 = util::base64_encode(raw);
    out.state = ObjectState::uploaded;
    if (progress) progress(out.key, out.size, out.size);
  }

  // --- multipart ---

  struct ListedPart {
    std::uint64_t size = 0;
    std::string etag;
    std::string checksum;
  };

  // The newest in-progress multipart upload of `key`, or "".
  Result<std::string> find_upload(const std::string& bucket, const std::string& key) {
    Call c;
    c.method = "GET";
    c.bucket = bucket;
    c.query = {{"uploads", ""}, {"prefix", key}};
    c.what = "list multipart uploads of " + s3_url(bucket, key);
    IR_TRY(resp, send(c));
    IR_TRY_CTX(doc, parse_xml(resp.body), c.what);
    std::string best;
    std::string best_initiated;
    for (const auto* u : doc.children_named("Upload")) {
      if (u->child_text("Key") != key) continue;
      const std::string initiated = u->child_text("Initiated");
      if (best.empty() || initiated > best_initiated) {
        best = u->child_text("UploadId");
        best_initiated = initiated;
      }
    }
    return best;
  }

  Result<std::map<std::size_t, ListedPart>> list_parts(const std::string& bucket, const std::string& key,
                                                       const std::string& upload_id) {
    std::map<std::size_t, ListedPart> parts;
    std::string marker;
    for (int page = 0; page < 20; ++page) {  // 20 x 1,000 covers the 10,000 parts S3 allows
      Call c;
      c.method = "GET";
      c.bucket = bucket;
      c.key = key;
      c.query = {{"uploadId", upload_id}, {"max-parts", "1000"}};
      if (!marker.empty()) c.query.emplace_back("part-number-marker", marker);
      c.what = "list parts of " + s3_url(bucket, key);
      IR_TRY(resp, send(c));
      IR_TRY_CTX(doc, parse_xml(resp.body), c.what);
      for (const auto* p : doc.children_named("Part")) {
        const std::string number = p->child_text("PartNumber");
        const std::string size = p->child_text("Size");
        char* end = nullptr;
        const unsigned long long n = std::strtoull(number.c_str(), &end, 10);
        if (number.empty() || *end != '\0' || n == 0 || n > k_max_parts) continue;
        parts[static_cast<std::size_t>(n)] = ListedPart{std::strtoull(size.c_str(), nullptr, 10), p->child_text("ETag"),
                                                        p->child_text("ChecksumSHA256")};
      }
      if (util::to_lower(doc.child_text("IsTruncated")) != "true") break;
      marker = doc.child_text("NextPartNumberMarker");
      if (marker.empty()) break;
    }
    return parts;
  }

  Result<std::string> create_upload(const std::string& bucket, const ObjectOutcome& out, const UploadOptions& options) {
    Call c;
    c.method = "POST";
    c.bucket = bucket;
    c.key = out.key;
    c.query = {{"uploads", ""}};
    c.headers = {{"content-type", options.content_type}, {"x-amz-checksum-algorithm", "SHA256"}};
    if (!out.sha256_hex.empty()) c.headers.emplace_back("x-amz-meta-sha256", out.sha256_hex);
    const auto lock = lock_headers(options.lock);
    c.headers.insert(c.headers.end(), lock.begin(), lock.end());
    c.lock_requested = options.lock.requested();
    c.what = "create multipart upload " + out.url;
    IR_TRY(resp, send(c));
    IR_TRY_CTX(doc, parse_xml(resp.body), c.what);
    std::string id = doc.child_text("UploadId");
    if (id.empty()) return fail(Errc::protocol, c.what + ": the answer has no UploadId");
    return id;
  }

  void abort_upload(const std::string& bucket, ObjectOutcome& out) {
    Call c;
    c.method = "DELETE";
    c.bucket = bucket;
    c.key = out.key;
    c.query = {{"uploadId", out.upload_id}};
    c.what = "abort multipart upload " + out.url;
    if (auto r = send(c); !r) {
      out.error.message += "; and the multipart upload could not be aborted (" + r.error().message +
                           "): its parts stay in the bucket until a lifecycle rule removes them";
    } else {
      out.parts_in_bucket = 0;
    }
  }

  // A part of the file with its digests (the bytes stay in the file: they are streamed when sent).
  struct Part {
    std::size_t number = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::string sha256;  // raw
    std::string md5;     // raw
  };

  void multipart(const std::string& bucket, const std::shared_ptr<File>& file, ObjectOutcome& out,
                 const UploadOptions& options, const UploadProgress& progress) {
    const std::uint64_t size = file->size();
    std::uint64_t part_size = std::clamp(options.part_size, k_min_part, k_max_part);
    if ((size + part_size - 1) / part_size > k_max_parts) {
      part_size = ((size + k_max_parts - 1) / k_max_parts + k_mib - 1) / k_mib * k_mib;
    }
    // Resume: the newest upload in progress for this key.
    std::map<std::size_t, ListedPart> listed;
    auto found = find_upload(bucket, out.key);
    if (!found) {
      out.state = ObjectState::failed;
      out.error = found.error();
      return;
    }
    if (!found->empty()) {
      auto parts = list_parts(bucket, out.key, *found);
      if (!parts) {
        out.state = ObjectState::failed;
        out.error = parts.error();
        return;
      }
      out.upload_id = *found;
      listed = std::move(*parts);
      // Every part but the last has the upload's part size: a part 1 shorter than the file gives it.
      if (auto first = listed.find(1); first != listed.end() && first->second.size >= k_min_part / 2 &&
                                       first->second.size < size && first->second.size <= k_max_single_put) {
        part_size = first->second.size;
      }
    } else {
      auto id = create_upload(bucket, out, options);
      if (!id) {
        out.state = ObjectState::failed;
        out.error = id.error();
        return;
      }
      out.upload_id = *id;
    }
    const std::size_t count = size == 0 ? 1 : static_cast<std::size_t>((size + part_size - 1) / part_size);
    out.parts = count;

    // Hasher: part n+1 is hashed (its SHA-256 and MD5, and the whole file's SHA-256 carried on) on
    // another thread while part n is sent, so hashing never holds up sending; the part is then
    // streamed from the file. One hasher at a time (the next starts when its part is taken), one
    // 1 MiB buffer: memory does not grow with the part size.
    util::Sha256 whole;
    std::string chunk(k_read_chunk, '\0');
    const auto hash_part = [&](std::size_t number) -> Result<Part> {
      Part p;
      p.number = number;
      p.offset = static_cast<std::uint64_t>(number - 1) * part_size;
      p.length = std::min<std::uint64_t>(part_size, size - p.offset);
      util::Digest sha(util::DigestAlgorithm::sha256);
      util::Digest md5(util::DigestAlgorithm::md5);
      IR_CHECK(read_chunks(*file, p.offset, p.length, chunk, [&](std::string_view data) {
        sha.update(data);
        md5.update(data);
        whole.update(data);
      }));
      p.sha256 = sha.raw();
      p.md5 = md5.raw();
      return p;
    };
    std::vector<std::pair<std::string, std::string>> completed(count);  // etag, checksum per part
    std::string checksums;  // raw part digests, concatenated: S3's checksum of checksums
    std::uint64_t done = 0;
    std::set<std::size_t> in_bucket;
    for (const auto& l : listed) in_bucket.insert(l.first);
    auto next = std::async(std::launch::async, hash_part, std::size_t{1});
    Error failure;
    bool interrupted = false;
    for (std::size_t n = 1; n <= count; ++n) {
      auto part = next.get();
      if (!part) {
        failure = part.error();
        break;
      }
      if (n < count) next = std::async(std::launch::async, hash_part, n + 1);
      const std::string checksum = util::base64_encode(part->sha256);
      checksums += part->sha256;
      if (auto l = listed.find(n); l != listed.end() && l->second.size == part->length &&
                                   (l->second.checksum.empty() ? bare_etag(l->second.etag) == hex_encode(part->md5)
                                                               : l->second.checksum == checksum)) {
        completed[n - 1] = {l->second.etag, checksum};
        ++out.parts_reused;
      } else {
        Call c;
        c.method = "PUT";
        c.bucket = bucket;
        c.key = out.key;
        c.query = {{"partNumber", std::to_string(n)}, {"uploadId", out.upload_id}};
        // Not signed over the payload (the server would hash every byte again before answering):
        // the bytes are checked against Content-MD5, which every S3 server verifies (radosgw 16
        // ignores x-amz-checksum-sha256), and against x-amz-checksum-sha256 where it is verified
        // and recorded (AWS). Both were computed from the file just before: a file changed since
        // is refused (BadDigest).
        c.headers = {{"content-md5", util::base64_encode(part->md5)}, {"x-amz-checksum-sha256", checksum}};
        c.payload_sha256 = std::string(k_unsigned_payload);
        c.body_size = part->length;
        c.make_body = [file, offset = part->offset, length = part->length] {
          return file_source(file, offset, length);
        };
        c.what = fmt::format("upload part {} of {} of {}", n, count, out.url);
        auto resp = send(c);
        if (!resp) {
          failure = resp.error();
          if (failure.reason == "BadDigest") {
            failure = failure.with_hint(
                "the part's bytes as sent did not match their digests, computed from the file just before: the "
                "file changed during the upload (or the bytes were damaged on the way)");
          }
          interrupted = resp.error().code == Errc::cancelled;
          break;
        }
        completed[n - 1] = {resp->header("etag"), checksum};
      }
      in_bucket.insert(n);
      done += part->length;
      if (progress) progress(out.key, done, size);
    }
    if (next.valid()) next.wait();  // never leave the reader running on our buffers
    if (failure.message.empty() && cancelled()) {
      failure = Error(Errc::cancelled, "interrupted");
      interrupted = true;
    }
    if (!failure.message.empty()) {
      out.parts_in_bucket = in_bucket.size();
      out.error = failure;
      if (interrupted) {
        out.state = ObjectState::left_for_resume;
      } else {
        out.state = ObjectState::failed;
        abort_upload(bucket, out);
      }
      return;
    }
    const std::string sha = whole.hex_digest();
    if (!out.sha256_hex.empty() && sha != out.sha256_hex) {
      out.state = ObjectState::failed;
      out.error =
          Error(Errc::io, fmt::format("{}: the bytes read have SHA-256 {}, not {}: the file changed; the upload "
                                      "was not completed",
                                      out.path, sha, out.sha256_hex));
      abort_upload(bucket, out);
      return;
    }
    out.sha256_hex = sha;
    out.parts_in_bucket = count;
    std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (std::size_t n = 1; n <= count; ++n) {
      xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag><ChecksumSHA256>{}</ChecksumSHA256></Part>",
                         n, xml_escape(completed[n - 1].first), xml_escape(completed[n - 1].second));
    }
    xml += "</CompleteMultipartUpload>";
    Call c;
    c.method = "POST";
    c.bucket = bucket;
    c.key = out.key;
    c.query = {{"uploadId", out.upload_id}};
    c.headers = {{"content-type", "application/xml"}};
    c.body = xml;
    c.payload_sha256 = util::sha256_hex(xml);
    c.what = "complete multipart upload " + out.url;
    auto resp = send(c);
    if (!resp) {
      out.error = resp.error();
      if (resp.error().code == Errc::cancelled) {
        out.state = ObjectState::left_for_resume;
      } else {
        out.state = ObjectState::failed;
        abort_upload(bucket, out);
      }
      return;
    }
    if (auto doc = parse_xml(resp->body)) out.etag = doc->child_text("ETag");
    if (out.etag.empty()) out.etag = resp->header("etag");
    out.version_id = resp->header("x-amz-version-id");
    out.checksum_sha256 = util::base64_encode(raw_sha256(checksums)) + "-" + std::to_string(count);
    out.state = ObjectState::uploaded;
  }

  ObjectOutcome upload_one(const S3Location& location, const UploadItem& item, const UploadOptions& options,
                           const UploadProgress& progress) {
    ObjectOutcome out;
    out.path = item.path;
    out.key = item.key.empty() ? object_key(location, item.path) : item.key;
    out.url = s3_url(location.bucket, out.key);
    out.sha256_hex = item.sha256_hex;
    auto file = File::open(item.path);
    if (!file) {
      out.state = ObjectState::failed;
      out.error = file.error();
      return out;
    }
    out.size = (*file)->size();
    const bool single = out.size <= std::min(options.multipart_threshold, k_max_single_put);
    if (single && out.sha256_hex.empty()) {
      auto sha = hash_file(**file);
      if (!sha) {
        out.state = ObjectState::failed;
        out.error = sha.error();
        return out;
      }
      out.sha256_hex = *sha;
    }
    if (already_there(location.bucket, out, options.lock)) return out;
    out.already_there = false;
    out.state = ObjectState::not_attempted;
    out.error = Error();
    if (single) {
      single_put(location.bucket, *file, out, options, progress);
    } else {
      multipart(location.bucket, *file, out, options, progress);
    }
    if (out.state == ObjectState::uploaded && options.lock.requested())
      confirm_lock(location.bucket, out, options.lock);
    return out;
  }
};

S3Client::S3Client(kube::Transport& transport, S3Config config, AwsCredentials credentials, util::Clock& clock,
                   const util::CancelToken* cancel, Trace trace)
    : m_impl(std::make_shared<Impl>(transport, std::move(config), std::move(credentials), clock, cancel,
                                    std::move(trace))) {}

UploadReport S3Client::upload(const S3Location& location, const std::vector<UploadItem>& items,
                              const UploadOptions& options, const UploadProgress& progress) {
  UploadReport report;
  for (const auto& item : items) {
    if (report.cancelled || m_impl->cancelled()) {
      report.cancelled = true;
      ObjectOutcome skipped;
      skipped.path = item.path;
      skipped.key = item.key.empty() ? object_key(location, item.path) : item.key;
      skipped.url = m_impl->s3_url(location.bucket, skipped.key);
      skipped.error = Error(Errc::cancelled, "interrupted before it started");
      report.objects.push_back(std::move(skipped));
      continue;
    }
    report.objects.push_back(m_impl->upload_one(location, item, options, progress));
    if (report.objects.back().error.code == Errc::cancelled && report.objects.back().state != ObjectState::uploaded) {
      report.cancelled = true;
    }
  }
  return report;
}

Result<kube::HttpResponse> S3Client::head_object(const std::string& bucket, const std::string& key,
                                                 const std::string& version_id) {
  return m_impl->head(bucket, key, version_id);
}

std::string S3Client::presign(const std::string& method, const std::string& bucket, const std::string& key,
                              std::chrono::seconds expires) const {
  Impl::Call c;
  c.method = method;
  c.bucket = bucket;
  c.key = key;
  return presign_url(m_impl->endpoint.scheme, m_impl->signing_request(c), m_impl->credentials, m_impl->config.region,
                     "s3", m_impl->clock.now(), static_cast<long>(expires.count()));
}

Result<ObjectOutcome> upload_presigned(kube::Transport& transport, const std::string& url, const UploadItem& item,
                                       const util::CancelToken* cancel, const Trace& trace) {
  ObjectOutcome out;
  out.path = item.path;
  out.key = item.key;
  out.url = redact_url(url);
  IR_TRY(file, File::open(item.path));
  out.size = file->size();
  if (out.size > k_max_single_put) {
    return fail(Errc::invalid,
                fmt::format("{}: {} bytes: a presigned URL takes one PUT, at most 5 GiB", item.path, out.size));
  }
  if (cancel != nullptr && cancel->cancelled()) return fail(Errc::cancelled, "interrupted");
  // The MD5 and SHA-256 of the bytes as they are sent: no second pass over the file.
  struct Digests {
    util::Digest md5{util::DigestAlgorithm::md5};
    util::Sha256 sha;
  };
  auto digests = std::make_shared<Digests>();
  kube::HttpRequest req;
  req.method = "PUT";
  req.url = url;
  req.body_size = out.size;
  req.body_source = file_source(file, 0, out.size, [digests](std::string_view chunk) {
    digests->md5.update(chunk);
    digests->sha.update(chunk);
  });
  req.max_body = k_max_response;
  const auto started = std::chrono::steady_clock::now();
  auto resp = transport.send(req);
  if (trace) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    trace(fmt::format("S3 PUT {} {} ({} ms)", out.url, resp ? std::to_string(resp->status) : "failed", ms.count()));
  }
  const std::string what = "PUT " + out.url;
  if (!resp) {
    // Transport errors name the URL they were given: take its signature out.
    Error e = resp.error();
    for (auto pos = e.message.find(url); pos != std::string::npos; pos = e.message.find(url, pos)) {
      e.message.replace(pos, url.size(), out.url);
      pos += out.url.size();
    }
    return unexpected(e.context(what));
  }
  if (resp->status < 200 || resp->status >= 300) {
    Error e = s3_error(*resp, what);
    if (e.reason == "AccessDenied" || e.reason == "SignatureDoesNotMatch") {
      e = e.with_hint(
          "the presigned URL is expired, for another method or object, or needs headers it was signed with");
    }
    return unexpected(e);
  }
  const std::string md5 = hex_encode(digests->md5.raw());
  out.sha256_hex = digests->sha.hex_digest();
  out.etag = resp->header("etag");
  out.version_id = resp->header("x-amz-version-id");
  out.checksum_sha256 = resp->header("x-amz-checksum-sha256");
  const std::string etag = bare_etag(out.etag);
  if (etag.size() == 32 && etag.find('-') == std::string::npos && etag != md5) {
    return fail(Errc::protocol, fmt::format("{}: the server's ETag {} is not the MD5 of the bytes sent ({})", what,
                                            message_text(out.etag), md5));
  }
  if (!item.sha256_hex.empty() && item.sha256_hex != out.sha256_hex) {
    return fail(Errc::io, fmt::format("{}: the bytes sent have SHA-256 {}, not {}: the file changed", item.path,
                                      out.sha256_hex, item.sha256_hex));
  }
  out.state = ObjectState::uploaded;
  return out;
}

}  // namespace ir::custody
