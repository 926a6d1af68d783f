#include "exec/session.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/websocket.hpp"
#include "kube/status.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ir::exec {

namespace {

// The clock deadlines are measured on: the limits' own, else the system's.
util::Clock& clock_of(const ExecLimits& limits) {
  static util::RealClock real;
  return limits.clock != nullptr ? *limits.clock : real;
}
using std::chrono::milliseconds;

// Kubernetes remotecommand channels (k8s.io/apimachinery/pkg/util/remotecommand): the first byte
// of every binary message.
constexpr unsigned char k_stdin = 0;
constexpr unsigned char k_stdout = 1;
constexpr unsigned char k_stderr = 2;
constexpr unsigned char k_error = 3;
constexpr unsigned char k_close = 255;  // v5: [255, channel] closes that channel (stdin half-close)

constexpr std::size_t k_read_buffer = 256 * 1024;
constexpr std::size_t k_max_status = 64 * 1024;
constexpr std::size_t k_max_refusal_body = 1024 * 1024;
constexpr std::size_t k_stdin_chunk = 32 * 1024;
constexpr milliseconds k_poll_slice{100};  // how often a blocked read checks Ctrl-C

// "https://host:port/prefix/api/..." → {"host:port", "/prefix/api/..."}
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const auto path_start = url.find('/', host_start);
  if (path_start == std::string::npos) return {url.substr(host_start), "/"};
  return {url.substr(host_start, path_start - host_start), url.substr(path_start)};
}

bool is_missing_binary(std::string_view message) {
  return message.find("executable file not found") != std::string_view::npos ||
         message.find("no such file or directory") != std::string_view::npos;
}

struct Upgraded {
  std::unique_ptr<kube::Connection> connection;
  std::string protocol;
  std::string leftover;  // frame bytes that arrived with the 101 head
};

// Connects, sends the upgrade request and reads the answer head (and a refusal's body).
Result<Upgraded> upgrade(kube::Client& client, kube::Connector& connector, const std::string& url,
                         const std::vector<std::string>& protocols, const ExecLimits& limits,
                         const util::CancelToken* cancel, const std::string& what) {
  const auto [host, path_and_query] = split_url(url);
  for (int attempt = 0;; ++attempt) {
    // The deadline starts before connecting: connect() blocks up to the connector's own connect
    // timeout, and the answer gets only what is left.
    util::Clock& clock = clock_of(limits);
    const auto deadline = clock.steady_now() + limits.handshake_timeout;
    IR_TRY_CTX(auth, client.auth(attempt > 0), what);
    auto& [auth_headers, creds] = auth;
    IR_TRY_CTX(conn, connector.connect(url, creds), what);
    const std::string key = ws::make_key();
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& h : auth_headers) headers.emplace_back(h.name, h.value);
    headers.emplace_back("User-Agent", "kubectl-ir");
    IR_CHECK_CTX(conn->send_all(ws::make_upgrade_request(host, path_and_query, key, protocols, headers)), what);

    std::string buf;
    std::vector<char> chunk(16 * 1024);
    std::optional<ws::ResponseHead> head;
    bool eof = false;
    // Read until the head is complete; for a refusal, also its body (bounded).
    for (;;) {
      if (!head) {
        IR_TRY_CTX(parsed, ws::parse_response_head(buf), what);
        head = std::move(parsed);
        if (head && head->status == 101) break;
      }
      if (head) {
        const auto want = head->content_length();
        const std::size_t body = buf.size() - head->head_size;
        if ((want && body >= *want) || eof || body > k_max_refusal_body) break;
      } else if (eof) {
        return fail(Errc::network, what + ": the server closed the connection before answering the upgrade");
      }
      if (cancel != nullptr && cancel->cancelled()) return fail(Errc::cancelled, "interrupted");
      if (clock.steady_now() > deadline) {
        return fail(Errc::timeout, what + ": no answer to the upgrade request within " +
                                       util::format_duration(limits.handshake_timeout));
      }
      IR_TRY_CTX(got, conn->receive(chunk.data(), chunk.size(), k_poll_slice), what);
      buf.append(chunk.data(), got.bytes);
      eof = got.eof;
    }
    if (head->status == 101) {
      IR_TRY_CTX(protocol, ws::check_upgrade(*head, key, protocols), what);
      return Upgraded{std::move(conn), std::move(protocol), buf.substr(head->head_size)};
    }
    if (head->status == 401 && attempt == 0) continue;  // refresh exec-plugin / token-file credentials once
    const std::string body = buf.substr(head->head_size, std::min(buf.size() - head->head_size, k_max_refusal_body));
    Error e = kube::error_from_http(head->status, head->header("content-type"), body).context(what);
    if (head->status == 403 && body.empty() && protocols.size() == 1 && protocols[0] == k_protocol_v5) {
      e = e.with_hint("the API server refused v5.channel.k8s.io: sending stdin needs Kubernetes 1.30 or newer");
    }
    return unexpected(e);
  }
}

