#pragma once
// Baseline files (`kubectl ir baseline create`, `kubectl ir drift --baseline FILE`): a Profile
// (drift.hpp) of healthy pods, written before an incident, in the versioned, documented format
// "kubectl-ir-baseline/v1" (lib/forensics/README.md, "Baseline files"). Comparing a pod with a
// baseline is drift_document(pod, baseline.profile, ...): the same comparison as with live
// siblings, judged against "baseline-file".
//
// A baseline file is input like any other: it may have been edited or replaced. parse_baseline
// bounds its size, nesting, item counts and string lengths, checks every type and count, accepts
// only printable UTF-8 strings (what write_baseline writes), and says where a problem is: line
// and column for JSON syntax, a JSON pointer ("/containers/0/files/12/sha256") for the rest.

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "forensics/drift.hpp"
#include "util/result.hpp"

namespace ir::forensics {

inline constexpr std::string_view k_baseline_format = "kubectl-ir-baseline/v1";

// What a baseline file says about itself besides the profile.
struct BaselineMeta {
  std::string created;    // RFC 3339 UTC, from the caller's clock
  std::string generator;  // "kubectl-ir 0.1.0"
  std::string subject;    // what was profiled, as the user named it: "deployment/web", "pods web-1 web-2"
  std::string namespace_name;
};

// A loaded baseline: its metadata and the profile, whose source is BaselineSource::baseline_file,
// whose digest is the first container's, whose created is meta.created, and whose members have
// relation baseline-file (the file keeps how they related when it was made).
struct Baseline {
  BaselineMeta meta;
  Profile profile;
};

// Bounds on a baseline file.
struct BaselineLimits {
  std::size_t max_bytes = 512ULL << 20;
  std::size_t max_depth = 16;
  std::size_t max_members = 10'000;
  std::size_t max_containers = 64;
  std::size_t max_items = 4'000'000;  // executables, sockets, file variants and hashes, all together
  std::size_t max_string_bytes = 8192;
};

// The file's JSON, its keys in the documented order ("format" first): deterministic (items sorted
// by key), so two files of the same pods compare with diff. Never throws.
nlohmann::ordered_json baseline_to_json(const Profile& profile, const BaselineMeta& meta);

// baseline_to_json as text (indented, ending in '\n').
std::string write_baseline(const Profile& profile, const BaselineMeta& meta);

// Parses and validates a baseline file's text. Fails with Errc::invalid; the message starts with
// the position: "line 3, column 7: not valid JSON (...)" or "/containers/0/executables/2/count:
// 5 is more than the 2 members". `limits` bound everything read.
Result<Baseline> parse_baseline(std::string_view text, const BaselineLimits& limits = {});

}  // namespace ir::forensics
