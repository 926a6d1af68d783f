#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <map>

#include "custody/hex.hpp"
#include "custody/s3.hpp"
#include "fake_s3.hpp"
#include "support/temp_dir.hpp"
#include "util/crypto.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

using namespace ir;
using namespace ir::custody;
using ir::testing::answer;
using ir::testing::ScriptedTransport;
using ir::testing::SeenRequest;

namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;

std::string b64_sha(std::string_view data) {
  return util::base64_encode(*hex_decode(util::sha256_hex(data)));
}

std::string md5_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string b64_md5(std::string_view data) {
  return util::base64_encode(*hex_decode(md5_hex(data)));
}

// The path and query of a recorded request's URL.
struct Url {
  std::string path;
  std::map<std::string, std::string> query;
};
Url parse(const std::string& url) {
  Url u;
  const auto start = url.find('/', url.find("://") + 3);
  const auto q = url.find('?', start);
  u.path = url.substr(start, q == std::string::npos ? std::string::npos : q - start);
  if (q != std::string::npos) {
    for (const auto& kv : util::split(url.substr(q + 1), '&')) {
      const auto eq = kv.find('=');
      u.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
  }
  return u;
}

// A small S3 in memory: single PUTs, multipart uploads, HEAD with the lock, faults on demand.
struct FakeS3 {
  bool lock_enabled = true;   // the bucket has Object Lock
  bool ignores_lock = false;  // accepts lock headers but stores no lock (like s3rver)
  int fail_part = 0;          // this part number fails once with a 500
  int refuse_part = 0;        // this part number is refused with a 403
  bool part_checksums_listed = true;
  std::map<std::string, std::string> objects;  // key -> body
  std::map<std::string, std::string> meta;     // key -> x-amz-meta-sha256
  std::map<std::string, std::string> lock;     // key -> mode
  struct Upload {
    std::string key;
    std::map<int, std::string> parts;
    std::string lock_mode;
  };
  std::map<std::string, Upload> uploads;
  int next_upload = 1;
  int aborted = 0;

  Result<kube::HttpResponse> handle(const SeenRequest& r) {
    const Url u = parse(r.request.url);
    const std::string key =
        u.path.substr(std::string("/bucket/").size() < u.path.size() ? std::string("/bucket/").size() : u.path.size());
    const std::string& m = r.request.method;
    const std::string payload_hash = r.header("x-amz-content-sha256");
    if (!payload_hash.empty() && payload_hash != "UNSIGNED-PAYLOAD" && payload_hash != util::sha256_hex(r.body)) {
      return answer(400, "<Error><Code>XAmzContentSHA256Mismatch</Code></Error>");
    }
    if (!r.header("content-md5").empty() && r.header("content-md5") != b64_md5(r.body)) {
      return answer(400, "<Error><Code>BadDigest</Code></Error>");
    }
    if (m == "HEAD") {
      if (objects.count(key) == 0) return answer(404);
      std::vector<kube::HttpHeader> h = {{"content-length", std::to_string(objects[key].size())},
                                         {"etag", "\"" + md5_hex(objects[key]) + "\""},
                                         {"x-amz-version-id", "v-" + key},
                                         {"x-amz-meta-sha256", meta[key]}};
      if (!lock[key].empty()) {
        h.push_back({"x-amz-object-lock-mode", lock[key]});
        h.push_back({"x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00.000Z"});
      }
      return answer(200, "", h);
    }
    const bool wants_lock = !r.header("x-amz-object-lock-mode").empty();
    if (wants_lock && !lock_enabled)
      return answer(
          400,
          "<Error><Code>InvalidRequest</Code><Message>Bucket is missing Object Lock Configuration</Message></Error>");
    if (m == "GET" && u.query.count("uploads") != 0) {
      std::string xml = "<ListMultipartUploadsResult>";
      for (const auto& [id, up] : uploads)
        xml += "<Upload><Key>" + up.key + "</Key><UploadId>" + id + "</UploadId><Initiated>2026-12-05T10:00:0" +
               id.substr(1) + "Z</Initiated></Upload>";
      return answer(200, xml + "</ListMultipartUploadsResult>");
    }
    if (m == "POST" && u.query.count("uploads") != 0) {
      const std::string id = "u" + std::to_string(next_upload++);
      uploads[id] = Upload{key, {}, r.header("x-amz-object-lock-mode")};
      meta[key] = r.header("x-amz-meta-sha256");
      return answer(200,
                    "<InitiateMultipartUploadResult><UploadId>" + id + "</UploadId></InitiateMultipartUploadResult>");
    }
    if (m == "GET" && u.query.count("uploadId") != 0) {
      std::string xml = "<ListPartsResult><IsTruncated>false</IsTruncated>";
      for (const auto& [n, body] : uploads[u.query.at("uploadId")].parts) {
        xml += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><Size>" + std::to_string(body.size()) +
               "</Size><ETag>&quot;" + md5_hex(body) + "&quot;</ETag>" +
               (part_checksums_listed ? "<ChecksumSHA256>" + b64_sha(body) + "</ChecksumSHA256>" : "") + "</Part>";
      }
      return answer(200, xml + "</ListPartsResult>");
    }
    if (m == "PUT" && u.query.count("partNumber") != 0) {
      const int n = std::stoi(u.query.at("partNumber"));
      if (n == fail_part) {
        fail_part = 0;
        return answer(500, "<Error><Code>InternalError</Code></Error>");
      }
      if (n == refuse_part) return answer(403, "<Error><Code>AccessDenied</Code></Error>");
      if (r.header("x-amz-checksum-sha256") != b64_sha(r.body))
        return answer(400, "<Error><Code>BadDigest</Code></Error>");
      uploads[u.query.at("uploadId")].parts[n] = r.body;
      return answer(200, "", {{"etag", "\"" + md5_hex(r.body) + "\""}});
    }
    if (m == "POST" && u.query.count("uploadId") != 0) {
      const auto up = uploads[u.query.at("uploadId")];  // a copy: the upload is erased below
      std::string all;
      for (const auto& [n, body] : up.parts) all += body;
      objects[up.key] = all;
      lock[up.key] = ignores_lock ? "" : up.lock_mode;
      uploads.erase(u.query.at("uploadId"));
      return answer(200,
                    "<CompleteMultipartUploadResult><ETag>\"x-" + std::to_string(up.parts.size()) +
                        "\"</ETag></CompleteMultipartUploadResult>",
                    {{"x-amz-version-id", "v-" + up.key}});
    }
    if (m == "DELETE" && u.query.count("uploadId") != 0) {
      uploads.erase(u.query.at("uploadId"));
      ++aborted;
      return answer(204);
    }
    if (m == "PUT") {
      if (r.header("x-amz-checksum-sha256") != b64_sha(r.body))
        return answer(400, "<Error><Code>BadDigest</Code></Error>");
      objects[key] = r.body;
      meta[key] = r.header("x-amz-meta-sha256");
      lock[key] = ignores_lock ? "" : r.header("x-amz-object-lock-mode");
      return answer(200, "", {{"etag", "\"" + md5_hex(r.body) + "\""}, {"x-amz-version-id", "v-" + key}});
    }
    return answer(405);
  }
};

// Multipart from 8 MiB on, in parts of 8 MiB (the smallest allowed).
UploadOptions in_8mib_parts() {
  UploadOptions options;
  options.multipart_threshold = 8 * k_mib;
  options.part_size = 8 * k_mib;
  return options;
}

struct Fixture {
  testing::TempDir dir;
  FakeS3 s3;
  ScriptedTransport transport{[this](const SeenRequest& r) { return s3.handle(r); }};
  util::FakeClock clock{*util::parse_rfc3339("2026-12-05T10:00:00Z")};
  util::CancelToken cancel;
  S3Config config;
  Fixture() {
    config.endpoint = "http://127.0.0.1:7480";
    config.retry_delay = std::chrono::milliseconds(100);
  }
  S3Client client() {
    return S3Client(transport, config, AwsCredentials{"AK", "SECRETKEY", "", std::nullopt, "t"}, clock, &cancel);
  }
  std::string file(const std::string& name, std::size_t size) {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
    REQUIRE(util::write_file_atomic(dir.file(name), data));
    return data;
  }
  std::vector<const SeenRequest*> with_method(const std::string& m) {
    std::vector<const SeenRequest*> out;
    for (const auto& r : transport.requests)
      if (r.request.method == m) out.push_back(&r);
    return out;
  }
};

}  // namespace