class Stream {
 public:
  Stream(kube::Connection& conn, util::Sink& out, util::Sink& err, const ExecLimits& limits, ExecResult& result)
      : m_conn(conn), m_out(out), m_err(err), m_limits(limits), m_result(result), m_parser(limits.max_message) {}

  Result<void> send_stdin(std::string_view data) {
    while (!data.empty()) {
      const auto n = std::min(data.size(), k_stdin_chunk);
      std::string payload(1, static_cast<char>(k_stdin));
      payload.append(data.substr(0, n));
      IR_CHECK(m_conn.send_all(ws::encode_client_frame(ws::Opcode::binary, payload)));
      data.remove_prefix(n);
    }
    const std::string half_close{static_cast<char>(k_close), static_cast<char>(k_stdin)};
    return m_conn.send_all(ws::encode_client_frame(ws::Opcode::binary, half_close));
  }

  // Pumps until the Status arrives or the stream ends; fills m_result.end/detail.
  void pump(std::string_view leftover, const util::CancelToken* cancel) {
    util::Clock& clock = clock_of(m_limits);
    const auto start = clock.steady_now();
    auto last_byte = start;
    m_parser.feed(leftover);
    for (;;) {
      if (!drain_messages()) return;
      if (cancel != nullptr && cancel->cancelled()) return end(EndReason::cancelled, "interrupted");
      const auto now = clock.steady_now();
      if (m_limits.total_timeout.count() > 0 && now - start >= m_limits.total_timeout) {
        return end(EndReason::total_timeout,
                   "no exit status within " + util::format_duration(m_limits.total_timeout) + after_bytes());
      }
      if (now - last_byte >= m_limits.idle_timeout) {
        return end(EndReason::idle_timeout,
                   "no data for " + util::format_duration(m_limits.idle_timeout) + after_bytes());
      }
      // Received straight into the parser's buffer.
      const auto room = m_parser.prepare(k_read_buffer);
      auto got = m_conn.receive(room.data(), room.size(), k_poll_slice);
      if (!got) return end(EndReason::connection_lost, got.error().message + after_bytes());
      if (got->eof) return end(EndReason::connection_lost, "the connection closed before the exit status" + after_bytes());
      if (got->bytes > 0) {
        last_byte = clock.steady_now();
        m_parser.commit(got->bytes);
      }
    }
  }

  [[nodiscard]] bool have_status() const { return m_status_done; }
  [[nodiscard]] const std::string& status() const { return m_status; }

 private:
  std::string after_bytes() const {
    return fmt::format(" (after {} stdout and {} stderr bytes)", m_result.out.received, m_result.err.received);
  }

  void end(EndReason reason, std::string detail) {
    m_result.end = reason;
    m_result.detail = std::move(detail);
    // Best effort: tell the server we are done (1000 normal closure); a dead connection is fine.
    (void)m_conn.send_all(ws::encode_client_frame(ws::Opcode::close, ws::close_payload(1000, "")));
  }

  // Handles every complete message; false when the stream has ended.
  bool drain_messages() {
    for (;;) {
      auto next = m_parser.next();
      if (!next) {
        end(EndReason::protocol_error, next.error().message + after_bytes());
        return false;
      }
      if (!next->has_value()) return true;
      const ws::Message msg = **next;  // views the parser's buffer until the next next()/feed()
      switch (msg.opcode) {
        case ws::Opcode::ping:
          (void)m_conn.send_all(ws::encode_client_frame(ws::Opcode::pong, msg.payload));
          continue;
        case ws::Opcode::pong:
          continue;
        case ws::Opcode::close:
          if (m_status_done) {
            m_result.end = EndReason::completed;
            return false;
          }
          end(EndReason::connection_lost,
              fmt::format("the server closed the stream (code {}) before the exit status", ws::close_code(msg.payload)) +
                  after_bytes());
          return false;
        default:
          break;
      }
      if (msg.payload.empty()) continue;  // empty messages are allowed (and sent at start by some servers)
      const auto channel = static_cast<unsigned char>(msg.payload[0]);
      const std::string_view data = msg.payload.substr(1);
      if (channel == k_stdout || channel == k_stderr) {
        const bool is_out = channel == k_stdout;
        StreamStats& stats = is_out ? m_result.out : m_result.err;
        const std::uint64_t limit = is_out ? m_limits.max_stdout : m_limits.max_stderr;
        stats.received += data.size();
        const std::uint64_t room = limit - std::min(limit, stats.kept);
        const auto keep = static_cast<std::size_t>(std::min<std::uint64_t>(room, data.size()));
        if (keep > 0) {
          if (auto w = (is_out ? m_out : m_err).write(data.substr(0, keep)); !w) {
            end(EndReason::protocol_error, "writing the output failed: " + w.error().message);
            return false;
          }
          stats.kept += keep;
        }
        if (keep < data.size()) {
          end(is_out ? EndReason::stdout_limit : EndReason::stderr_limit,
              fmt::format("{} limit of {} bytes reached; output truncated", is_out ? "stdout" : "stderr", limit));
          return false;
        }
      } else if (channel == k_error) {
        if (m_status.size() + data.size() > k_max_status) {
          end(EndReason::protocol_error, fmt::format("exit status larger than {} bytes", k_max_status));
          return false;
        }
        m_status.append(data);
        if (kube::parse_status(m_status)) {
          // The Status is the last thing the server sends: done. Close politely.
          m_status_done = true;
          m_result.end = EndReason::completed;
          (void)m_conn.send_all(ws::encode_client_frame(ws::Opcode::close, ws::close_payload(1000, "")));
          return false;
        }
      }
      // k_close from the server and unknown channels carry nothing we need.
    }
  }

