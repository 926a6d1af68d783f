#pragma once
// A scripted server for exec tests: answers the WebSocket upgrade and then plays server frames.

#include <deque>
#include <functional>
#include <string>

#include "exec/websocket.hpp"
#include "kube/connection.hpp"

namespace ir::testing {

// An unmasked server frame (RFC 6455 §5.2) with arbitrary header bits, for building hostile input.
inline std::string server_frame(std::uint8_t first_byte, std::string_view payload, bool masked = false) {
  std::string f;
  f += static_cast<char>(first_byte);
  const std::size_t n = payload.size();
  const auto mask_bit = static_cast<std::uint8_t>(masked ? 0x80U : 0U);
  if (n <= 125) {
    f += static_cast<char>(mask_bit | n);
  } else if (n <= 0xFFFF) {
    f += static_cast<char>(mask_bit | 126U);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xFFU);
  } else {
    f += static_cast<char>(mask_bit | 127U);
    for (int s = 56; s >= 0; s -= 8) f += static_cast<char>((static_cast<std::uint64_t>(n) >> s) & 0xFFU);
  }
  if (masked) f += std::string(4, '\0');
  f.append(payload);
  return f;
}
// A binary message on a k8s channel.
inline std::string channel_frame(unsigned char channel, std::string_view data) {
  std::string p(1, static_cast<char>(channel));
  p.append(data);
  return server_frame(0x82, p);
}

class ScriptedConnection final : public kube::Connection {
 public:
  // Each step produces bytes given what the client sent so far; "" with eof_after ends the stream.
  using Step = std::function<std::string(const std::string& sent)>;
  std::deque<Step> steps;
  bool eof_at_end = true;   // after the last step: EOF (else: nothing more, ever)
  bool reset_at_end = false;
  std::string sent;

  Result<void> send_all(std::string_view data) override {
    sent.append(data);
    return {};
  }
  Result<Received> receive(char* buffer, std::size_t capacity, std::chrono::milliseconds) override {
    if (m_pending.empty()) {
      if (steps.empty()) {
        if (reset_at_end) return fail(Errc::network, "receive: Connection reset by peer");
        return Received{0, eof_at_end};
      }
      m_pending = steps.front()(sent);
      steps.pop_front();
    }
    const std::size_t n = std::min(capacity, m_pending.size());
    m_pending.copy(buffer, n);
    m_pending.erase(0, n);
    return Received{n, false};
  }

  // The key the client sent in its upgrade request.
  static std::string key_of(const std::string& sent) {
    const auto p = sent.find("Sec-WebSocket-Key: ");
    return sent.substr(p + 19, sent.find("\r\n", p) - p - 19);
  }
  // A step answering 101 with the right accept value and `protocol`.
  static Step switching(const std::string& protocol) {
    return [protocol](const std::string& s) {
      return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
             exec::ws::accept_for_key(key_of(s)) + "\r\nSec-WebSocket-Protocol: " + protocol + "\r\n\r\n";
    };
  }
  static Step bytes(std::string b) {
    return [b](const std::string&) { return b; };
  }

 private:
  std::string m_pending;
};

// A connection the code under test may own and destroy while the test keeps the scripted one.
class ForwardingConnection final : public kube::Connection {
 public:
  explicit ForwardingConnection(ScriptedConnection& target) : m_target(target) {}
  Result<void> send_all(std::string_view data) override { return m_target.send_all(data); }
  Result<Received> receive(char* buffer, std::size_t capacity, std::chrono::milliseconds wait) override {
    return m_target.receive(buffer, capacity, wait);
  }

 private:
  ScriptedConnection& m_target;
};

// Hands out scripted connections. It keeps them alive (the code under test gets a forwarder it
// may destroy), so tests can inspect what was sent after the call returns.
class ScriptedConnector final : public kube::Connector {
 public:
  std::deque<std::unique_ptr<ScriptedConnection>> connections;  // queued, not yet connected
  std::vector<std::string> urls;
  ScriptedConnection* last = nullptr;

  Result<std::unique_ptr<kube::Connection>> connect(const std::string& url, const kube::Credentials&) override {
    urls.push_back(url);
    if (connections.empty()) return fail(Errc::network, "no scripted connection");
    m_used.push_back(std::move(connections.front()));
    connections.pop_front();
    last = m_used.back().get();
    return std::unique_ptr<kube::Connection>(std::make_unique<ForwardingConnection>(*last));
  }

 private:
  std::vector<std::unique_ptr<ScriptedConnection>> m_used;
};

}  // namespace ir::testing
