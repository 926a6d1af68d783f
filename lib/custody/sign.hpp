#pragma once
// Signatures over evidence bundles, in the forms supply-chain tooling reads:
//
//   B.tar.gz.sig           base64 of a DER ECDSA P-256 signature over SHA-256 of the bundle's bytes:
//                          what `cosign verify-blob --key pub.pem --signature B.tar.gz.sig B.tar.gz`
//                          and `openssl dgst -sha256 -verify pub.pem -signature <decoded> B.tar.gz`
//                          accept. ECDSA keys only (see below).
//   B.tar.gz.intoto.jsonl  one DSSE envelope (payloadType application/vnd.in-toto+json) per line,
//                          holding an in-toto Statement v1 whose subject is the bundle (name and
//                          SHA-256) and whose predicate is the acquisition record; signed over
//                          the DSSE pre-authentication encoding (PAE) with ECDSA P-256/SHA-256 or
//                          Ed25519.
//
// Neither signature needs the bundle's bytes, only its SHA-256, which the bundle writer computes
// while writing: signing adds no pass over a multi-GiB file. That is also why Ed25519 keys sign the
// statement only: pure Ed25519 signs the message itself (its SHA-512 runs over every byte) and
// OpenSSL 3.0 has no Ed25519ph; a signature over the digest would be a format no verifier knows.
// The statement names the digest, so an Ed25519 signature over it binds the bundle just as well.
//
// Keys are PEM (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY", PKCS#8 "ENCRYPTED PRIVATE KEY" with a
// passphrase). Key material stays inside OpenSSL: never copied into a message, a file or a result.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace ir::custody {

enum class KeyType { ecdsa_p256, ed25519 };
// "ecdsa-p256" or "ed25519".
std::string_view to_string(KeyType type);

// The DSSE payload type of an in-toto statement and the statement's _type.
inline constexpr std::string_view k_intoto_payload_type = "application/vnd.in-toto+json";
inline constexpr std::string_view k_statement_type = "https://in-toto.io/Statement/v1";
// The predicate type of kubectl-ir's acquisition record (see acquisition.hpp).
inline constexpr std::string_view k_acquisition_predicate_type = "https://kubectl-ir.dev/acquisition/v1";

// The file names beside a bundle: "<bundle>.sig" and "<bundle>.intoto.jsonl".
std::string signature_path(const std::string& bundle_path);
std::string statement_path(const std::string& bundle_path);

// A private key, loaded into OpenSSL and kept there. Copies share the one key.
class SigningKey {
 public:
  // Reads a PEM private key from `path` (at most 64 KiB; the buffer is wiped after parsing).
  // `passphrase` unlocks an encrypted key; without one an encrypted key fails with Errc::config and
  // a hint naming --sign-key-pass-env, and nothing is ever asked on a terminal. Fails with
  // Errc::io (unreadable), Errc::config (not a PEM private key, wrong passphrase, cosign's own
  // encrypted format, or a key other than ECDSA P-256 or Ed25519). Messages name the file, never
  // its content.
  static Result<SigningKey> load(const std::string& path, const std::optional<std::string>& passphrase);

  [[nodiscard]] KeyType type() const { return m_type; }
  // The public half as PEM (SubjectPublicKeyInfo), e.g. to write the .pub a verifier needs.
  [[nodiscard]] std::string public_pem() const;
  // "sha256:<hex>" of the DER SubjectPublicKeyInfo: names the key in output and journals.
  [[nodiscard]] std::string fingerprint() const;

  // ECDSA P-256 only: the DER signature over a SHA-256 `digest` (32 raw bytes), as
  // EVP_DigestSign over the original message would give. Fails with Errc::invalid for an Ed25519
  // key or a digest that is not 32 bytes.
  [[nodiscard]] Result<std::string> sign_digest(std::string_view digest) const;
  // Signs `message` itself: ECDSA P-256 with SHA-256 (DER), or Ed25519 (64 bytes).
  [[nodiscard]] Result<std::string> sign_message(std::string_view message) const;

