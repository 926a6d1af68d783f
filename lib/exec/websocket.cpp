#include "exec/websocket.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::exec::ws {

namespace {
// RFC 6455 §1.3: the GUID appended to the key for Sec-WebSocket-Accept.
constexpr std::string_view k_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool contains_token(std::string_view list, std::string_view token) {
  for (const auto& part : util::split(list, ',')) {
    if (util::to_lower(util::trim(part)) == token) return true;
  }
  return false;
}
}  // namespace

std::string make_key() { return util::base64_encode(util::random_bytes(16)); }

std::string accept_for_key(std::string_view key) {
  std::string input(key);
  input += k_guid;
  return util::base64_encode(util::sha1_raw(input));
}

std::string make_upgrade_request(std::string_view host, std::string_view path_and_query, std::string_view key,
                                 const std::vector<std::string>& protocols,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string req = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {}\r\n",
      path_and_query, host, key, util::join(protocols, ", "));
  for (const auto& [name, value] : headers) req += fmt::format("{}: {}\r\n", name, value);
  req += "\r\n";
  return req;
}

std::string ResponseHead::header(std::string_view lower_name) const {
  for (const auto& [n, v] : headers)
    if (n == lower_name) return v;
  return {};
}

std::optional<std::size_t> ResponseHead::content_length() const {
  const std::string v = header("content-length");
  if (v.empty()) return std::nullopt;
  std::size_t n = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

Result<std::optional<ResponseHead>> parse_response_head(std::string_view bytes, std::size_t max_head) {
  // Garbage instead of a status line should fail as soon as it is visible, not after max_head.
  const std::string_view prefix = "HTTP/1.";
  if (bytes.substr(0, std::min(bytes.size(), prefix.size())) != prefix.substr(0, std::min(bytes.size(), prefix.size()))) {
    return fail(Errc::protocol, "the server did not answer with HTTP: " + util::escape_for_terminal(bytes, 40));
  }
  const auto end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() > max_head) return fail(Errc::protocol, fmt::format("response head larger than {} bytes", max_head));
    return std::optional<ResponseHead>{};
  }
  if (end + 4 > max_head) return fail(Errc::protocol, fmt::format("response head larger than {} bytes", max_head));
  ResponseHead head;
  head.head_size = end + 4;
  const auto lines = util::split(bytes.substr(0, end), '\n');
  const std::string_view status_line = util::trim(lines[0]);
  // "HTTP/1.1 101 Switching Protocols": the code is three digits, then a space or the end (RFC 9112
  // §4: the reason phrase may be empty).
  if (status_line.size() < 12 || status_line[8] != ' ' || (status_line.size() > 12 && status_line[12] != ' ')) {
    return fail(Errc::protocol, "malformed status line: " + util::escape_for_terminal(status_line, 80));
  }
  const auto code = status_line.substr(9, 3);
  const auto [p, ec] = std::from_chars(code.data(), code.data() + code.size(), head.status);
  if (ec != std::errc() || p != code.data() + 3 || head.status < 100 || head.status > 599) {
    return fail(Errc::protocol, "malformed status line: " + util::escape_for_terminal(status_line, 80));
  }
  head.reason = std::string(util::trim(status_line.substr(12)));
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = util::trim(lines[i]);
    if (line.empty()) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fail(Errc::protocol, "malformed header line: " + util::escape_for_terminal(line, 80));
    }
    head.headers.emplace_back(util::to_lower(util::trim(line.substr(0, colon))),
                              std::string(util::trim(line.substr(colon + 1))));
  }
  return std::optional<ResponseHead>(std::move(head));
}

Result<std::string> check_upgrade(const ResponseHead& head, std::string_view key,
                                  const std::vector<std::string>& offered) {
  if (head.status != 101) return fail(Errc::protocol, fmt::format("expected 101 Switching Protocols, got {}", head.status));
  if (util::to_lower(head.header("upgrade")) != "websocket") {
    return fail(Errc::protocol, "101 answer without \"Upgrade: websocket\"");
  }
  if (!contains_token(head.header("connection"), "upgrade")) {
    return fail(Errc::protocol, "101 answer without \"Connection: Upgrade\"");
  }
  if (head.header("sec-websocket-accept") != accept_for_key(key)) {
    return fail(Errc::protocol, "101 answer with a wrong Sec-WebSocket-Accept");
  }
  const std::string chosen = head.header("sec-websocket-protocol");
  for (const auto& p : offered) {
    if (p == chosen) return chosen;
  }
  if (chosen.empty()) return fail(Errc::protocol, "the server chose no subprotocol (offered " + util::join(offered, ", ") + ")");
  return fail(Errc::protocol, "the server chose subprotocol \"" + util::escape_for_terminal(chosen, 64) +
                                  "\" which was not offered");
}

