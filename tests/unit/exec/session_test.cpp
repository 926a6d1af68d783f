#include <doctest/doctest.h>

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

  ScriptedConnection& script(const std::string& protocol = k_protocol_v4) {
    auto c = std::make_unique<ScriptedConnection>();
    c->steps.push_back(ScriptedConnection::switching(protocol));
    auto* raw = c.get();
    connector.connections.push_back(std::move(c));
    return *raw;
  }
  Result<ExecResult> run(const ExecLimits& limits = {}, std::string_view stdin_data = {}) {
    return run_exec(kube.client, connector, request, out, err, stdin_data, limits);
  }
};

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
  SUBCASE("stdout limit truncates and stops") {
    Fixture f;
    auto& c = f.script();
    c.eof_at_end = false;  // endless output: the server never ends on its own
    for (int i = 0; i < 10; ++i) c.steps.push_back(ScriptedConnection::bytes(channel_frame(1, std::string(1000, 'y'))));
    ExecLimits limits;
    limits.max_stdout = 2500;
    auto r = f.run(limits);
    REQUIRE(r);
    CHECK(r->end == EndReason::stdout_limit);
    CHECK(r->out.kept == 2500);
    CHECK(r->out.received == 3000);
    CHECK(r->out.truncated());
    CHECK(f.out.data().size() == 2500);
    CHECK(r->detail == "stdout limit of 2500 bytes reached; output truncated");
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
