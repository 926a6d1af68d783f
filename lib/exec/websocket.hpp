#pragma once
// RFC 6455 WebSocket, client side, as a pure byte-level unit: the opening handshake (request and
// response check) and framing (encode masked client frames, parse server frames into messages).
// No I/O here: the exec session feeds it bytes. The server is untrusted: every length is bounded and
// every protocol violation is an error, never a crash or unbounded buffering.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ir::exec::ws {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// ---- handshake (RFC 6455 §4.1, §4.2.2) ----

// A fresh Sec-WebSocket-Key: base64 of 16 random bytes.
std::string make_key();

// The Sec-WebSocket-Accept a server must answer for `key`: base64(SHA-1(key + GUID)).
std::string accept_for_key(std::string_view key);

// The HTTP/1.1 upgrade request for `path_and_query` on `host` ("host:port"), offering
// `protocols` in order of preference, with extra headers (Authorization, Impersonate-*).
std::string make_upgrade_request(std::string_view host, std::string_view path_and_query, std::string_view key,
                                 const std::vector<std::string>& protocols,
                                 const std::vector<std::pair<std::string, std::string>>& headers);

// The parsed response head (status line and headers, names lower-cased).
struct ResponseHead {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t head_size = 0;  // bytes up to and including the blank line

  [[nodiscard]] std::string header(std::string_view lower_name) const;
  // Content-Length, if present and valid.
  [[nodiscard]] std::optional<std::size_t> content_length() const;
};

// Parses the response head from the start of `bytes`. nullopt: incomplete, more bytes needed.
// Errors (Errc::protocol) for anything that is not an HTTP/1.x response head, or a head larger
// than `max_head` bytes.
Result<std::optional<ResponseHead>> parse_response_head(std::string_view bytes, std::size_t max_head = 64 * 1024);

// Checks a 101 answer against our request: Upgrade: websocket, Connection: upgrade, the accept
// value for `key`, and a subprotocol among `offered`. Returns the chosen subprotocol.
Result<std::string> check_upgrade(const ResponseHead& head, std::string_view key,
                                  const std::vector<std::string>& offered);

// ---- framing (RFC 6455 §5) ----

// One client frame: FIN set (unless `fin` is false), masked with `mask` as clients must (§5.3).
std::string encode_client_frame(Opcode opcode, std::string_view payload, std::array<std::uint8_t, 4> mask,
                                bool fin = true);
// As above with a random mask.
std::string encode_client_frame(Opcode opcode, std::string_view payload);

// A complete message: a data message (fragments reassembled) or a control frame. `payload` views
// the parser's buffer (no copy on the hot path): valid until the next feed(), prepare() or next()
// call.
struct Message {
  Opcode opcode = Opcode::binary;  // text, binary, close, ping or pong
  std::string_view payload;
};

// Incremental parser for server-to-client frames. Feed it bytes as they arrive; take messages.
// Violations fail with Errc::protocol and leave the parser failed: masked server frames, reserved
// bits, unknown opcodes, control frames over 125 bytes or fragmented, a 64-bit length with its top
// bit set, a continuation with no message started, a new data frame inside a fragmented message,
// or a message over `max_message` bytes (checked from the header, before buffering the payload).
class MessageParser {
 public:
  explicit MessageParser(std::size_t max_message = 4 * 1024 * 1024) : m_max_message(max_message) {}

  // Appends received bytes (a copy: prepare() and commit() receive without one).
  void feed(std::string_view bytes);
  // Room for `n` more bytes at the end of the buffer, for the caller to receive into and then
  // commit(): the hot path copies nothing between the socket and the messages. The buffer holds
  // at most the unconsumed bytes plus `n` (consumed bytes are dropped first).
  std::span<char> prepare(std::size_t n);
  // Makes the first `n` bytes of the last prepare()'s room part of the input (n <= its size).
  void commit(std::size_t n);
  // The next complete message, nullopt if more bytes are needed.
  Result<std::optional<Message>> next();
  // Bytes fed but not yet consumed (a partial frame).
  [[nodiscard]] std::size_t buffered() const { return m_end - m_offset; }
  // Bytes of memory the input buffer holds (input and room).
  [[nodiscard]] std::size_t capacity() const { return m_buffer.size(); }

 private:
  std::size_t m_max_message;
  std::string m_buffer;    // [m_offset, m_end) is input not yet consumed; the rest is room
  std::size_t m_offset = 0;
  std::size_t m_end = 0;
  std::size_t m_room = 0;  // what the last prepare() handed out
  bool m_failed = false;
  bool m_in_fragmented = false;
  Opcode m_fragment_opcode = Opcode::binary;
  std::string m_fragments;
  std::string m_assembled;  // the last reassembled fragmented message (what its view points at)
};

// Close frame payload helpers (§5.5.1): status code + UTF-8 reason.
std::string close_payload(std::uint16_t code, std::string_view reason);
// The status code in a close payload (1005 "no status" if absent).
std::uint16_t close_code(std::string_view payload);

}  // namespace ir::exec::ws