TEST_CASE("parse_s3_url and object_key") {
  auto loc = parse_s3_url("s3://evidence/cases/42/");
  REQUIRE(loc);
  CHECK(loc->bucket == "evidence");
  CHECK(object_key(*loc, "/tmp/x/case.tar.gz") == "cases/42/case.tar.gz");
  CHECK(object_key(*parse_s3_url("s3://evidence/cases"), "case.tar.gz") == "cases/case.tar.gz");
  CHECK(object_key(*parse_s3_url("s3://evidence"), "a/b.tgz") == "b.tgz");
  CHECK(parse_s3_url("https://evidence/x").error().code == Errc::usage);
  CHECK_FALSE(parse_s3_url("s3://"));
  CHECK_FALSE(parse_s3_url("s3://ev?il/x"));
}

TEST_CASE("parse_retain_until: dates and durations") {
  const auto now = *util::parse_rfc3339("2026-12-05T10:00:00Z");
  CHECK(util::format_rfc3339(*parse_retain_until("2027-01-31", now)) == "2027-01-31T00:00:00Z");
  CHECK(util::format_rfc3339(*parse_retain_until("2027-01-31T12:30:00Z", now)) == "2027-01-31T12:30:00Z");
  CHECK(util::format_rfc3339(*parse_retain_until("90d", now)) == "2027-03-05T10:00:00Z");
  CHECK(util::format_rfc3339(*parse_retain_until("1y", now)) == "2027-12-05T10:00:00Z");
  CHECK(util::format_rfc3339(*parse_retain_until("1d12h", now)) == "2026-12-06T22:00:00Z");
  CHECK(util::format_rfc3339(*parse_retain_until("36h", now)) == "2026-12-06T22:00:00Z");
  CHECK(parse_retain_until("2020-01-01", now).error().message.find("not in the future") != std::string::npos);
  CHECK_FALSE(parse_retain_until("soon", now));
  CHECK_FALSE(parse_retain_until("0d", now));
}

