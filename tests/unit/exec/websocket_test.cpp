#include <doctest/doctest.h>

#include "exec/websocket.hpp"
#include "support/fake_connection.hpp"

using namespace ir;
using namespace ir::exec::ws;
using ir::testing::server_frame;

TEST_CASE("accept_for_key: the RFC 6455 §1.3 example") {
  CHECK(accept_for_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(make_key().size() == 24);
  CHECK(make_key() != make_key());
}

TEST_CASE("make_upgrade_request") {
  const auto r = make_upgrade_request("10.0.0.1:6443", "/api/v1/namespaces/shop/pods/web/exec?command=ps", "KEY",
                                      {"v5.channel.k8s.io", "v4.channel.k8s.io"}, {{"Authorization", "Bearer t"}});
  CHECK(r ==
        "GET /api/v1/namespaces/shop/pods/web/exec?command=ps HTTP/1.1\r\nHost: 10.0.0.1:6443\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\nAuthorization: Bearer t\r\n\r\n");
}

TEST_CASE("parse_response_head and check_upgrade") {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::vector<std::string> offered{"v5.channel.k8s.io", "v4.channel.k8s.io"};
  const std::string good =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n\x82\x01\x01";
  auto head = parse_response_head(good);
  REQUIRE(head);
  REQUIRE(head->has_value());
  CHECK((*head)->status == 101);
  CHECK((*head)->head_size == good.size() - 3);
  auto proto = check_upgrade(**head, key, offered);
  REQUIRE(proto);
  CHECK(*proto == "v4.channel.k8s.io");

  SUBCASE("incomplete head needs more bytes") {
    auto partial = parse_response_head("HTTP/1.1 101 Switching");
    REQUIRE(partial);
    CHECK_FALSE(partial->has_value());
  }
  SUBCASE("bad answers") {
    struct Case {
      std::string head;
      const char* error;
    };
    const Case cases[] = {
        {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong=\r\n"
         "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
         "wrong Sec-WebSocket-Accept"},
        {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
         "Sec-WebSocket-Protocol: v3.channel.k8s.io\r\n\r\n",
         "was not offered"},
        {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
         "chose no subprotocol"},
        {"HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "Upgrade: websocket"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.head);
      auto h = parse_response_head(c.head);
      REQUIRE(h);
      REQUIRE(h->has_value());
      auto p = check_upgrade(**h, key, offered);
      REQUIRE_FALSE(p);
      CHECK(p.error().message.find(c.error) != std::string::npos);
    }
  }
  SUBCASE("garbage before the 101 fails at once") {
    auto g = parse_response_head("\x16\x03\x01garbage");
    REQUIRE_FALSE(g);
    CHECK(g.error().code == Errc::protocol);
    auto g2 = parse_response_head("SSH-2.0-OpenSSH\r\n\r\n");
    REQUIRE_FALSE(g2);
  }
  SUBCASE("a status code is exactly three digits") {
    for (const char* line : {"HTTP/1.1 1010 Switching Protocols\r\n\r\n", "HTTP/1.1 101x\r\n\r\n",
                             "HTTP/1.1 10 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n"}) {
      CAPTURE(line);
      auto h = parse_response_head(line);
      REQUIRE_FALSE(h);
      CHECK(h.error().message.find("malformed status line") != std::string::npos);
    }
    auto bare = parse_response_head("HTTP/1.1 101\r\nUpgrade: websocket\r\n\r\n");  // no reason phrase
    REQUIRE(bare);
    REQUIRE(bare->has_value());
    CHECK((*bare)->status == 101);
  }
  SUBCASE("an endless head is bounded") {
    auto big = parse_response_head("HTTP/1.1 101 OK\r\nX: " + std::string(70000, 'a'));
    REQUIRE_FALSE(big);
    CHECK(big.error().message.find("larger than") != std::string::npos);
  }
  SUBCASE("a refusal with a Status body") {
    auto h = parse_response_head("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n");
    REQUIRE(h);
    REQUIRE(h->has_value());
    CHECK((*h)->status == 400);
    CHECK((*h)->content_length() == 12);
  }
}

TEST_CASE("encode_client_frame: masked, 7/16/64-bit lengths") {
  const std::array<std::uint8_t, 4> mask{0x37, 0xfa, 0x21, 0x3d};
  // RFC 6455 §5.7: a single-frame masked text message "Hello"
  CHECK(encode_client_frame(Opcode::text, "Hello", mask) == std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
  const auto f126 = encode_client_frame(Opcode::binary, std::string(300, 'x'), mask);
  CHECK(static_cast<unsigned char>(f126[1]) == (0x80 | 126));
  CHECK(f126.size() == 2 + 2 + 4 + 300);
  CHECK(static_cast<unsigned char>(f126[2]) == 1);
  CHECK(static_cast<unsigned char>(f126[3]) == 44);
  const auto f127 = encode_client_frame(Opcode::binary, std::string(70000, 'x'), mask);
  CHECK(static_cast<unsigned char>(f127[1]) == (0x80 | 127));
  CHECK(f127.size() == 2 + 8 + 4 + 70000);
  const auto non_fin = encode_client_frame(Opcode::binary, "a", mask, false);
  CHECK(static_cast<unsigned char>(non_fin[0]) == 0x02);
}

namespace {
Result<std::optional<Message>> parse_one(const std::string& bytes, std::size_t max = 1 << 20) {
  MessageParser p(max);
  p.feed(bytes);
  return p.next();
}
}  // namespace

TEST_CASE("MessageParser: valid frames") {
  SUBCASE("7, 16 and 64-bit lengths") {
    for (const std::size_t n : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{65535},
                                std::size_t{65536}, std::size_t{200000}}) {
      CAPTURE(n);
      auto m = parse_one(server_frame(0x82, std::string(n, 'z')));
      REQUIRE(m);
      REQUIRE(m->has_value());
      CHECK((*m)->opcode == Opcode::binary);
      CHECK((*m)->payload.size() == n);
    }
  }
  SUBCASE("byte by byte") {
    MessageParser p;
    const auto f = server_frame(0x82, std::string(300, 'q')) + server_frame(0x89, "pp");
    std::vector<std::pair<Opcode, std::string>> got;  // copies: views die with the next feed()
    for (const char c : f) {
      p.feed(std::string_view(&c, 1));
      for (;;) {
        auto m = p.next();
        REQUIRE(m);
        if (!m->has_value()) break;
        got.emplace_back((*m)->opcode, std::string((*m)->payload));
      }
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0].second == std::string(300, 'q'));
    CHECK(got[1].first == Opcode::ping);
    CHECK(p.buffered() == 0);
  }
  SUBCASE("received in place with prepare and commit, in pieces that cut frames anywhere") {
    // What the exec session does: receive into the parser's own buffer, then take the messages.
    MessageParser p;
    std::string stream;
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < 200; ++i) {
      sent.push_back(std::string(i * 37 % 70000, static_cast<char>('a' + i % 26)));
      stream += server_frame(0x82, sent.back());
    }
    std::vector<std::string> got;
    std::size_t peak = 0;
    for (std::size_t off = 0, step = 1; off < stream.size(); off += step, step = step * 7 % 100003 + 1) {
      const std::size_t n = std::min(step, stream.size() - off);
      const auto room = p.prepare(65536);
      REQUIRE(room.size() == 65536);
      const std::size_t take = std::min(n, room.size());
      std::copy_n(stream.data() + off, take, room.data());
      p.commit(take);
      step = take;
      peak = std::max(peak, p.capacity());
      for (;;) {
        auto m = p.next();
        REQUIRE(m);
        if (!m->has_value()) break;
        got.emplace_back((*m)->payload);
      }
    }
    CHECK(got == sent);
    CHECK(p.buffered() == 0);
    CHECK(peak <= 70000 + 14 + 65536);  // memory: at most one partial frame and one receive
  }
  SUBCASE("commit takes at most what prepare handed out") {
    MessageParser p;
    const auto f = server_frame(0x82, "abc");
    auto room = p.prepare(f.size());
    std::copy(f.begin(), f.end(), room.begin());
    p.commit(f.size() + 100);
    CHECK(p.buffered() == f.size());
    auto m = p.next();
    REQUIRE(m);
    REQUIRE(m->has_value());
    CHECK((*m)->payload == "abc");
  }
  SUBCASE("fragmented message with a ping in between") {
    MessageParser p;
    p.feed(server_frame(0x02, "ab") + server_frame(0x89, "x") + server_frame(0x00, "cd") + server_frame(0x80, "ef"));
    auto ping = p.next();
    REQUIRE(ping);
    REQUIRE(ping->has_value());
    CHECK((*ping)->opcode == Opcode::ping);
    auto msg = p.next();
    REQUIRE(msg);
    REQUIRE(msg->has_value());
    CHECK((*msg)->opcode == Opcode::binary);
    CHECK((*msg)->payload == "abcdef");
  }
}

