#include <doctest/doctest.h>

#include "triage/digest.hpp"
#include "triage/pod_builder.hpp"

using namespace ir::triage;
using ir::testing::k_other_hex;
using ir::testing::k_web_hex;

namespace {
const std::string k_sha = "sha256:" + k_web_hex;
const std::string k_upper = [] {
  std::string s = k_web_hex;
  for (auto& c : s) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  return s;
}();
}  // namespace

TEST_CASE("parse_image_id: every runtime format and edge case") {
  struct Case {
    const char* what;
    std::string image_id;
    DigestKind kind;
    std::string digest;
    std::string repository;
    std::string scheme;
  };
  const std::string sha512 = "sha512:" + k_web_hex + k_other_hex;
  const Case cases[] = {
      {"empty: not started", "", DigestKind::none, "", "", ""},
      {"white space only", "  ", DigestKind::none, "", "", ""},
      {"containerd repo@digest (the v1.26 sample)", "docker.io/library/busybox@sha256:" + k_web_hex,
       DigestKind::repo_digest, k_sha, "docker.io/library/busybox", ""},
      {"cri-dockerd docker-pullable://", "docker-pullable://registry.example.com/shop/web@sha256:" + k_web_hex,
       DigestKind::repo_digest, k_sha, "registry.example.com/shop/web", "docker-pullable"},
      {"cri-dockerd docker:// config id", "docker://sha256:" + k_web_hex, DigestKind::config_id, k_sha, "", "docker"},
      {"CRI-O repo@digest naming a mirror", "mirror.example.net/shop-web@sha256:" + k_web_hex, DigestKind::repo_digest,
       k_sha, "mirror.example.net/shop-web", ""},
      {"CRI-O bare 64-hex id", k_web_hex, DigestKind::config_id, k_sha, "", ""},
      {"containerd sha256: config id (imported image)", "sha256:" + k_web_hex, DigestKind::config_id, k_sha, "", ""},
      {"upper-case hex folded", "registry.example.com/shop/web@sha256:" + k_upper, DigestKind::repo_digest, k_sha,
       "registry.example.com/shop/web", ""},
      {"upper-case bare id folded", k_upper, DigestKind::config_id, k_sha, "", ""},
      {"repo:tag@digest", "registry.example.com/shop/web:1.4.2@sha256:" + k_web_hex, DigestKind::repo_digest, k_sha,
       "registry.example.com/shop/web", ""},
      {"registry with a port", "localhost:5000/app@sha256:" + k_web_hex, DigestKind::repo_digest, k_sha,
       "localhost:5000/app", ""},
      {"Docker Hub short name", "busybox@sha256:" + k_web_hex, DigestKind::repo_digest, k_sha,
       "docker.io/library/busybox", ""},
      {"docker:// with a repo digest", "docker://registry.example.com/shop/web@sha256:" + k_web_hex,
       DigestKind::repo_digest, k_sha, "registry.example.com/shop/web", "docker"},
      {"sha512", "registry.example.com/x@" + sha512, DigestKind::repo_digest, sha512, "registry.example.com/x", ""},
      {"surrounding white space", " docker://sha256:" + k_web_hex + "\n", DigestKind::config_id, k_sha, "", "docker"},
      {"digest too short", "registry.example.com/x@sha256:" + k_web_hex.substr(1), DigestKind::unrecognised, "", "", ""},
      {"digest too long", "registry.example.com/x@sha256:" + k_web_hex + "0", DigestKind::unrecognised, "", "", ""},
      {"not hex", "registry.example.com/x@sha256:" + std::string(64, 'g'), DigestKind::unrecognised, "", "", ""},
      {"unknown algorithm", "registry.example.com/x@md5:" + k_web_hex.substr(0, 32), DigestKind::unrecognised, "", "", ""},
      {"garbage after the digest", "x@sha256:" + k_web_hex + "\x1b[31m", DigestKind::unrecognised, "", "", ""},
      {"63-hex bare id", k_web_hex.substr(1), DigestKind::unrecognised, "", "", ""},
      {"a tag, no digest", "registry.example.com/shop/web:1.4.2", DigestKind::unrecognised, "", "", ""},
      {"bare algorithm", "sha256:", DigestKind::unrecognised, "", "", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const auto d = parse_image_id(c.image_id);
    CHECK(d.kind == c.kind);
    CHECK(d.digest == c.digest);
    CHECK(d.repository == c.repository);
    CHECK(d.scheme == c.scheme);
  }
}

TEST_CASE("same_image: digests of the same kind, never repository names") {
  const auto containerd = parse_image_id("registry.example.com/shop/web@sha256:" + k_web_hex);
  const auto pullable = parse_image_id("docker-pullable://registry.example.com/shop/web@sha256:" + k_web_hex);
  const auto mirror = parse_image_id("mirror.example.net/shop-web@sha256:" + k_web_hex);
  const auto other = parse_image_id("registry.example.com/shop/web@sha256:" + k_other_hex);
  const auto config = parse_image_id("docker://sha256:" + k_web_hex);
  const auto bare = parse_image_id(k_web_hex);
  const auto none = parse_image_id("");
  const auto junk = parse_image_id("junk");
  CHECK(same_image(containerd, pullable));
  CHECK(same_image(containerd, mirror));  // another repository, same digest
  CHECK_FALSE(same_image(containerd, other));  // same repository, other digest
  CHECK(same_image(config, bare));            // config ids compare with config ids
  CHECK_FALSE(same_image(containerd, config));  // a config id never matches a repo digest
  CHECK_FALSE(same_image(config, containerd));
  CHECK(same_image(config, containerd, /*any_kind=*/true));  // a digest typed by the user
  CHECK_FALSE(same_image(none, none));
  CHECK_FALSE(same_image(junk, junk));
  CHECK_FALSE(same_image(containerd, none, true));
}

TEST_CASE("image_repository normalises references as the runtimes do") {
  const std::pair<const char*, const char*> cases[] = {
      {"busybox", "docker.io/library/busybox"},
      {"busybox:1.36", "docker.io/library/busybox"},
      {"library/busybox:1.36", "docker.io/library/busybox"},
      {"docker.io/busybox", "docker.io/library/busybox"},
      {"index.docker.io/library/busybox:1", "docker.io/library/busybox"},
      {"user/app", "docker.io/user/app"},
      {"registry.example.com/shop/web:1.4.2", "registry.example.com/shop/web"},
      {"registry.example.com:5000/shop/web:1.4", "registry.example.com:5000/shop/web"},
      {"registry.example.com:5000/shop/web", "registry.example.com:5000/shop/web"},
      {"localhost/app:dev", "localhost/app"},
      {"quay.io/prometheus/node-exporter:v1.7.0@sha256:abc", "quay.io/prometheus/node-exporter"},
      {"", ""},
  };
  for (const auto& [in, want] : cases) {
    CAPTURE(in);
    CHECK(image_repository(in) == want);
  }
}

TEST_CASE("pinned_digest and short_digest") {
  CHECK(pinned_digest("registry.example.com/shop/web@sha256:" + k_web_hex) == "sha256:" + k_web_hex);
  CHECK(pinned_digest("registry.example.com/shop/web:1.4.2") == "");
  CHECK(pinned_digest("web@sha256:short") == "");
  CHECK(short_digest("sha256:" + k_web_hex) == "sha256:ce8bdfcc7800");
  CHECK(short_digest("abc") == "abc");
  CHECK(std::string(to_string(DigestKind::repo_digest)) == "repoDigest");
  CHECK(std::string(to_string(DigestKind::config_id)) == "configID");
}