TEST_CASE("a single PUT: signed over the bundle's digest, checksum and lock headers, lock read back") {
  Fixture f;
  const std::string data = f.file("b.tar.gz", 1000);
  UploadOptions options;
  options.lock.mode = LockMode::compliance;
  options.lock.retain_until = *util::parse_rfc3339("2027-01-01T00:00:00Z");
  options.lock.legal_hold = LegalHold::off;
  auto report = f.client().upload(*parse_s3_url("s3://bucket/p/"),
                                  {{f.dir.file("b.tar.gz"), "", util::sha256_hex(data)}}, options);
  REQUIRE(report.objects.size() == 1);
  const auto& o = report.objects[0];
  CHECK(o.state == ObjectState::uploaded);
  CHECK(report.ok());
  CHECK(o.key == "p/b.tar.gz");
  CHECK(o.version_id == "v-p/b.tar.gz");
  CHECK(o.checksum_sha256 == b64_sha(data));
  CHECK(o.lock_mode == "COMPLIANCE");
  const auto puts = f.with_method("PUT");
  REQUIRE(puts.size() == 1);
  const auto& put = *puts[0];
  CHECK(put.request.url == "http://127.0.0.1:7480/bucket/p/b.tar.gz");  // path-style: the endpoint has a port
  CHECK(put.header("x-amz-content-sha256") == util::sha256_hex(data));
  CHECK(put.header("x-amz-checksum-sha256") == b64_sha(data));
  CHECK(put.header("x-amz-object-lock-mode") == "COMPLIANCE");
  CHECK(put.header("x-amz-object-lock-retain-until-date") == "2027-01-01T00:00:00Z");
  CHECK(put.header("Authorization")
            .find("x-amz-checksum-sha256;x-amz-content-sha256;x-amz-date;x-amz-meta-sha256;"
                  "x-amz-object-lock-mode;x-amz-object-lock-retain-until-date") != std::string::npos);
  CHECK(put.header("Authorization").find("SECRETKEY") == std::string::npos);
  CHECK(f.with_method("HEAD").size() == 2);  // already there? / the lock read back

  SUBCASE("the same bytes again are recognised and not sent") {
    f.transport.requests.clear();
    auto again = f.client().upload(*parse_s3_url("s3://bucket/p/"), {{f.dir.file("b.tar.gz"), "", ""}}, options);
    CHECK(again.objects[0].state == ObjectState::uploaded);
    CHECK(again.objects[0].already_there);
    CHECK(f.with_method("PUT").empty());
  }
}

