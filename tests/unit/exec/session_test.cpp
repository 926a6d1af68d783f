#include <doctest/doctest.h>

#include <thread>

#include "exec/session.hpp"
#include "support/fake_connection.hpp"
#include "support/fake_kube.hpp"

using namespace ir;
using namespace ir::exec;
using ir::testing::channel_frame;
using ir::testing::ScriptedConnection;
using ir::testing::server_frame;

namespace {

const std::string k_success = R"({"metadata":{},"status":"Success"})";
const std::string k_exit3 =
    R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}})";
const std::string k_not_found =
    R"({"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"43d9\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown","reason":"InternalError","details":{"causes":[{"message":"..."}]},"code":500})";

struct Fixture {
  testing::ClientFixture kube;
  testing::ScriptedConnector connector;
  util::MemorySink out{1 << 20};
  util::MemorySink err{1 << 20};
  ExecRequest request{"shop", "web-1", "app", {"sh", "-c", "echo hi"}};

  // The next connection, with nothing scripted yet.
  ScriptedConnection& connection() {
    connector.connections.push_back(std::make_unique<ScriptedConnection>());
    return *connector.connections.back();
  }
  // The next connection, upgraded to `protocol`.
  ScriptedConnection& script(const std::string& protocol = k_protocol_v4) {
    auto& c = connection();
    c.steps.push_back(ScriptedConnection::switching(protocol));
    return c;
  }
  Result<ExecResult> run(const ExecLimits& limits = {}, std::string_view stdin_data = {}) {
    return run_exec(kube.client, connector, request, out, err, stdin_data, limits);
  }
};

// The first byte (FIN + opcode) of the first frame the client sent after its upgrade request;
// 0 if it sent none.
unsigned first_opcode_sent_after_upgrade(const std::string& sent) {
  const auto head_end = sent.find("\r\n\r\n");
  if (head_end == std::string::npos || head_end + 4 >= sent.size()) return 0;
  return static_cast<unsigned char>(sent[head_end + 4]);
}

}  // namespace

TEST_CASE("run_exec: output, stderr separation and exit codes") {
  Fixture f;
  auto& c = f.script();
  c.steps.push_back(ScriptedConnection::bytes(server_frame(0x82, "") + channel_frame(1, "") + channel_frame(2, "err\n") +
                                              channel_frame(1, "hi\n") + channel_frame(3, k_exit3)));
  auto r = f.run();
  REQUIRE(r);
  CHECK(r->completed());
  CHECK(r->exit_code == 3);
  CHECK(r->protocol == "v4.channel.k8s.io");
  CHECK(f.out.data() == "hi\n");
  CHECK(f.err.data() == "err\n");
  CHECK(r->out.received == 3);
  CHECK_FALSE(r->out.truncated());
  CHECK(r->status_message.find("exit code 3") != std::string::npos);
  // The request: one command parameter per argv element, offered v5 then v4.
  CHECK(f.connector.urls[0] ==
        "https://127.0.0.1:6443/api/v1/namespaces/shop/pods/web-1/exec?command=sh&command=-c&command=echo%20hi"
        "&container=app&stdin=false&stdout=true&stderr=true&tty=false");
  CHECK(c.sent.find("Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n") != std::string::npos);
  CHECK(c.sent.find("Authorization: Bearer token-0\r\n") != std::string::npos);
}

TEST_CASE("run_exec: success on v5, frames split anywhere") {
  Fixture f;
  auto& c = f.script(k_protocol_v5);
  const std::string all = channel_frame(1, std::string(100000, 'o')) + channel_frame(3, k_success);
  for (std::size_t i = 0; i < all.size(); i += 777) c.steps.push_back(ScriptedConnection::bytes(all.substr(i, 777)));
  auto r = f.run();
  REQUIRE(r);
  CHECK(r->completed());
  CHECK(r->exit_code == 0);
  CHECK(f.out.data().size() == 100000);
}

TEST_CASE("run_exec: ping is answered with pong") {
  Fixture f;
  auto& c = f.script();
  c.steps.push_back(ScriptedConnection::bytes(server_frame(0x89, "hb") + channel_frame(3, k_success)));
  REQUIRE(f.run());
  // A masked pong (0x8A) with the same 2-byte payload follows the upgrade request.
  const auto pos = c.sent.find("\r\n\r\n") + 4;
  REQUIRE(c.sent.size() > pos + 8);
  CHECK(static_cast<unsigned char>(c.sent[pos]) == 0x8A);
  CHECK(static_cast<unsigned char>(c.sent[pos + 1]) == (0x80 | 2));
}

