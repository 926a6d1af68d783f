#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "cmd/cli.hpp"
#include "cmd/exit_codes.hpp"
#include "support/temp_dir.hpp"
#include "util/files.hpp"
#include "support/run_cli.hpp"

using namespace ir;
using namespace ir::cli;

using ir::testing::run_cli;

TEST_CASE("cli upload: usage errors exit 2 before anything is sent") {
  testing::TempDir dir;
  REQUIRE(util::write_file_atomic(dir.file("b.tar.gz"), "bundle"));
  const std::string b = dir.file("b.tar.gz");
  const std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}};
  auto r = run_cli({"upload", b}, env);
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.find("give the bundles, then the destination") != std::string::npos);
  r = run_cli({"upload", b, "https://bucket/x"}, env);
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.find("not an s3:// URL") != std::string::npos);
  r = run_cli({"upload", dir.file("missing.tar.gz"), "s3://bucket/x"}, env);
  CHECK(r.code == k_exit_usage);
  r = run_cli({"upload", b, "s3://bucket/x", "--lock-mode", "compliance"}, env);
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.find("--lock-mode and --retain-until go together") != std::string::npos);
  r = run_cli({"upload", b, "s3://bucket/x", "--lock-mode", "forever", "--retain-until", "1d"}, env);
  CHECK(r.code == k_exit_usage);
  r = run_cli({"upload", b, "s3://bucket/x", "--lock-mode", "governance", "--retain-until", "yesterday"}, env);
  CHECK(r.code == k_exit_usage);
  r = run_cli({"upload", b, "s3://bucket/x", "--part-size", "1Mi"}, env);
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.find("give 8Mi to 64Mi") != std::string::npos);
  r = run_cli({"upload", b, "--upload-url", "http://127.0.0.1:9/a", "--upload-url", "http://127.0.0.1:9/b"}, env);
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.find("2 --upload-url for 1 file(s)") != std::string::npos);
}

TEST_CASE("cli upload: no credentials is a failure naming what was tried, never a secret") {
  testing::TempDir dir;
  REQUIRE(util::write_file_atomic(dir.file("b.tar.gz"), "bundle"));
  auto r = run_cli({"upload", dir.file("b.tar.gz"), "s3://bucket/x"}, {{"HOME", dir.path()}});
  CHECK(r.code == k_exit_failure);
  CHECK(r.err.find("no AWS credentials") != std::string::npos);
  CHECK(r.err.find("hint: set AWS_PROFILE") != std::string::npos);
  r = run_cli({"upload", dir.file("b.tar.gz"), "s3://bucket/x"}, {{"AWS_ACCESS_KEY_ID", "AK"}, {"HOME", dir.path()}});
  CHECK(r.code == k_exit_failure);
  CHECK(r.err.find("AWS_SECRET_ACCESS_KEY is not set") != std::string::npos);
}

TEST_CASE("cli sign: an encrypted key without its variable, a missing variable") {
  testing::TempDir dir;
  REQUIRE(util::write_file_atomic(dir.file("b.tar.gz"), "bundle"));
  auto r = run_cli({"sign", dir.file("b.tar.gz"), "--sign-key", dir.file("k.pem"), "--sign-key-pass-env", "NOPE"});
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.find("--sign-key-pass-env NOPE: the variable is not set") != std::string::npos);
  r = run_cli({"sign", dir.file("b.tar.gz"), "--sign-key", dir.file("k.pem")});
  CHECK(r.code == k_exit_failure);
  CHECK(r.err.find("signing key") != std::string::npos);
  r = run_cli({"sign", dir.file("b.tar.gz")});
  CHECK(r.code == k_exit_usage);
}

TEST_CASE("cli collect: the flags for after sealing are checked before anything is collected") {
  testing::TempDir dir;
  const std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"},
                                                  {"KUBECONFIG", dir.file("no-kubeconfig")}};
  {
    const std::vector<std::string> head = {"collect", "web-1"};
    const auto with = [&](std::vector<std::string> tail) {
      auto args = head;
      args.insert(args.end(), tail.begin(), tail.end());
      return run_cli(args, env);
    };
    auto r = with({"--upload", "s3://b/x/", "--upload-url", "http://127.0.0.1:9/a"});
    CHECK(r.code == k_exit_usage);
    CHECK(r.err.find("give --upload or --upload-url, not both") != std::string::npos);
    r = with({"--upload", "https://b/x/"});
    CHECK(r.code == k_exit_usage);
    CHECK(r.err.find("not an s3:// URL") != std::string::npos);
    r = with({"--sign-key-pass-env", "PASS"});
    CHECK(r.code == k_exit_usage);
    r = with({"--sign-key", dir.file("missing.key")});
    CHECK(r.code == k_exit_failure);
    CHECK(r.err.find("--sign-key") != std::string::npos);
    r = with({"--report", "--upload-url", "http://127.0.0.1:9/a"});
    CHECK(r.code == k_exit_usage);
    CHECK(r.err.find("1 --upload-url for 2 file(s) (the bundle, its page)") != std::string::npos);
    r = with({"--upload", "s3://b/x/", "--lock-mode", "governance"});
    CHECK(r.code == k_exit_usage);
    CHECK(r.err.find("--lock-mode and --retain-until go together") != std::string::npos);
    // Nothing collected, no case opened: the checks come first.
    CHECK(r.err.find("collect:") == std::string::npos);
  }
}
