#pragma once
// The signature files beside a bundle (B.sig, B.intoto.jsonl: sign.hpp), written in the two ways
// a bundle comes to be signed:
//   - right after it was sealed (collect/run --sign-key): the bundle writer's SHA-256 and the
//     acquisition.json it just added are at hand, so nothing is read back: no pass over the bundle;
//   - later, of a bundle on disk (kubectl ir sign, the playbook step `sign`): the bundle is read
//     once, verified against its manifest in the same pass that gives its SHA-256 and acquisition
//     record, and a bundle that does not verify is not signed.
// Both write the files atomically (a temporary name renamed), mode 0644: they hold no secret.

#include <string>

#include <nlohmann/json.hpp>

#include "custody/acquisition.hpp"
#include "custody/sign.hpp"
#include "util/result.hpp"

namespace ir::custody {

// What was written.
struct SignedFiles {
  std::string bundle;           // the bundle's path
  std::string sha256;           // its SHA-256 (hex), which both signatures bind
  KeyType key_type = KeyType::ecdsa_p256;
  std::string key_fingerprint;  // "sha256:..." of the public key; the key itself is never recorded
  std::string signature;        // path of B.sig; "" for an Ed25519 key (it signs the statement only)
  std::string statement;        // path of B.intoto.jsonl
  std::string predicate_source;  // "acquisition.json", "acquisition.log" or "none"
};

// The journal's and -o json's form: {"bundle","sha256","key":{"type","fingerprint"},"signature"
// (null for Ed25519),"statement","predicate_source"}. Holds nothing secret.
nlohmann::json to_json(const SignedFiles& files);

// Signs the bundle at `bundle_path` whose SHA-256 is `sha256_hex` (as the bundle writer returned
// it) with `predicate` (acquisition_predicate()), and writes B.sig (ECDSA keys) and B.intoto.jsonl
// beside it. Reads nothing of the bundle. Fails with Errc::invalid (a digest that is not 64 hex
// digits), Errc::failure (OpenSSL) or Errc::io (a file that cannot be written; its message names
// the file).
Result<SignedFiles> write_signatures(const SigningKey& key, const std::string& bundle_path,
                                     const std::string& sha256_hex, const nlohmann::json& predicate);

// Reads the bundle at `bundle_path` once (read_bundle_facts), refuses one that does not match its
// manifest (Errc::failure naming the first problem and how many there are, with a hint), then
// signs it as write_signatures does, the predicate built from its acquisition entries and
// `signer` (its key_fingerprint is filled from `key` when empty). Fails as read_bundle_facts and
// write_signatures do.
Result<SignedFiles> sign_bundle_file(const SigningKey& key, const std::string& bundle_path, SignerInfo signer);

// The SHA-256 the statement beside `bundle_path` (B.intoto.jsonl) names as its subject, or ""
// when there is none or it cannot be read. Not verified: it is the value an upload must match
// (a digest the bytes do not have makes the upload fail, never pass), which spares a pass over
// the bundle before a single PUT.
std::string statement_digest(const std::string& bundle_path);

}  // namespace ir::custody
