#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>

#include "custody/hex.hpp"
#include "custody/sign.hpp"
#include "support/temp_dir.hpp"
#include "util/crypto.hpp"
#include "util/files.hpp"

using namespace ir;
using namespace ir::custody;

namespace {

// Writes a new private key as PEM (PKCS#8; encrypted with `passphrase` when given).
std::string write_key(const testing::TempDir& dir, const std::string& name, const char* type,
                      const char* passphrase = nullptr) {
  const std::string_view t(type);
  EVP_PKEY* pkey = t == "EC"    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                   : t == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048))
                                : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  REQUIRE(pkey != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  if (passphrase != nullptr) {
    PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), nullptr, 0, nullptr, const_cast<char*>(passphrase));
  } else {
    PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string path = dir.file(name);
  REQUIRE(util::write_file_atomic(path, std::string(data, static_cast<std::size_t>(n)), 0600));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return path;
}

SignInput input_for(const std::string& data) {
  return SignInput{"case.tar.gz", util::sha256_hex(data), {{"case", "case-1"}, {"examiner", "alice"}}};
}

}  // namespace

TEST_CASE("sign_bundle with ECDSA P-256: a blob signature and a DSSE envelope, both verifiable") {
  testing::TempDir dir;
  auto key = SigningKey::load(write_key(dir, "ec.pem", "EC"), std::nullopt);
  REQUIRE(key);
  CHECK(key->type() == KeyType::ecdsa_p256);
  CHECK(key->fingerprint().rfind("sha256:", 0) == 0);
  const auto input = input_for("bundle bytes");
  auto sigs = sign_bundle(*key, input);
  REQUIRE(sigs);
  CHECK_FALSE(sigs->blob_signature.empty());
  CHECK(sigs->envelope.back() == '\n');
  auto pub = VerifyKey::from_pem(key->public_pem());
  REQUIRE(pub);
  CHECK(pub->fingerprint() == key->fingerprint());

  SUBCASE("the blob signature is ECDSA over SHA-256 of the bytes, as EVP_DigestVerify checks it") {
    CHECK(verify_blob_signature(*pub, input.sha256_hex, sigs->blob_signature + "\n"));
    auto der = util::base64_decode(sigs->blob_signature);
    REQUIRE(der);
    CHECK(pub->verify_message("bundle bytes", *der));  // the message itself, hashed by OpenSSL
    auto other = verify_blob_signature(*pub, util::sha256_hex("other bytes"), sigs->blob_signature);
    REQUIRE_FALSE(other);
    CHECK(other.error().message == "signature does not match");
    CHECK_FALSE(verify_blob_signature(*pub, input.sha256_hex, "not base64!"));
  }
  SUBCASE("the envelope holds the statement, signed over the PAE") {
    auto statement = verify_envelope(*pub, input.sha256_hex, sigs->envelope);
    REQUIRE(statement);
    CHECK(statement->subject_name == "case.tar.gz");
    CHECK(statement->predicate_type == k_acquisition_predicate_type);
    CHECK(statement->predicate["examiner"] == "alice");
    const auto env = nlohmann::json::parse(sigs->envelope);
    CHECK(env["payloadType"] == "application/vnd.in-toto+json");
    const auto payload = util::base64_decode(env["payload"].get<std::string>());
    REQUIRE(payload);
    const auto sig = util::base64_decode(env["signatures"][0]["sig"].get<std::string>());
    REQUIRE(sig);
    CHECK(pub->verify_message(dsse_pae("application/vnd.in-toto+json", *payload), *sig));
    CHECK_FALSE(pub->verify_message(*payload, *sig));  // not over the bare payload
  }
  SUBCASE("another bundle's digest or a changed envelope fails, naming why") {
    auto other = verify_envelope(*pub, util::sha256_hex("x"), sigs->envelope);
    REQUIRE_FALSE(other);
    CHECK(other.error().message.find("another bundle") != std::string::npos);
    auto env = nlohmann::json::parse(sigs->envelope);
    env["payloadType"] = "text/plain";
    auto bad = verify_envelope(*pub, input.sha256_hex, env.dump());
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("payloadType") != std::string::npos);
    env = nlohmann::json::parse(sigs->envelope);
    auto statement = nlohmann::json::parse(*util::base64_decode(env["payload"].get<std::string>()));
    statement["predicate"]["examiner"] = "mallory";
    env["payload"] = util::base64_encode(statement.dump());
    auto forged = verify_envelope(*pub, input.sha256_hex, env.dump());
    REQUIRE_FALSE(forged);
    CHECK(forged.error().message == "no signature of the envelope matches the key");
  }
  SUBCASE("another key fails") {
    auto other_key = SigningKey::load(write_key(dir, "other.pem", "EC"), std::nullopt);
    REQUIRE(other_key);
    const auto other_pub = VerifyKey::of(*other_key);
    CHECK_FALSE(verify_blob_signature(other_pub, input.sha256_hex, sigs->blob_signature));
    CHECK_FALSE(verify_envelope(other_pub, input.sha256_hex, sigs->envelope));
  }
}

