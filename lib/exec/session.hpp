#pragma once
// Running a command in a container over the Kubernetes exec API (WebSocket, channel.k8s.io
// subprotocols), streaming stdout/stderr into sinks with per-channel byte limits and
// connect/idle/total timeouts. Depends on the kube Connector seam, not on curl.

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/sink.hpp"

namespace ir::exec {

inline constexpr const char* k_protocol_v5 = "v5.channel.k8s.io";
inline constexpr const char* k_protocol_v4 = "v4.channel.k8s.io";

struct ExecRequest {
  std::string namespace_name;
  std::string pod;
  std::string container;              // "" = the pod's default (the server picks when there is one)
  std::vector<std::string> command;   // argv, one `command` query parameter each
  // Offered subprotocols, most preferred first. v5 alone is refused by servers before 1.30.
  std::vector<std::string> protocols{k_protocol_v5, k_protocol_v4};
};

inline constexpr std::chrono::milliseconds k_default_handshake_timeout{std::chrono::seconds(30)};

struct ExecLimits {
  std::uint64_t max_stdout = std::numeric_limits<std::uint64_t>::max();  // bytes kept; beyond: truncated
  std::uint64_t max_stderr = 16ULL * 1024 * 1024;
  // Connect + upgrade answer; beyond it run_exec fails with Errc::timeout. 0: the client's request
  // timeout (--request-timeout), else k_default_handshake_timeout.
  std::chrono::milliseconds handshake_timeout{0};
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};  // no bytes at all for this long
  std::chrono::milliseconds total_timeout{0};                       // upgrade to exit status; 0 = none
  std::size_t max_message = 4 * 1024 * 1024;                        // one WebSocket message
  // The clock the timeouts above are measured on; nullptr: the system's monotonic clock.
  util::Clock* clock = nullptr;
};

// Why the stream ended.
enum class EndReason {
  completed,        // the exit Status arrived
  stdout_limit,     // max_stdout reached: output truncated, stream closed by us
  stderr_limit,
  idle_timeout,
  total_timeout,
  connection_lost,  // the connection closed or reset before the exit Status
  protocol_error,   // the server broke the WebSocket or channel protocol
  cancelled,        // Ctrl-C
};
// "completed", "stdout limit reached", ... for journals and messages.
const char* to_string(EndReason reason);

struct StreamStats {
  std::uint64_t received = 0;  // bytes that arrived on the channel
  std::uint64_t kept = 0;      // bytes written to the sink
  [[nodiscard]] bool truncated() const { return kept < received; }
};

struct ExecResult {
  std::string protocol;        // the negotiated subprotocol
  EndReason end = EndReason::completed;
  std::string detail;          // for end != completed: what happened, with byte counts
  int exit_code = -1;          // the remote exit code when end == completed
  std::string status_message;  // the Status message for a non-zero exit
  StreamStats out;
  StreamStats err;
  [[nodiscard]] bool completed() const { return end == EndReason::completed; }
};

// Runs `request`. stdout and stderr stream into `out` and `err` as they arrive. `stdin_data`, if
// not empty, is sent then stdin is half-closed; that needs v5 (v4 cannot signal the end of
// stdin), so with stdin the offer is v5 only and an older server's refusal is reported as such.
//
// Errors (the command did not run, or its outcome is unknown):
//   the upgrade was refused: the API server's Status message and Errc from the HTTP code (pod or
//   container not found, forbidden, ...); a 401 is retried once with refreshed credentials;
//   Errc::exec_not_found: the binary does not exist in the container;
//   Errc::failure: any other failure Status (message kept);
//   Errc::timeout: no upgrade answer within limits.handshake_timeout;
//   connect/TLS errors as the REST transport reports them.
// Once the stream is up, everything else (limits, timeouts, cuts, protocol violations, Ctrl-C) is
// an ExecResult whose `end` and `detail` say what happened and how many bytes were kept.
Result<ExecResult> run_exec(kube::Client& client, kube::Connector& connector, const ExecRequest& request,
                            util::Sink& out, util::Sink& err, std::string_view stdin_data = {},
                            const ExecLimits& limits = {}, const util::CancelToken* cancel = nullptr);

// Interprets the Status on channel 3 (exposed for tests): Success → 0; NonZeroExitCode with an
// ExitCode cause → that code; a missing binary → Errc::exec_not_found; anything else → error.
Result<int> exit_code_from_status(std::string_view status_json);

}  // namespace ir::exec