  kube::Connection& m_conn;
  util::Sink& m_out;
  util::Sink& m_err;
  const ExecLimits& m_limits;
  ExecResult& m_result;
  ws::MessageParser m_parser;
  std::string m_status;
  bool m_status_done = false;
};

}  // namespace

const char* to_string(EndReason reason) {
  switch (reason) {
    case EndReason::completed: return "completed";
    case EndReason::stdout_limit: return "stdout limit reached";
    case EndReason::stderr_limit: return "stderr limit reached";
    case EndReason::idle_timeout: return "idle timeout";
    case EndReason::total_timeout: return "total timeout";
    case EndReason::connection_lost: return "connection lost";
    case EndReason::protocol_error: return "protocol error";
    case EndReason::cancelled: return "cancelled";
  }
  return "unknown";
}

Result<int> exit_code_from_status(std::string_view status_json) {
  IR_TRY_CTX(st, kube::parse_status(status_json), "exec: malformed exit status");
  if (st.status == "Success") return 0;
  if (st.reason == "NonZeroExitCode") {
    const auto details = nlohmann::json::parse(st.details_json, nullptr, false);
    if (details.is_object() && details.contains("causes") && details["causes"].is_array()) {
      for (const auto& cause : details["causes"]) {
        if (cause.value("reason", "") != "ExitCode") continue;
        const std::string text = cause.value("message", "");
        try {
          std::size_t used = 0;
          const int code = std::stoi(text, &used);
          if (used == text.size() && code >= 0 && code <= 255) return code;
        } catch (const std::exception&) {
        }
      }
    }
    return fail(Errc::protocol, "exec: non-zero exit without a valid exit code: " + st.message);
  }
  if (is_missing_binary(st.message)) return fail(Errc::exec_not_found, st.message);
  return fail(Errc::failure, st.message.empty() ? "exec failed (" + st.reason + ")" : st.message);
}

Result<ExecResult> run_exec(kube::Client& client, kube::Connector& connector, const ExecRequest& request,
                            util::Sink& out, util::Sink& err, std::string_view stdin_data, const ExecLimits& limits,
                            const util::CancelToken* cancel) {
  const std::string what = fmt::format("exec in {}/{}{}", request.namespace_name, request.pod,
                                       request.container.empty() ? "" : " container " + request.container);
  if (request.command.empty()) return fail(Errc::usage, what + ": no command");
  kube::Query q;
  for (const auto& arg : request.command) q.emplace_back("command", arg);
  if (!request.container.empty()) q.emplace_back("container", request.container);
  q.emplace_back("stdin", stdin_data.empty() ? "false" : "true");
  q.emplace_back("stdout", "true");
  q.emplace_back("stderr", "true");
  q.emplace_back("tty", "false");
  const std::string url = client.url_for(fmt::format("/api/v1/namespaces/{}/pods/{}/exec",
                                                     util::url_encode(request.namespace_name),
                                                     util::url_encode(request.pod)),
                                         q);
  // v4 has no way to close stdin: with stdin, only v5 will do.
  const std::vector<std::string> protocols =
      stdin_data.empty() ? request.protocols : std::vector<std::string>{k_protocol_v5};
  ExecLimits bounded = limits;
  if (bounded.handshake_timeout.count() <= 0) {
    bounded.handshake_timeout =
        client.request_timeout().count() > 0 ? client.request_timeout() : k_default_handshake_timeout;
  }
  IR_TRY(up, upgrade(client, connector, url, protocols, bounded, cancel, what));

  ExecResult result;
  result.protocol = up.protocol;
  Stream stream(*up.connection, out, err, limits, result);
  if (!stdin_data.empty()) {
    if (auto s = stream.send_stdin(stdin_data); !s) return unexpected(s.error().context(what + ": sending stdin"));
  }
  stream.pump(up.leftover, cancel);
  if (stream.have_status()) {
    auto code = exit_code_from_status(stream.status());
    if (!code) return unexpected(code.error().context(what));
    result.exit_code = *code;
    if (*code != 0) {
      if (auto st = kube::parse_status(stream.status())) result.status_message = st->message;
    }
  }
  return result;
}

}  // namespace ir::exec