TEST_CASE("sign_bundle with Ed25519 signs the statement only") {
  testing::TempDir dir;
  auto key = SigningKey::load(write_key(dir, "ed.pem", "ED25519"), std::nullopt);
  REQUIRE(key);
  CHECK(key->type() == KeyType::ed25519);
  const auto input = input_for("bundle");
  auto sigs = sign_bundle(*key, input);
  REQUIRE(sigs);
  CHECK(sigs->blob_signature.empty());
  const auto pub = VerifyKey::of(*key);
  CHECK(verify_envelope(pub, input.sha256_hex, sigs->envelope));
  auto blob = verify_blob_signature(pub, input.sha256_hex, "AAAA");
  REQUIRE_FALSE(blob);
  CHECK(blob.error().message.find("ECDSA only") != std::string::npos);
  CHECK_FALSE(key->sign_digest(std::string(32, 'x')));
}

TEST_CASE("SigningKey::load: encrypted keys, wrong types, garbage") {
  testing::TempDir dir;
  const auto encrypted = write_key(dir, "enc.pem", "EC", "s3cret-pass");
  auto no_pass = SigningKey::load(encrypted, std::nullopt);
  REQUIRE_FALSE(no_pass);
  CHECK(no_pass.error().code == Errc::config);
  CHECK(no_pass.error().hint.find("--sign-key-pass-env") != std::string::npos);
  auto wrong = SigningKey::load(encrypted, std::string("nope"));
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().message.find("wrong passphrase") != std::string::npos);
  CHECK(SigningKey::load(encrypted, std::string("s3cret-pass")));

  auto rsa = SigningKey::load(write_key(dir, "rsa.pem", "RSA"), std::nullopt);
  REQUIRE_FALSE(rsa);
  CHECK(rsa.error().message.find("only ECDSA P-256 and Ed25519") != std::string::npos);

  REQUIRE(
      util::write_file_atomic(dir.file("junk.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  auto junk = SigningKey::load(dir.file("junk.pem"), std::nullopt);
  REQUIRE_FALSE(junk);
  CHECK(junk.error().message.find("AAAA") == std::string::npos);  // never echoes the file

  REQUIRE(util::write_file_atomic(dir.file("cosign.key"), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nx\n"));
  auto cosign = SigningKey::load(dir.file("cosign.key"), std::nullopt);
  REQUIRE_FALSE(cosign);
  CHECK(cosign.error().message.find("cosign's encrypted key format") != std::string::npos);
  CHECK_FALSE(SigningKey::load(dir.file("missing.pem"), std::nullopt));
}

TEST_CASE("dsse_pae is DSSE v1's encoding") {
  CHECK(dsse_pae("http://example.com/HelloWorld", "hello world") ==
        "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST_CASE("hex_encode / hex_decode") {
  CHECK(hex_encode(std::string("\x00\xff\x10", 3)) == "00ff10");
  CHECK(*hex_decode("00FF10") == std::string("\x00\xff\x10", 3));
  CHECK_FALSE(hex_decode("abc"));
  CHECK_FALSE(hex_decode("zz"));
}