TEST_CASE("a bucket without Object Lock refuses: a clear error, nothing stored") {
  Fixture f;
  f.s3.lock_enabled = false;
  f.file("b.tar.gz", 100);
  UploadOptions options;
  options.lock.mode = LockMode::governance;
  options.lock.retain_until = *util::parse_rfc3339("2027-01-01T00:00:00Z");
  auto report = f.client().upload(*parse_s3_url("s3://bucket"), {{f.dir.file("b.tar.gz"), "", ""}}, options);
  const auto& o = report.objects[0];
  CHECK(o.state == ObjectState::failed);
  CHECK(o.error.message.find("the bucket refused the Object Lock (HTTP 400 InvalidRequest: Bucket is missing Object "
                             "Lock Configuration)") != std::string::npos);
  CHECK(o.error.hint.find("nothing unlocked was stored") != std::string::npos);
  CHECK(f.s3.objects.empty());
  CHECK(f.with_method("PUT").size() == 1);  // a refusal is not retried
}

TEST_CASE("a server that ignores the lock headers is reported, not trusted") {
  Fixture f;
  f.s3.ignores_lock = true;
  f.file("b.tar.gz", 100);
  UploadOptions options;
  options.lock.mode = LockMode::compliance;
  options.lock.retain_until = *util::parse_rfc3339("2027-01-01T00:00:00Z");
  auto report = f.client().upload(*parse_s3_url("s3://bucket"), {{f.dir.file("b.tar.gz"), "", ""}}, options);
  CHECK(report.objects[0].state == ObjectState::unprotected);
  CHECK(report.objects[0].error.message.find("stored WITHOUT the requested lock mode COMPLIANCE") != std::string::npos);
  CHECK_FALSE(report.ok());
}

