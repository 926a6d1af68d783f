#include "custody/sign.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include "custody/hex.hpp"
#include "util/crypto.hpp"
#include "util/escape.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::custody {

struct SigningKey::Key {
  EVP_PKEY* pkey = nullptr;
  explicit Key(EVP_PKEY* p) : pkey(p) {}
  ~Key() { EVP_PKEY_free(pkey); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
};

namespace {

constexpr std::size_t k_max_key_file = 64 * 1024;
constexpr std::size_t k_max_envelope = 16UL * 1024 * 1024;

// Wipes a string's bytes (key material, passphrases) before it is freed.
struct Wiped {
  std::string value;
  ~Wiped() { OPENSSL_cleanse(value.data(), value.size()); }
};

struct PassphraseState {
  const std::optional<std::string>* passphrase;
  bool asked = false;
};

// OpenSSL's passphrase callback: answers with --sign-key-pass-env's value, never asks a terminal.
int passphrase_callback(char* buf, int size, int /*rwflag*/, void* userdata) {
  auto* state = static_cast<PassphraseState*>(userdata);
  state->asked = true;
  if (!state->passphrase->has_value()) return -1;
  const std::string& p = **state->passphrase;
  if (p.size() > static_cast<std::size_t>(size)) return -1;
  std::copy(p.begin(), p.end(), buf);
  return static_cast<int>(p.size());
}

Result<KeyType> key_type_of(EVP_PKEY* pkey, const std::string& what) {
  const int id = EVP_PKEY_get_base_id(pkey);
  if (id == EVP_PKEY_ED25519) return KeyType::ed25519;
  if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256")) {
      return KeyType::ecdsa_p256;
    }
    return fail(Errc::config, fmt::format("{}: an EC key on curve {}: only P-256 (prime256v1) is supported", what,
                                          group[0] != '\0' ? group : "unknown"));
  }
  return fail(Errc::config, fmt::format("{}: a {} key: only ECDSA P-256 and Ed25519 keys are supported", what,
                                        OBJ_nid2sn(id) != nullptr ? OBJ_nid2sn(id) : "unknown"));
}

std::string spki_fingerprint(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return {};
  std::string out =
      "sha256:" + util::sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return out;
}

Result<std::string> sign_with(EVP_PKEY* pkey, KeyType type, std::string_view message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return fail(Errc::failure, "OpenSSL: out of memory");
  const EVP_MD* md = type == KeyType::ed25519 ? nullptr : EVP_sha256();
  std::size_t len = 0;
  std::string sig;
  bool ok =
      EVP_DigestSignInit(ctx, nullptr, md, nullptr, pkey) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail(Errc::failure, "OpenSSL: signing failed");
  return sig;
}

Result<void> verify_with(EVP_PKEY* pkey, KeyType type, std::string_view message, std::string_view sig) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return fail(Errc::failure, "OpenSSL: out of memory");
  const EVP_MD* md = type == KeyType::ed25519 ? nullptr : EVP_sha256();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, pkey) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                   reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return fail(Errc::invalid, "signature does not match");
  return {};
}

Result<std::string> raw_digest(const std::string& sha256_hex) {
  auto raw = hex_decode(sha256_hex);
  if (!raw || raw->size() != 32) return fail(Errc::invalid, "the SHA-256 is not 64 hex digits");
  return std::move(*raw);
}

}  // namespace

std::string_view to_string(KeyType type) {
  return type == KeyType::ed25519 ? "ed25519" : "ecdsa-p256";
}

std::string signature_path(const std::string& bundle_path) {
  return bundle_path + ".sig";
}
std::string statement_path(const std::string& bundle_path) {
  return bundle_path + ".intoto.jsonl";
}

Result<SigningKey> SigningKey::load(const std::string& path, const std::optional<std::string>& passphrase) {
  auto text = util::read_file(path, k_max_key_file);
  if (!text) return unexpected(text.error().context("signing key"));
  Wiped pem{std::move(*text)};
  const std::string what = "signing key " + path;
  if (pem.value.find("SIGSTORE PRIVATE KEY") != std::string::npos ||
      pem.value.find("COSIGN PRIVATE KEY") != std::string::npos) {
    return unexpected(Error(Errc::config, what + ": cosign's encrypted key format is not supported")
                          .with_hint("export it as PKCS#8 PEM (cosign import-key-pair reads PEM; openssl "
                                     "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 makes one)"));
  }
  const bool encrypted = pem.value.find("ENCRYPTED") != std::string::npos;
  if (encrypted && !passphrase) {
    return unexpected(Error(Errc::config, what + ": the key is encrypted and no passphrase was given")
                          .with_hint("put the passphrase in an environment variable and name it with "
                                     "--sign-key-pass-env VAR (kubectl ir never asks on the terminal)"));
  }
  BIO* bio = BIO_new_mem_buf(pem.value.data(), static_cast<int>(pem.value.size()));
  if (bio == nullptr) return fail(Errc::failure, "OpenSSL: out of memory");
  PassphraseState state{&passphrase};
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, passphrase_callback, &state);
  BIO_free(bio);
  if (pkey == nullptr) {
    if (encrypted) return fail(Errc::config, what + ": cannot decrypt the key (wrong passphrase?)");
    return fail(Errc::config, what + ": not a PEM private key");
  }
  auto key = std::make_shared<Key>(pkey);
  IR_TRY(type, key_type_of(pkey, what));
  return SigningKey(std::move(key), type);
}