  struct Key;  // OpenSSL's EVP_PKEY, opaque here

 private:
  SigningKey(std::shared_ptr<Key> key, KeyType type) : m_key(std::move(key)), m_type(type) {}
  std::shared_ptr<Key> m_key;
  KeyType m_type;
  friend class VerifyKey;
};

// A public key for verification (PEM SubjectPublicKeyInfo, as `cosign generate-key-pair` and
// `openssl pkey -pubout` write it).
class VerifyKey {
 public:
  // Reads a PEM public key from `path` (at most 64 KiB). Fails with Errc::io or Errc::config.
  static Result<VerifyKey> load(const std::string& path);
  // Parses PEM text. Fails with Errc::config.
  static Result<VerifyKey> from_pem(std::string_view pem);
  // The public half of a signing key.
  static VerifyKey of(const SigningKey& key);

  [[nodiscard]] KeyType type() const { return m_type; }
  [[nodiscard]] std::string fingerprint() const;

  // ECDSA: whether `signature` (DER) signs the SHA-256 `digest` (32 raw bytes). Fails with
  // Errc::invalid saying why (bad signature, Ed25519 key, malformed DER).
  [[nodiscard]] Result<void> verify_digest(std::string_view digest, std::string_view signature) const;
  // Whether `signature` signs `message` (ECDSA P-256/SHA-256 or Ed25519). Errc::invalid if not.
  [[nodiscard]] Result<void> verify_message(std::string_view message, std::string_view signature) const;

 private:
  VerifyKey(std::shared_ptr<SigningKey::Key> key, KeyType type) : m_key(std::move(key)), m_type(type) {}
  std::shared_ptr<SigningKey::Key> m_key;
  KeyType m_type;
};

// DSSE v1 pre-authentication encoding: "DSSEv1 <len(type)> <type> <len(body)> <body>".
std::string dsse_pae(std::string_view payload_type, std::string_view payload);

// What a signature is made over: the bundle's file name (the statement's subject name), its
// SHA-256 (64 lowercase hex digits, as the bundle writer returns it) and the predicate (from
// acquisition_predicate()).
struct SignInput {
  std::string bundle_name;
  std::string sha256_hex;
  nlohmann::json predicate;
};

// The two files to write beside the bundle.
struct Signatures {
  std::string blob_signature;  // content of B.sig (base64, no newline); "" for an Ed25519 key
  std::string envelope;        // content of B.intoto.jsonl (one JSON line, ending in "\n")
};

// Builds the in-toto statement, wraps it in a DSSE envelope signed with `key`, and (ECDSA) signs
// the bundle digest. Fails with Errc::invalid when sha256_hex is not 64 hex digits, or when
// OpenSSL fails (Errc::failure). Reads nothing: the digest is the caller's.
Result<Signatures> sign_bundle(const SigningKey& key, const SignInput& input);

// The in-toto statement (JSON) sign_bundle signs.
nlohmann::json make_statement(const SignInput& input);

// Checks a detached signature file's content (base64 of DER, surrounding white space allowed)
// against `sha256_hex`. Fails with Errc::invalid naming the reason: not base64, the key is Ed25519,
// or "signature does not match" (another key, or another bundle).
Result<void> verify_blob_signature(const VerifyKey& key, const std::string& sha256_hex,
                                   std::string_view signature_file);

// What a verified statement says.
struct VerifiedStatement {
  std::string subject_name;
  std::string subject_sha256;
  std::string predicate_type;
  nlohmann::json predicate;
};

// Checks an envelope file (.intoto.jsonl: the first non-empty line is the envelope; at most 16 MiB):
// payloadType is in-toto's, at least one signature verifies with `key` over the PAE, the payload is
// an in-toto Statement v1 and one subject's sha256 is `sha256_hex`. Fails with Errc::invalid
// naming the first check that failed (never echoing more than a short, escaped piece of the file).
Result<VerifiedStatement> verify_envelope(const VerifyKey& key, const std::string& sha256_hex,
                                          std::string_view envelope_file);

}  // namespace ir::custody
