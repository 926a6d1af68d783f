#pragma once
// Hashing and base64 over OpenSSL.

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ir::util {

enum class DigestAlgorithm { sha256, md5 };

// Incremental digest (OpenSSL EVP). update() any number of times, then raw() or hex_digest() once.
class Digest {
 public:
  explicit Digest(DigestAlgorithm algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(std::string_view data);
  // Finishes the digest and returns its raw bytes (32 for SHA-256, 16 for MD5); no update() after.
  std::string raw();
  // Finishes the digest and returns it as lowercase hex digits; no update() after.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// Incremental SHA-256 (the digest most of the tool uses).
class Sha256 : public Digest {
 public:
  Sha256() : Digest(DigestAlgorithm::sha256) {}
};

// SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// SHA-1 of `data` as 20 raw bytes. Only for protocols that mandate it (the WebSocket handshake's
// Sec-WebSocket-Accept, RFC 6455 §4.2.2); never for evidence.
std::string sha1_raw(std::string_view data);

// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::string_view data);

// Decodes standard base64; white space (as in PEM or wrapped kubeconfig fields) is ignored.
// Fails with Errc::invalid on any other character outside the alphabet or on bad padding.
Result<std::string> base64_decode(std::string_view text);

// `n` cryptographically random bytes (OpenSSL RAND_bytes).
std::string random_bytes(std::size_t n);

}  // namespace ir::util