TEST_CASE("run_exec: a missing binary is its own error kind") {
  Fixture f;
  auto& c = f.script();
  c.steps.push_back(ScriptedConnection::bytes(channel_frame(1, "") + channel_frame(3, k_not_found)));
  auto r = f.run();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::exec_not_found);
  CHECK(r.error().message.rfind("exec in shop/web-1 container app: Internal error occurred", 0) == 0);
}

TEST_CASE("run_exec: refused upgrades surface the Status") {
  SUBCASE("unknown container: 400 with a Status body") {
    Fixture f;
    auto c = std::make_unique<ScriptedConnection>();
    const std::string body =
        R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"container nope is not valid for pod bb","reason":"BadRequest","code":400})";
    c->steps.push_back(ScriptedConnection::bytes("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                                                 std::to_string(body.size()) + "\r\n\r\n" + body));
    c->eof_at_end = false;  // the body length ends it, not EOF
    f.connector.connections.push_back(std::move(c));
    auto r = f.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid);
    CHECK(r.error().message == "exec in shop/web-1 container app: container nope is not valid for pod bb");
  }
  SUBCASE("v5 only to an old server: empty 403 with a hint") {
    Fixture f;
    auto c = std::make_unique<ScriptedConnection>();
    c->steps.push_back(ScriptedConnection::bytes("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n"));
    f.connector.connections.push_back(std::move(c));
    auto r = f.run({}, "some stdin");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::forbidden);
    CHECK(r.error().hint.find("Kubernetes 1.30") != std::string::npos);
    CHECK(f.connector.last->sent.find("Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n") != std::string::npos);
  }
  SUBCASE("401 is retried once with refreshed credentials") {
    Fixture f;
    auto c = std::make_unique<ScriptedConnection>();
    c->steps.push_back(ScriptedConnection::bytes("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"));
    c->eof_at_end = false;
    f.connector.connections.push_back(std::move(c));
    auto& second = f.script();
    second.steps.push_back(ScriptedConnection::bytes(channel_frame(3, k_success)));
    auto r = f.run();
    REQUIRE(r);
    CHECK(f.kube.credentials.refreshes == 1);
    CHECK(second.sent.find("Bearer token-1") != std::string::npos);
  }
  SUBCASE("garbage instead of an HTTP answer") {
    Fixture f;
    auto c = std::make_unique<ScriptedConnection>();
    c->steps.push_back(ScriptedConnection::bytes("\x15\x03\x03garbage"));
    f.connector.connections.push_back(std::move(c));
    auto r = f.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::protocol);
  }
}

TEST_CASE("run_exec: stdin on v5 with half-close") {
  Fixture f;
  auto& c = f.script(k_protocol_v5);
  c.steps.push_back(ScriptedConnection::bytes(channel_frame(3, k_success)));
  REQUIRE(f.run({}, "data"));
  CHECK(f.connector.urls[0].find("stdin=true") != std::string::npos);
  // After the upgrade request: a masked frame [0,'d','a','t','a'] then [255, 0].
  const auto pos = c.sent.find("\r\n\r\n") + 4;
  CHECK(static_cast<unsigned char>(c.sent[pos]) == 0x82);
  CHECK(static_cast<unsigned char>(c.sent[pos + 1]) == (0x80 | 5));
  const auto second = pos + 2 + 4 + 5;
  CHECK(static_cast<unsigned char>(c.sent[second + 1]) == (0x80 | 2));
  const std::array<unsigned char, 2> plain{255, 0};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto m = static_cast<unsigned char>(c.sent[second + 2 + i]);
    CHECK((static_cast<unsigned char>(c.sent[second + 6 + i]) ^ m) == plain[i]);
  }
}

