#pragma once
// Hashing and base64 over OpenSSL.

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ir::util {

// Incremental SHA-256. update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data);
  // Finishes the hash and returns 64 lowercase hex digits; the object must not be updated after.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
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
