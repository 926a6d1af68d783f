#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <sstream>

#include "cmd/custody_flags.hpp"
#include "cmd/exit_codes.hpp"
#include "custody/fake_s3.hpp"
#include "evidence/case.hpp"
#include "support/temp_dir.hpp"
#include "util/crypto.hpp"
#include "util/files.hpp"

using namespace ir;
using namespace ir::cli;
using nlohmann::json;

namespace {

std::string write_ec_key(const testing::TempDir& dir) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(pkey != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string path = dir.file("ir.key");
  REQUIRE(util::write_file_atomic(path, std::string(data, static_cast<std::size_t>(n)), 0600));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return path;
}

evidence::Acquirer acquirer(util::TimePoint started) {
  evidence::Acquirer a;
  a.examiner = "alice";
  a.tool_version = "0.1.0";
  a.started = started;
  return a;
}

// A case with one sealed bundle.
struct Sealed {
  testing::TempDir dir;
  util::FakeClock clock{*util::parse_rfc3339("2026-12-05T10:00:00Z")};
  std::unique_ptr<evidence::Case> c;
  evidence::Case::SealResult sealed;
  Sealed() {
    auto opened = evidence::Case::open(dir.file("cases"), "case-1", clock, {{"pod", "web-1"}});
    REQUIRE(opened);
    c = std::move(*opened);
    REQUIRE(c->open_bundle(dir.file("b.tar.gz")));
    REQUIRE(c->bundle()->add("pod/pod.json", "{}", {.source = "GET pod", .method = evidence::Method::api}));
    auto s = c->seal("collect", acquirer(clock.now()), evidence::SealInput{});
    REQUIRE(s);
    sealed = *s;
  }
  std::vector<json> journal(const std::string& action) const {
    std::vector<json> out;
    std::istringstream in(util::read_file(c->journal().path(), 1 << 20).value());
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line);
      if (j.value("action", "") == action) out.push_back(j);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("AfterSeal: signs the writer's digest, writes the page, journals both in the case journal") {
  Sealed s;
  std::ostringstream out, err, lines;
  Io io{out, err, {}};
  CustodyFlags flags;
  flags.report = true;
  flags.sign_key = write_ec_key(s.dir);
  auto after = AfterSeal::prepare(flags, nullptr, io);
  REQUIRE(after);
  CHECK((*after)->wanted());
  const auto done = (*after)->run(*s.c, s.sealed, util::Outcome::ok, io, &lines);
  CHECK(done.outcome == util::Outcome::ok);
  CHECK(combine_exit(k_exit_ok, done.outcome) == k_exit_ok);
  const std::string bundle = s.sealed.sealed.path;
  // The statement names the digest the writer computed: the bytes on disk have it.
  CHECK(custody::statement_digest(bundle) == s.sealed.sealed.sha256);
  CHECK(util::sha256_hex(util::read_file(bundle, 1 << 20).value()) == s.sealed.sealed.sha256);
  CHECK(done.doc["signature"]["predicate_source"] == "acquisition.json");
  const auto signs = s.journal("sign");
  REQUIRE(signs.size() == 1);
  CHECK(signs[0]["sha256"] == s.sealed.sealed.sha256);
  const auto pages = s.journal("report.written");
  REQUIRE(pages.size() == 1);
  const std::string page = s.dir.file("b.html");
  CHECK(pages[0]["path"] == page);
  const auto html = util::read_file(page, 8 << 20).value();
  CHECK(pages[0]["sha256"] == util::sha256_hex(html));
  CHECK(html.find("id=\"after-seal\"") != std::string::npos);
  CHECK(lines.str().find("report:    " + page) != std::string::npos);
}

TEST_CASE("AfterSeal: an upload refused after sealing is partial (exit 3), journaled, the bundle untouched") {
  Sealed s;
  std::ostringstream out, err;
  Io io{out, err, {}};
  ir::testing::ScriptedTransport transport([](const ir::testing::SeenRequest&) {
    return Result<kube::HttpResponse>(ir::testing::answer(
        403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"));
  });
  custody::S3Config config;
  config.endpoint = "http://127.0.0.1:9";
  config.attempts = 1;
  auto access = S3Access::over(transport, config, {"AKIDEXAMPLE", "secret-never-shown", "", {}, "test"}, s.clock, nullptr);
  CustodyFlags flags;
  flags.upload = "s3://evidence/cases/";
  auto after = AfterSeal::prepare(flags, std::move(access), io);
  REQUIRE(after);
  const std::string before = util::read_file(s.sealed.sealed.path, 1 << 20).value();
  const auto done = (*after)->run(*s.c, s.sealed, util::Outcome::ok, io, nullptr);
  CHECK(done.outcome == util::Outcome::partial);
  CHECK(combine_exit(k_exit_ok, done.outcome) == k_exit_partial);
  CHECK(combine_exit(k_exit_interrupted, done.outcome) == k_exit_interrupted);
  CHECK(util::read_file(s.sealed.sealed.path, 1 << 20).value() == before);
  CHECK(err.str().find("the evidence is sealed at " + s.sealed.sealed.path) != std::string::npos);
  const auto uploads = s.journal("upload");
  REQUIRE(uploads.size() == 1);
  CHECK(uploads[0]["state"] != "uploaded");
  CHECK(uploads[0]["url"] == "s3://evidence/cases/b.tar.gz");
  CHECK(done.doc["uploads"].size() == 1);
  for (const auto& text : {err.str(), out.str(), util::read_file(s.c->journal().path(), 1 << 20).value()}) {
    CHECK(text.find("secret-never-shown") == std::string::npos);
  }
}