TEST_CASE("run_exec: limits and cuts are recorded, not errors") {
  SUBCASE("the stdout and stderr limits truncate and stop") {
    for (const bool is_out : {true, false}) {
      CAPTURE(is_out);
      const unsigned char channel = is_out ? 1 : 2;
      Fixture f;
      auto& c = f.script();
      c.eof_at_end = false;  // endless output (`yes`, `yes >&2`): the server never ends on its own
      c.steps.push_back(ScriptedConnection::bytes(channel_frame(is_out ? 2 : 1, "other\n")));
      const std::string chunk = channel_frame(channel, std::string(1000, 'y'));
      for (int i = 0; i < 10; ++i) c.steps.push_back(ScriptedConnection::bytes(chunk));
      ExecLimits limits;
      (is_out ? limits.max_stdout : limits.max_stderr) = 2500;
      auto r = f.run(limits);
      REQUIRE(r);
      const StreamStats& limited = is_out ? r->out : r->err;
      const StreamStats& other = is_out ? r->err : r->out;
      CHECK(r->end == (is_out ? EndReason::stdout_limit : EndReason::stderr_limit));
      CHECK(r->detail == std::string(is_out ? "stdout" : "stderr") + " limit of 2500 bytes reached; output truncated");
      CHECK(limited.kept == 2500);
      CHECK(limited.received == 3000);  // stopped at the frame that crossed the limit
      CHECK(limited.truncated());
      CHECK((is_out ? f.out : f.err).data() == std::string(2500, 'y'));
      CHECK((is_out ? f.err : f.out).data() == "other\n");  // the other channel is not limited
      CHECK_FALSE(other.truncated());
      CHECK(r->exit_code == -1);
      CHECK(first_opcode_sent_after_upgrade(c.sent) == 0x88);  // we closed the stream
    }
  }
  SUBCASE("connection cut mid-frame") {
    Fixture f;
    auto& c = f.script();
    const auto frame = channel_frame(1, std::string(5000, 'c'));
    c.steps.push_back(ScriptedConnection::bytes(channel_frame(1, "first\n") + frame.substr(0, 100)));
    c.reset_at_end = true;
    auto r = f.run();
    REQUIRE(r);
    CHECK(r->end == EndReason::connection_lost);
    CHECK(f.out.data() == "first\n");
    CHECK(r->detail == "receive: Connection reset by peer (after 6 stdout and 0 stderr bytes)");
  }
  SUBCASE("EOF before the status") {
    Fixture f;
    auto& c = f.script();
    c.steps.push_back(ScriptedConnection::bytes(channel_frame(1, "partial")));
    auto r = f.run();
    REQUIRE(r);
    CHECK(r->end == EndReason::connection_lost);
    CHECK_FALSE(r->completed());
    CHECK(r->exit_code == -1);
  }
  SUBCASE("idle timeout") {
    Fixture f;
    auto& c = f.script();
    c.eof_at_end = false;
    ExecLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(0);
    auto r = f.run(limits);
    REQUIRE(r);
    CHECK(r->end == EndReason::idle_timeout);
  }
  SUBCASE("a protocol violation mid-stream keeps what came before") {
    Fixture f;
    auto& c = f.script();
    c.steps.push_back(ScriptedConnection::bytes(channel_frame(1, "ok") + server_frame(0x82, "x", true)));
    auto r = f.run();
    REQUIRE(r);
    CHECK(r->end == EndReason::protocol_error);
    CHECK(f.out.data() == "ok");
    CHECK(r->detail.find("masked frame") != std::string::npos);
  }
  SUBCASE("cancel") {
    Fixture f;
    auto& c = f.script();
    c.eof_at_end = false;
    util::CancelToken cancel;
    cancel.cancel();
    auto r = run_exec(f.kube.client, f.connector, f.request, f.out, f.err, {}, {}, &cancel);
    // cancelled before the upgrade answer was read, or right after: both say so
    if (r) {
      CHECK(r->end == EndReason::cancelled);
    } else {
      CHECK(r.error().code == Errc::cancelled);
    }
  }
}

TEST_CASE("run_exec: the total timeout") {
  using std::chrono::milliseconds;
  using std::chrono::steady_clock;
  ExecLimits limits;
  limits.total_timeout = milliseconds(60);
  limits.idle_timeout = std::chrono::seconds(10);  // were the total timeout ignored: the idle one, later

  SUBCASE("a silent command: what came before is kept") {
    Fixture f;
    auto& c = f.connection();
    // The output arrives with the 101 head, before the clock starts; then nothing, ever.
    c.steps.push_back([](const std::string& sent) {
      return ScriptedConnection::switching(k_protocol_v4)(sent) + channel_frame(1, "partial\n") + channel_frame(2, "e");
    });
    c.eof_at_end = false;
    const auto start = steady_clock::now();
    auto r = f.run(limits);
    const auto elapsed = steady_clock::now() - start;
    REQUIRE(r);
    CHECK(r->end == EndReason::total_timeout);
    CHECK(r->detail == "no exit status within 60ms (after 8 stdout and 1 stderr bytes)");
    CHECK(f.out.data() == "partial\n");
    CHECK(f.err.data() == "e");
    CHECK(r->out.kept == 8);
    CHECK_FALSE(r->out.truncated());
    CHECK(r->exit_code == -1);
    CHECK(elapsed >= limits.total_timeout);
    CHECK(first_opcode_sent_after_upgrade(c.sent) == 0x88);  // we closed the stream
  }
  SUBCASE("output that keeps coming does not hold it off (unlike the idle timeout)") {
    Fixture f;
    auto& c = f.script();
    // 10 frames 20 ms apart (200 ms), then the exit status: the 60 ms timeout comes first.
    for (int i = 0; i < 10; ++i) {
      c.steps.push_back([](const std::string&) {
        std::this_thread::sleep_for(milliseconds(20));
        return channel_frame(1, "tick\n");
      });
    }
    c.steps.push_back(ScriptedConnection::bytes(channel_frame(3, k_success)));
    auto r = f.run(limits);
    REQUIRE(r);
    CHECK(r->end == EndReason::total_timeout);
    CHECK(r->out.received < 10 * 5);
    CHECK(r->out.kept == r->out.received);
    CHECK(f.out.data().size() == r->out.kept);
  }
}