TEST_CASE("MessageParser: hostile frames are errors") {
  struct Case {
    const char* name;
    std::string bytes;
    const char* error;
  };
  std::string huge_len = "\x82\x7f";
  huge_len += std::string("\x80\x00\x00\x00\x00\x00\x00\x01", 8);
  std::string over_limit = "\x82\x7f";
  over_limit += std::string("\x00\x00\x00\x01\x00\x00\x00\x00", 8);  // 4 GiB, header only
  const Case cases[] = {
      {"masked server frame", server_frame(0x82, "abc", true), "masked frame"},
      {"RSV1", server_frame(0xC2, "abc"), "reserved bits"},
      {"RSV3", server_frame(0x92, "abc"), "reserved bits"},
      {"opcode 3", server_frame(0x83, "abc"), "unknown opcode 0x3"},
      {"opcode 0xB", server_frame(0x8B, ""), "unknown opcode 0xb"},
      {"64-bit length MSB", huge_len, "most significant bit"},
      {"message over the limit (from the header alone)", over_limit, "larger than"},
      {"control frame over 125", server_frame(0x89, std::string(126, 'p')), "control frame"},
      {"fragmented control frame", server_frame(0x09, "p"), "control frame"},
      {"continuation without start", server_frame(0x80, "x"), "continuation frame"},
      {"data inside fragmented", server_frame(0x02, "a") + server_frame(0x82, "b"), "new data frame"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    MessageParser p(1 << 20);
    p.feed(c.bytes);
    Result<std::optional<Message>> r = p.next();
    while (r && r->has_value()) r = p.next();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::protocol);
    CHECK(r.error().message.find(c.error) != std::string::npos);
    CHECK_FALSE(p.next());  // stays failed
  }
  SUBCASE("fragments adding up over the limit") {
    MessageParser p(10);
    p.feed(server_frame(0x02, "123456") + server_frame(0x80, "789012"));
    auto r = p.next();
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("larger than 10 bytes") != std::string::npos);
  }
}

TEST_CASE("close payload") {
  CHECK(close_code(close_payload(1000, "bye")) == 1000);
  CHECK(close_code("") == 1005);
}