std::string encode_client_frame(Opcode opcode, std::string_view payload, std::array<std::uint8_t, 4> mask, bool fin) {
  std::string out;
  out.reserve(payload.size() + 14);
  out += static_cast<char>((fin ? 0x80U : 0x00U) | static_cast<unsigned>(opcode));
  const std::size_t n = payload.size();
  if (n <= 125) {
    out += static_cast<char>(0x80U | n);
  } else if (n <= 0xFFFF) {
    out += static_cast<char>(0x80U | 126U);
    out += static_cast<char>((n >> 8) & 0xFFU);
    out += static_cast<char>(n & 0xFFU);
  } else {
    out += static_cast<char>(0x80U | 127U);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFFU);
  }
  for (auto b : mask) out += static_cast<char>(b);
  const std::size_t start = out.size();
  out.append(payload);
  for (std::size_t i = 0; i < n; ++i) out[start + i] = static_cast<char>(static_cast<std::uint8_t>(out[start + i]) ^ mask[i % 4]);
  return out;
}

std::string encode_client_frame(Opcode opcode, std::string_view payload) {
  const std::string r = util::random_bytes(4);
  std::array<std::uint8_t, 4> mask{};
  std::memcpy(mask.data(), r.data(), 4);
  return encode_client_frame(opcode, payload, mask);
}

void MessageParser::feed(std::string_view bytes) {
  const auto room = prepare(bytes.size());
  std::copy(bytes.begin(), bytes.end(), room.begin());
  commit(bytes.size());
}

std::span<char> MessageParser::prepare(std::size_t n) {
  if (m_offset == m_end) {
    m_offset = m_end = 0;  // everything consumed: start over at the front, nothing to move
  } else if (m_offset > 0 && m_buffer.size() - m_end < n) {
    // Not enough room behind the input: drop the consumed bytes (what moves is a partial frame).
    std::copy(m_buffer.begin() + static_cast<std::ptrdiff_t>(m_offset), m_buffer.begin() + static_cast<std::ptrdiff_t>(m_end),
              m_buffer.begin());
    m_end -= m_offset;
    m_offset = 0;
  }
  if (m_buffer.size() - m_end < n) m_buffer.resize(m_end + n);
  m_room = n;
  return {m_buffer.data() + m_end, n};
}

void MessageParser::commit(std::size_t n) {
  m_end += std::min(n, m_room);
  m_room = 0;
}

Result<std::optional<Message>> MessageParser::next() {
  if (m_failed) return fail(Errc::protocol, "WebSocket stream already failed");
  auto violation = [this](std::string msg) -> Result<std::optional<Message>> {
    m_failed = true;
    return fail(Errc::protocol, "WebSocket: " + msg);
  };
  for (;;) {
    const std::string_view buf = std::string_view(m_buffer).substr(m_offset, m_end - m_offset);
    if (buf.size() < 2) return std::optional<Message>{};
    const auto b0 = static_cast<std::uint8_t>(buf[0]);
    const auto b1 = static_cast<std::uint8_t>(buf[1]);
    const bool fin = (b0 & 0x80U) != 0;
    if ((b0 & 0x70U) != 0) return violation("reserved bits set without a negotiated extension");
    const auto op = static_cast<std::uint8_t>(b0 & 0x0FU);
    const bool is_control = (op & 0x08U) != 0;
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA) {
      return violation(fmt::format("unknown opcode 0x{:x}", op));
    }
    if ((b1 & 0x80U) != 0) return violation("masked frame from the server (RFC 6455 §5.1)");
    std::uint64_t len = b1 & 0x7FU;
    std::size_t header = 2;
    if (len == 126) {
      if (buf.size() < 4) return std::optional<Message>{};
      len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(buf[2])) << 8) | static_cast<std::uint8_t>(buf[3]);
      header = 4;
    } else if (len == 127) {
      if (buf.size() < 10) return std::optional<Message>{};
      len = 0;
      for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | static_cast<std::uint8_t>(buf[i]);
      if ((len >> 63) != 0) return violation("64-bit payload length with the most significant bit set");
      header = 10;
    }
    if (is_control && (len > 125 || !fin)) return violation("control frame longer than 125 bytes or fragmented");
    const std::uint64_t so_far = is_control ? 0 : m_fragments.size();
    if (len > m_max_message || so_far + len > m_max_message) {
      return violation(fmt::format("message larger than {} bytes", m_max_message));
    }
    if (!is_control) {
      if (op == 0x0 && !m_in_fragmented) return violation("continuation frame without a message in progress");
      if (op != 0x0 && m_in_fragmented) return violation("new data frame inside a fragmented message");
    }
    if (buf.size() < header + len) return std::optional<Message>{};
    const std::string_view payload = buf.substr(header, static_cast<std::size_t>(len));
    m_offset += header + static_cast<std::size_t>(len);

    if (is_control || (fin && !m_in_fragmented)) return std::optional<Message>(Message{static_cast<Opcode>(op), payload});
    if (!m_in_fragmented) {
      m_in_fragmented = true;
      m_fragment_opcode = static_cast<Opcode>(op);
      m_fragments.assign(payload);
    } else {
      m_fragments.append(payload);
    }
    if (fin) {
      m_in_fragmented = false;
      m_assembled = std::move(m_fragments);
      m_fragments.clear();
      return std::optional<Message>(Message{m_fragment_opcode, m_assembled});
    }
  }
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFFU);
  p.append(reason.substr(0, 123));
  return p;
}

std::uint16_t close_code(std::string_view payload) {
  if (payload.size() < 2) return 1005;
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]));
}

}  // namespace ir::exec::ws