namespace {
// A connector that takes `delay` to connect, as a slow TCP/TLS handshake would.
class SlowConnector final : public kube::Connector {
 public:
  SlowConnector(kube::Connector& inner, std::chrono::milliseconds delay) : m_inner(inner), m_delay(delay) {}
  Result<std::unique_ptr<kube::Connection>> connect(const std::string& url, const kube::Credentials& creds) override {
    std::this_thread::sleep_for(m_delay);
    return m_inner.connect(url, creds);
  }

 private:
  kube::Connector& m_inner;
  std::chrono::milliseconds m_delay;
};
}  // namespace

TEST_CASE("run_exec: the handshake timeout") {
  using std::chrono::milliseconds;
  ExecLimits limits;
  limits.handshake_timeout = milliseconds(50);

  SUBCASE("no answer to the upgrade request") {
    Fixture f;
    f.connection().eof_at_end = false;  // connected, request sent, never a byte back
    const auto start = std::chrono::steady_clock::now();
    auto r = f.run(limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message == "exec in shop/web-1 container app: no answer to the upgrade request within 50ms");
    CHECK(std::chrono::steady_clock::now() - start >= limits.handshake_timeout);
  }
  SUBCASE("half an answer") {
    Fixture f;
    auto& c = f.connection();
    c.steps.push_back(ScriptedConnection::bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"));
    c.eof_at_end = false;
    auto r = f.run(limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
  }
  SUBCASE("a slow connect counts against it") {
    Fixture f;
    auto& c = f.connection();
    c.steps.push_back(ScriptedConnection::bytes(""));                 // the answer is not there on the first read...
    c.steps.push_back(ScriptedConnection::switching(k_protocol_v4));  // ...but on the second
    c.steps.push_back(ScriptedConnection::bytes(channel_frame(3, k_success)));
    SlowConnector slow(f.connector, milliseconds(80));
    auto r = run_exec(f.kube.client, slow, f.request, f.out, f.err, {}, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
  }
  SUBCASE("the client's request timeout (--request-timeout) bounds it when the caller sets none") {
    Fixture f;
    f.connection().eof_at_end = false;
    kube::ClientOptions options;
    options.request_timeout = milliseconds(60);
    kube::Client client(testing::test_config(), f.kube.transport, f.kube.credentials, f.kube.clock, options);
    ExecLimits unset;  // no handshake limit of its own
    auto r = run_exec(client, f.connector, f.request, f.out, f.err, {}, unset);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message == "exec in shop/web-1 container app: no answer to the upgrade request within 60ms");
    // a limit the caller sets is kept
    Fixture g;
    g.connection().eof_at_end = false;
    options.request_timeout = std::chrono::seconds(30);
    kube::Client patient(testing::test_config(), g.kube.transport, g.kube.credentials, g.kube.clock, options);
    auto q = run_exec(patient, g.connector, g.request, g.out, g.err, {}, limits);
    REQUIRE_FALSE(q);
    CHECK(q.error().message == "exec in shop/web-1 container app: no answer to the upgrade request within 50ms");
  }
  SUBCASE("an answer within it") {
    Fixture f;
    auto& c = f.script();
    c.steps.push_back(ScriptedConnection::bytes(channel_frame(3, k_success)));
    auto r = f.run(limits);
    REQUIRE(r);
    CHECK(r->completed());
  }
}

TEST_CASE("exit_code_from_status") {
  CHECK(exit_code_from_status(k_success).value_or(-1) == 0);
  CHECK(exit_code_from_status(k_exit3).value_or(-1) == 3);
  auto nf = exit_code_from_status(k_not_found);
  REQUIRE_FALSE(nf);
  CHECK(nf.error().code == Errc::exec_not_found);
  auto other = exit_code_from_status(R"({"status":"Failure","message":"pod is terminating","reason":"InternalError"})");
  REQUIRE_FALSE(other);
  CHECK(other.error().code == Errc::failure);
  CHECK(other.error().message == "pod is terminating");
  auto bad_code = exit_code_from_status(
      R"({"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3; rm -rf"}]}})");
  REQUIRE_FALSE(bad_code);
  CHECK_FALSE(exit_code_from_status("not json"));
}
