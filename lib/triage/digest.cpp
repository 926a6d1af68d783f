#include "triage/digest.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace ir::triage {

namespace {

// Hex lengths of the digest algorithms OCI registers (image-spec descriptor.md "Digests").
std::size_t hex_length(std::string_view algorithm) {
  if (algorithm == "sha256") return 64;
  if (algorithm == "sha384") return 96;
  if (algorithm == "sha512") return 128;
  return 0;
}

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// "sha256:<hex>" → the normalised digest, or "" when it is not one.
std::string normalise_digest(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return {};
  const std::string algorithm = util::to_lower(s.substr(0, colon));
  const std::string_view hex = s.substr(colon + 1);
  const std::size_t want = hex_length(algorithm);
  if (want == 0 || hex.size() != want || !is_hex(hex)) return {};
  return algorithm + ":" + util::to_lower(hex);
}

}  // namespace

const char* to_string(DigestKind kind) {
  switch (kind) {
    case DigestKind::none: return "none";
    case DigestKind::repo_digest: return "repoDigest";
    case DigestKind::config_id: return "configID";
    case DigestKind::unrecognised: return "unrecognised";
  }
  return "unrecognised";
}

ImageDigest parse_image_id(std::string_view image_id) {
  ImageDigest d;
  std::string_view s = util::trim(image_id);
  if (s.empty()) return d;  // kind none: not started
  d.kind = DigestKind::unrecognised;
  // cri-dockerd prefixes a scheme: docker-pullable:// (a repo digest) or docker:// (a config id).
  if (const auto p = s.find("://"); p != std::string_view::npos) {
    d.scheme = std::string(s.substr(0, p));
    s.remove_prefix(p + 3);
  }
  if (const auto at = s.rfind('@'); at != std::string_view::npos) {
    // repo@algorithm:hex — the digest of what was pulled; the repo may be a mirror's (CRI-O).
    d.digest = normalise_digest(s.substr(at + 1));
    if (d.digest.empty()) return d;
    d.kind = DigestKind::repo_digest;
    d.repository = image_repository(s.substr(0, at));
    return d;
  }
  if (s.find(':') != std::string_view::npos) {
    d.digest = normalise_digest(s);  // docker://sha256:<config> or containerd's sha256:<config>
  } else if (s.size() == 64 && is_hex(s)) {
    d.digest = "sha256:" + util::to_lower(s);  // CRI-O's bare image id
  }
  if (!d.digest.empty()) d.kind = DigestKind::config_id;
  return d;
}

bool same_image(const ImageDigest& target, const ImageDigest& candidate, bool any_kind) {
  const auto comparable = [](DigestKind k) { return k == DigestKind::repo_digest || k == DigestKind::config_id; };
  if (!comparable(target.kind) || !comparable(candidate.kind)) return false;
  if (!any_kind && target.kind != candidate.kind) return false;
  return target.digest == candidate.digest;
}

std::string image_repository(std::string_view reference) {
  std::string_view s = util::trim(reference);
  if (const auto at = s.find('@'); at != std::string_view::npos) s = s.substr(0, at);
  // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
  const auto slash = s.rfind('/');
  if (const auto colon = s.rfind(':'); colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    s = s.substr(0, colon);
  }
  if (s.empty()) return {};
  // The first component is a registry only if it looks like a host (distribution/reference's
  // rule: contains '.' or ':', or is "localhost"); otherwise the image lives on Docker Hub.
  std::string out(s);
  const auto first_slash = out.find('/');
  const std::string first = first_slash == std::string::npos ? std::string() : out.substr(0, first_slash);
  const bool has_registry =
      !first.empty() && (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost");
  if (!has_registry) {
    out = (first_slash == std::string::npos ? "docker.io/library/" : "docker.io/") + out;
  } else if (first == "index.docker.io") {
    out = "docker.io" + out.substr(first_slash);
  }
  if (out.rfind("docker.io/", 0) == 0 && out.find('/', 10) == std::string::npos) {
    out.insert(10, "library/");  // docker.io/busybox → docker.io/library/busybox
  }
  return out;
}

std::string pinned_digest(std::string_view reference) {
  const auto at = reference.rfind('@');
  if (at == std::string_view::npos) return {};
  return normalise_digest(util::trim(reference.substr(at + 1)));
}

std::string short_digest(std::string_view digest) {
  const auto colon = digest.find(':');
  if (colon == std::string_view::npos) return std::string(digest.substr(0, 12));
  return std::string(digest.substr(0, std::min(digest.size(), colon + 1 + 12)));
}

}  // namespace ir::triage