std::string SigningKey::public_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string out;
  if (PEM_write_bio_PUBKEY(bio, m_key->pkey) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  return out;
}

std::string SigningKey::fingerprint() const {
  return spki_fingerprint(m_key->pkey);
}

Result<std::string> SigningKey::sign_digest(std::string_view digest) const {
  if (m_type != KeyType::ecdsa_p256)
    return fail(Errc::invalid, "a detached signature over a digest needs an ECDSA key");
  if (digest.size() != 32) return fail(Errc::invalid, "a SHA-256 digest is 32 bytes");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(m_key->pkey, nullptr);
  if (ctx == nullptr) return fail(Errc::failure, "OpenSSL: out of memory");
  std::size_t len = 0;
  std::string sig;
  const auto* d = reinterpret_cast<const unsigned char*>(digest.data());
  bool ok = EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_sign(ctx, nullptr, &len, d, digest.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_PKEY_sign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, d, digest.size()) == 1;
    sig.resize(len);
  }
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return fail(Errc::failure, "OpenSSL: signing failed");
  return sig;
}

Result<std::string> SigningKey::sign_message(std::string_view message) const {
  return sign_with(m_key->pkey, m_type, message);
}

Result<VerifyKey> VerifyKey::from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return fail(Errc::failure, "OpenSSL: out of memory");
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) return fail(Errc::config, "not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  auto key = std::make_shared<SigningKey::Key>(pkey);
  IR_TRY(type, key_type_of(pkey, "public key"));
  return VerifyKey(std::move(key), type);
}

Result<VerifyKey> VerifyKey::load(const std::string& path) {
  IR_TRY_CTX(text, util::read_file(path, k_max_key_file), "public key");
  auto key = from_pem(text);
  if (!key) return unexpected(key.error().context(path));
  return key;
}

VerifyKey VerifyKey::of(const SigningKey& key) {
  return VerifyKey(key.m_key, key.m_type);
}

std::string VerifyKey::fingerprint() const {
  return spki_fingerprint(m_key->pkey);
}

Result<void> VerifyKey::verify_digest(std::string_view digest, std::string_view signature) const {
  if (m_type != KeyType::ecdsa_p256) {
    return fail(Errc::invalid,
                "the key is Ed25519: detached bundle signatures are ECDSA only (the statement is checked instead)");
  }
  if (digest.size() != 32) return fail(Errc::invalid, "a SHA-256 digest is 32 bytes");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(m_key->pkey, nullptr);
  if (ctx == nullptr) return fail(Errc::failure, "OpenSSL: out of memory");
  const bool ok = EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
                  EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                  reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return fail(Errc::invalid, "signature does not match");
  return {};
}

Result<void> VerifyKey::verify_message(std::string_view message, std::string_view signature) const {
  return verify_with(m_key->pkey, m_type, message, signature);
}

std::string dsse_pae(std::string_view payload_type, std::string_view payload) {
  return fmt::format("DSSEv1 {} {} {} ", payload_type.size(), payload_type, payload.size()) + std::string(payload);
}

nlohmann::json make_statement(const SignInput& input) {
  return {
      {"_type", k_statement_type},
      {"subject", nlohmann::json::array({{{"name", input.bundle_name}, {"digest", {{"sha256", input.sha256_hex}}}}})},
      {"predicateType", k_acquisition_predicate_type},
      {"predicate", input.predicate.is_null() ? nlohmann::json::object() : input.predicate}};
}

