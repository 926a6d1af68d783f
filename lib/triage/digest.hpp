#pragma once
// Image identity for siblings: what a container status's imageID says about the image that runs,
// whatever the container runtime wrote it as, and the repository an image reference names.
//
// Runtimes write imageID differently (shared/README.md §2 "Image digests"):
//   containerd    docker.io/library/busybox@sha256:<hex>         repository digest
//   cri-dockerd   docker-pullable://repo@sha256:<hex>            repository digest
//                 docker://sha256:<hex>                          image config id (no repo digest known)
//   CRI-O         repo@sha256:<hex>, possibly naming a mirror     repository digest
//                 <64 hex>                                       image config id
//   containerd    sha256:<hex> (image imported, never pulled)    image config id
// A repository digest is the digest of a manifest (or of a multi-arch index); a config id is the
// digest of the image configuration. They hash different documents, so they never equal each
// other even for the same image: compare digests of the same kind only, never repository names.

#include <string>
#include <string_view>

namespace ir::triage {

enum class DigestKind {
  none,          // empty imageID: the container has not started yet
  repo_digest,   // a manifest or index digest (…@sha256:…)
  config_id,     // an image config id (docker://sha256:…, sha256:…, bare hex)
  unrecognised,  // something else: shown, never matched
};

// "repoDigest", "configID", "none", "unrecognised" (the JSON output's spelling).
const char* to_string(DigestKind kind);

struct ImageDigest {
  DigestKind kind = DigestKind::none;
  std::string digest;      // "sha256:<lower-case hex>"; empty unless repo_digest or config_id
  std::string repository;  // the repository the imageID names (information only; "" if none)
  std::string scheme;      // "docker-pullable", "docker" or "" (the "<scheme>://" prefix, if any)
};

// Normalises one imageID (any format above; surrounding white space ignored). Algorithms sha256
// (64 hex), sha384 (96) and sha512 (128) are accepted; upper-case hex is folded to lower case. A
// bare hex id is taken as sha256. Anything else is DigestKind::unrecognised, never an error.
ImageDigest parse_image_id(std::string_view image_id);

// True when `candidate` runs the image `target` identifies: same kind and same digest. A config id
// only ever matches a config id. With `any_kind` (a digest typed by the user, who may not know
// which kind it is) only the digests are compared.
bool same_image(const ImageDigest& target, const ImageDigest& candidate, bool any_kind = false);

// The repository an image reference names, normalised as the container runtimes do:
// "busybox:1.36" → "docker.io/library/busybox", "user/app" → "docker.io/user/app",
// "registry.example.com:5000/shop/web:1.4@sha256:…" → "registry.example.com:5000/shop/web".
// Tag and digest are dropped. Returns "" for an empty reference.
std::string image_repository(std::string_view reference);

// The digest an image reference is pinned to ("repo@sha256:…" → "sha256:…"), or "".
std::string pinned_digest(std::string_view reference);

// "sha256:ce8bdfcc7800" — algorithm and the first 12 hex digits, for narrow table columns.
std::string short_digest(std::string_view digest);

}  // namespace ir::triage