TEST_CASE("multipart: parts with their own checksums, a failing part retried, the whole digest checked") {
  Fixture f;
  const std::string data = f.file("big.tar.gz", 20 * k_mib + 123);
  f.s3.fail_part = 2;
  const UploadOptions options = in_8mib_parts();
  std::vector<std::uint64_t> progress;
  auto report =
      f.client().upload(*parse_s3_url("s3://bucket"), {{f.dir.file("big.tar.gz"), "", util::sha256_hex(data)}}, options,
                        [&](const std::string&, std::uint64_t done, std::uint64_t) { progress.push_back(done); });
  const auto& o = report.objects[0];
  CHECK(o.state == ObjectState::uploaded);
  CHECK(o.parts == 3);
  CHECK(o.parts_in_bucket == 3);
  CHECK(f.s3.objects["big.tar.gz"] == data);
  CHECK(f.s3.meta["big.tar.gz"] == util::sha256_hex(data));
  CHECK(o.checksum_sha256.size() > 3);
  CHECK(o.checksum_sha256.substr(o.checksum_sha256.size() - 2) == "-3");
  CHECK(progress == std::vector<std::uint64_t>{8 * k_mib, 16 * k_mib, 20 * k_mib + 123});
  CHECK(f.clock.slept() == std::chrono::milliseconds(100));  // one retry
  int part2 = 0;
  for (const auto* r : f.with_method("PUT")) {
    if (r->request.url.find("partNumber=2&") != std::string::npos) ++part2;
    // Each part: not signed over its payload, but checked by the server against both digests.
    const auto part = std::string_view(data).substr(
        (std::stoul(parse(r->request.url).query["partNumber"]) - 1) * 8 * k_mib, 8 * k_mib);
    CHECK(r->header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD");
    CHECK(r->header("content-md5") == b64_md5(part));
    CHECK(r->header("x-amz-checksum-sha256") == b64_sha(part));
    CHECK(r->header("Authorization").find("content-md5;") != std::string::npos);
  }
  CHECK(part2 == 2);
  const auto posts = f.with_method("POST");
  REQUIRE(posts.size() == 2);  // create, complete
  CHECK(posts[0]->header("x-amz-checksum-algorithm") == "SHA256");
  CHECK(posts[1]->body.find("<Part><PartNumber>2</PartNumber><ETag>&quot;") != std::string::npos);
  CHECK(posts[1]->body.find("<ChecksumSHA256>" + b64_sha(std::string_view(data).substr(8 * k_mib, 8 * k_mib)) +
                            "</ChecksumSHA256>") != std::string::npos);
}

TEST_CASE("multipart: a part refused for good aborts the upload") {
  Fixture f;
  f.file("big.tar.gz", 17 * k_mib);
  f.s3.refuse_part = 2;
  const UploadOptions options = in_8mib_parts();
  auto report = f.client().upload(*parse_s3_url("s3://bucket"), {{f.dir.file("big.tar.gz"), "", ""}}, options);
  const auto& o = report.objects[0];
  CHECK(o.state == ObjectState::failed);
  CHECK(o.error.reason == "AccessDenied");
  CHECK(f.s3.aborted == 1);
  CHECK(f.s3.uploads.empty());
  CHECK(o.parts_in_bucket == 0);
}

TEST_CASE("multipart: a part whose bytes do not match their digests is sent again, then given up") {
  Fixture f;
  const std::string data = f.file("big.tar.gz", 17 * k_mib);
  const UploadOptions options = in_8mib_parts();
  int damaged = 0;
  int times = 0;  // how many times part 2 arrives damaged
  // Damages a byte of part 2 on its way, as a changed file or a faulty path would.
  ScriptedTransport damaging([&](const SeenRequest& r) {
    if (r.request.url.find("partNumber=2&") == std::string::npos || damaged == times) return f.s3.handle(r);
    ++damaged;
    SeenRequest copy = r;
    copy.body[1000] = static_cast<char>(copy.body[1000] ^ 1);
    return f.s3.handle(copy);
  });
  S3Client client(damaging, f.config, AwsCredentials{"AK", "SK", "", std::nullopt, "t"}, f.clock, &f.cancel);
  SUBCASE("once: the retry sends it whole") {
    times = 1;
    auto report = client.upload(*parse_s3_url("s3://bucket"), {{f.dir.file("big.tar.gz"), "", ""}}, options);
    CHECK(report.objects[0].state == ObjectState::uploaded);
    CHECK(f.s3.objects["big.tar.gz"] == data);
    CHECK(damaged == 1);
  }
  SUBCASE("every time: the upload is aborted, saying why") {
    times = 100;
    auto report = client.upload(*parse_s3_url("s3://bucket"), {{f.dir.file("big.tar.gz"), "", ""}}, options);
    const auto& o = report.objects[0];
    CHECK(o.state == ObjectState::failed);
    CHECK(o.error.reason == "BadDigest");
    CHECK(o.error.hint.find("the file changed during the upload") != std::string::npos);
    CHECK(damaged == f.config.attempts);
    CHECK(f.s3.objects.empty());
    CHECK(f.s3.aborted == 1);
  }
}

TEST_CASE("multipart: a file that changed during the upload is not completed") {
  Fixture f;
  f.file("big.tar.gz", 17 * k_mib);
  const UploadOptions options = in_8mib_parts();
  auto report = f.client().upload(*parse_s3_url("s3://bucket"),
                                  {{f.dir.file("big.tar.gz"), "", util::sha256_hex("other")}}, options);
  CHECK(report.objects[0].state == ObjectState::failed);
  CHECK(report.objects[0].error.message.find("the file changed; the upload was not completed") != std::string::npos);
  CHECK(f.s3.objects.empty());
  CHECK(f.s3.aborted == 1);
}

TEST_CASE("multipart: an interrupted upload is left for resume, and resumed from its listed parts") {
  Fixture f;
  const std::string data = f.file("big.tar.gz", 33 * k_mib);
  const UploadOptions options = in_8mib_parts();
  // Interrupt (as Ctrl-C would) when part 3 is being sent.
  ScriptedTransport interrupting([&](const SeenRequest& r) -> Result<kube::HttpResponse> {
    if (r.request.url.find("partNumber=3&") != std::string::npos) {
      f.cancel.cancel();
      return fail(Errc::cancelled, "interrupted");
    }
    return f.s3.handle(r);
  });
  S3Client first(interrupting, f.config, AwsCredentials{"AK", "SK", "", std::nullopt, "t"}, f.clock, &f.cancel);
  auto report = first.upload(*parse_s3_url("s3://bucket"),
                             {{f.dir.file("big.tar.gz"), "", ""}, {f.dir.file("big.tar.gz"), "second", ""}}, options);
  CHECK(report.cancelled);
  CHECK(report.objects[0].state == ObjectState::left_for_resume);
  CHECK(report.objects[0].parts_in_bucket == 2);
  CHECK(report.objects[0].parts == 5);
  CHECK(report.objects[1].state == ObjectState::not_attempted);
  CHECK(f.s3.aborted == 0);
  REQUIRE(f.s3.uploads.size() == 1);

  f.cancel.reset();
  SUBCASE("parts listed with their checksums are not sent again") {}
  SUBCASE("parts listed with only an ETag are matched by MD5") {
    f.s3.part_checksums_listed = false;
  }
  f.transport.requests.clear();
  auto resumed = f.client().upload(*parse_s3_url("s3://bucket"), {{f.dir.file("big.tar.gz"), "", ""}}, options);
  const auto& o = resumed.objects[0];
  CHECK(o.state == ObjectState::uploaded);
  CHECK(o.parts_reused == 2);
  CHECK(o.upload_id == "u1");
  CHECK(f.s3.objects["big.tar.gz"] == data);
  std::vector<std::string> sent;
  for (const auto* r : f.with_method("PUT")) sent.push_back(parse(r->request.url).query["partNumber"]);
  CHECK(sent == std::vector<std::string>{"3", "4", "5"});
}

TEST_CASE("virtual-hosted addressing for AWS endpoints, and a presigned URL") {
  Fixture f;
  f.config.endpoint = "";
  f.config.region = "eu-west-1";
  std::vector<std::string> urls;
  ScriptedTransport t([&](const SeenRequest& r) -> Result<kube::HttpResponse> {
    urls.push_back(r.request.url);
    return answer(404);
  });
  S3Client c(t, f.config, AwsCredentials{"AK", "SK", "", std::nullopt, "t"}, f.clock);
  CHECK(c.head_object("evidence", "a b/c.tgz").error().code == Errc::not_found);
  CHECK(urls.at(0) == "https://evidence.s3.eu-west-1.amazonaws.com/a%20b/c.tgz");
  const auto url = c.presign("PUT", "evidence", "k.tgz", std::chrono::seconds(600));
  CHECK(url.rfind("https://evidence.s3.eu-west-1.amazonaws.com/k.tgz?X-Amz-Algorithm=AWS4-HMAC-SHA256", 0) == 0);
  CHECK(url.find("X-Amz-Expires=600") != std::string::npos);
}

TEST_CASE("upload_presigned: the ETag is checked against the MD5 of the bytes sent") {
  Fixture f;
  const std::string data = f.file("b.tar.gz", 5000);
  std::string etag = "\"" + md5_hex(data) + "\"";
  ScriptedTransport t([&](const SeenRequest& r) -> Result<kube::HttpResponse> {
    CHECK(r.body == data);
    CHECK(r.request.headers.empty());  // nothing signed, nothing added
    return answer(200, "", {{"etag", etag}, {"x-amz-version-id", "v1"}});
  });
  const std::string url = "http://127.0.0.1:7480/bucket/b.tar.gz?X-Amz-Signature=deadbeef&X-Amz-Credential=AK";
  auto o = upload_presigned(t, url, {f.dir.file("b.tar.gz"), "b.tar.gz", ""});
  REQUIRE(o);
  CHECK(o->sha256_hex == util::sha256_hex(data));
  CHECK(o->version_id == "v1");
  CHECK(o->url.find("deadbeef") == std::string::npos);
  etag = "\"00000000000000000000000000000000\"";
  auto bad = upload_presigned(t, url, {f.dir.file("b.tar.gz"), "b.tar.gz", ""});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("is not the MD5 of the bytes sent") != std::string::npos);
  CHECK(bad.error().message.find("deadbeef") == std::string::npos);
}