Result<Signatures> sign_bundle(const SigningKey& key, const SignInput& input) {
  IR_TRY(digest, raw_digest(input.sha256_hex));
  Signatures out;
  if (key.type() == KeyType::ecdsa_p256) {
    IR_TRY(sig, key.sign_digest(digest));
    out.blob_signature = util::base64_encode(sig);
  }
  // Bundle and entry names may carry any bytes: replace invalid UTF-8 rather than throw.
  const std::string payload = make_statement(input).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  IR_TRY(sig, key.sign_message(dsse_pae(k_intoto_payload_type, payload)));
  // DSSE: keyid is optional; cosign leaves it empty, and some verifiers skip a signature whose
  // keyid differs from the one they expect, so it stays empty here too.
  const nlohmann::json envelope = {
      {"payloadType", k_intoto_payload_type},
      {"payload", util::base64_encode(payload)},
      {"signatures", nlohmann::json::array({{{"keyid", ""}, {"sig", util::base64_encode(sig)}}})}};
  out.envelope = envelope.dump() + "\n";
  return out;
}

Result<void> verify_blob_signature(const VerifyKey& key, const std::string& sha256_hex,
                                   std::string_view signature_file) {
  IR_TRY(digest, raw_digest(sha256_hex));
  const auto text = util::trim(signature_file);
  if (text.empty()) return fail(Errc::invalid, "the signature file is empty");
  auto der = util::base64_decode(text);
  if (!der) return fail(Errc::invalid, "the signature file is not base64");
  return key.verify_digest(digest, *der);
}

Result<VerifiedStatement> verify_envelope(const VerifyKey& key, const std::string& sha256_hex,
                                          std::string_view envelope_file) {
  if (envelope_file.size() > k_max_envelope) return fail(Errc::invalid, "the statement file is larger than 16 MiB");
  // The first non-empty line is the envelope (JSON Lines).
  std::string_view line;
  std::size_t start = 0;
  while (start < envelope_file.size()) {
    const auto end = envelope_file.find('\n', start);
    const auto candidate =
        envelope_file.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!util::trim(candidate).empty()) {
      line = candidate;
      break;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (line.empty()) return fail(Errc::invalid, "the statement file holds no envelope");
  const auto envelope = nlohmann::json::parse(line, nullptr, false);
  if (envelope.is_discarded() || !envelope.is_object()) return fail(Errc::invalid, "the envelope is not JSON");
  const auto type =
      envelope.value("payloadType", nlohmann::json()).is_string() ? envelope["payloadType"].get<std::string>() : "";
  if (type != k_intoto_payload_type) {
    return fail(Errc::invalid, fmt::format("payloadType is {}, not {}", util::quoted(type), k_intoto_payload_type));
  }
  if (!envelope.contains("payload") || !envelope["payload"].is_string())
    return fail(Errc::invalid, "the envelope has no payload");
  auto payload = util::base64_decode(envelope["payload"].get<std::string>());
  if (!payload) return fail(Errc::invalid, "the envelope's payload is not base64");
  if (!envelope.contains("signatures") || !envelope["signatures"].is_array() || envelope["signatures"].empty()) {
    return fail(Errc::invalid, "the envelope has no signature");
  }
  const std::string pae = dsse_pae(type, *payload);
  bool signed_by_key = false;
  for (const auto& s : envelope["signatures"]) {
    if (!s.is_object() || !s.contains("sig") || !s["sig"].is_string()) continue;
    auto sig = util::base64_decode(s["sig"].get<std::string>());
    if (sig && key.verify_message(pae, *sig)) {
      signed_by_key = true;
      break;
    }
  }
  if (!signed_by_key) return fail(Errc::invalid, "no signature of the envelope matches the key");
  const auto statement = nlohmann::json::parse(*payload, nullptr, false);
  if (statement.is_discarded() || !statement.is_object()) return fail(Errc::invalid, "the statement is not JSON");
  if (statement.value("_type", nlohmann::json()) != k_statement_type) {
    return fail(Errc::invalid, fmt::format("the payload is not an in-toto Statement v1 (_type {})",
                                           util::quoted(statement.value("_type", nlohmann::json()).dump())));
  }
  VerifiedStatement out;
  if (statement.contains("predicateType") && statement["predicateType"].is_string())
    out.predicate_type = statement["predicateType"];
  if (statement.contains("predicate")) out.predicate = statement["predicate"];
  if (statement.contains("subject") && statement["subject"].is_array()) {
    for (const auto& subject : statement["subject"]) {
      if (!subject.is_object() || !subject.contains("digest") || !subject["digest"].is_object()) continue;
      const auto& d = subject["digest"];
      if (d.contains("sha256") && d["sha256"].is_string() && d["sha256"].get<std::string>() == sha256_hex) {
        out.subject_sha256 = sha256_hex;
        if (subject.contains("name") && subject["name"].is_string()) out.subject_name = subject["name"];
        return out;
      }
    }
  }
  return fail(Errc::invalid, "the statement's subject is another bundle (no subject has this bundle's SHA-256)");
}

}  // namespace ir::custody
