#pragma once
// The acquisition record a signature's predicate carries, read from a bundle.
//
// Every bundle carries acquisition.json ("kubectl-ir-acquisition/v1": case, examiner, caller,
// tool, cluster, host, command, times, result, subjects with pod UIDs and image digests, what was
// not collected). Bundles written before it existed have only the human acquisition.log ("key:
// value" lines); the predicate is then built from that and says so ("source"), and a bundle with
// neither gets a predicate that lists what is missing. The bundle is hostile input: only the known
// fields, of the expected types, are copied, strings are bounded and lists are capped.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "util/result.hpp"

namespace ir::custody {

inline constexpr std::string_view k_acquisition_json = "acquisition.json";
inline constexpr std::string_view k_acquisition_log = "acquisition.log";

// Who signs, and when (recorded in the predicate's "signed" object).
struct SignerInfo {
  std::string tool_version;     // "0.1.0"
  std::string tool_commit;      // "6b43b5c"
  std::string key_fingerprint;  // "sha256:..." of the public key
  std::string signed_at;        // RFC 3339 UTC
};

// The predicate: the acquisition record's fields (see the contract in acquisition.json), plus
// "source" ("acquisition.json", "acquisition.log" or "none"), "missing" (the record's fields that
// could not be found) and "signed" (from `signer`). `acquisition_json` / `acquisition_log` are the
// entries' bytes, or nullptr when the bundle has none. Never fails: bad input yields a predicate
// that says what is missing.
nlohmann::json acquisition_predicate(const std::string* acquisition_json, const std::string* acquisition_log,
                                     const SignerInfo& signer);

// A bundle read once: verified against its manifest, its SHA-256 computed, and its acquisition
// entries kept (each at most 1 MiB).
struct BundleFacts {
  evidence::VerifyReport report;
  std::optional<std::string> acquisition_json;
  std::optional<std::string> acquisition_log;
};

// Reads the bundle at `path` once (evidence::verify_bundle with an EntryCollector). Fails as
// verify_bundle does (Errc::io, Errc::invalid); manifest mismatches are problems in the report.
Result<BundleFacts> read_bundle_facts(const std::string& path);

}  // namespace ir::custody