TEST_CASE("s3_error: codes, messages and hints") {
  auto e =
      s3_error(answer(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>"), "PUT s3://b/k");
  CHECK(e.code == Errc::forbidden);
  CHECK(e.message == "PUT s3://b/k: HTTP 403 SignatureDoesNotMatch: m");
  CHECK(e.hint.find("secret access key") != std::string::npos);
  CHECK(s3_error(answer(400, "<Error><Code>ExpiredToken</Code></Error>"), "x").hint.find("expired") !=
        std::string::npos);
  CHECK(s3_error(answer(503, "garbage"), "x").code == Errc::server);
}

TEST_CASE("upload_presigned: a transport error never shows the URL's signature") {
  Fixture f;
  f.file("b.tar.gz", 10);
  const std::string url = "http://127.0.0.1:9/bucket/b.tar.gz?X-Amz-Signature=deadbeef";
  ScriptedTransport t([&](const SeenRequest&) -> Result<kube::HttpResponse> {
    return fail(Errc::network, "cannot connect to " + url + ": Connection refused");
  });
  auto r = upload_presigned(t, url, {f.dir.file("b.tar.gz"), "b.tar.gz", ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("deadbeef") == std::string::npos);
  CHECK(r.error().message.find("X-Amz-Signature=REDACTED") != std::string::npos);
}

TEST_CASE("a refused session token is named as such, and never shown") {
  Fixture f;
  f.file("b.tar.gz", 10);
  ScriptedTransport t([&](const SeenRequest& r) -> Result<kube::HttpResponse> {
    CHECK(r.header("x-amz-security-token") == "tok-secret-123");
    return answer(400, "<Error><Code>InvalidArgument</Code></Error>");
  });
  S3Client c(t, f.config, AwsCredentials{"AK", "SK", "tok-secret-123", std::nullopt, "environment"}, f.clock);
  auto report = c.upload(*parse_s3_url("s3://bucket"), {{f.dir.file("b.tar.gz"), "", ""}}, UploadOptions{});
  const auto& e = report.objects[0].error;
  CHECK(e.message == "PUT s3://bucket/b.tar.gz: HTTP 400 InvalidArgument");
  CHECK(e.hint.find("the session token (environment) was refused") != std::string::npos);
  CHECK(e.message.find("tok-secret") == std::string::npos);
  CHECK(e.hint.find("tok-secret") == std::string::npos);
}
