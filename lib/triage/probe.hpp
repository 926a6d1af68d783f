#pragma once
// Connection probes from inside a pod's network namespace, and the differential check built on
// them: a destination reachable before the quarantine and refused or timed out after it proves,
// on the wire, that the policy holds; one still reachable after it proves that it does not.
//
// A probe is one `nc` run in a container of the pod (the image's own nc) or in a debug container
// from a trusted image (it shares the pod's network namespace, so it sees what the pod sees). The
// result is only as good as the tool: a connection is proof, a failure is read from nc's words.
//
// NetworkPolicy never governs loopback, the pod's own addresses or (with most CNIs) its node's:
// a probe of those proves nothing, so they are refused (unprobeable_reason).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ir::triage {

// A destination to probe.
struct ProbeTarget {
  std::string host;  // IP address or name, as nc takes it
  int port = 0;
  std::string what;  // where it came from, for messages: "--probe", "the kubernetes Service", ...
  // "host:port", "[v6]:port".
  [[nodiscard]] std::string text() const;
};

// Parses HOST:PORT or [IPv6]:PORT (port 1-65535). Errc::usage on anything else.
Result<ProbeTarget> parse_probe_target(const std::string& text);

// The addresses of a pod that no NetworkPolicy governs for it.
struct PodAddresses {
  std::vector<std::string> pod_ips;   // status.podIP(s), normalised
  std::vector<std::string> node_ips;  // status.hostIP(s) and, when the node was read, its addresses
};
// From the pod (status.podIP, podIPs, hostIP, hostIPs) and, when not null, its Node
// (status.addresses of type InternalIP/ExternalIP).
PodAddresses pod_addresses(const nlohmann::json& pod, const nlohmann::json& node);

// Why probing `host` from the pod proves nothing about a NetworkPolicy ("" when it can prove
// something): loopback (127.0.0.0/8, ::1, localhost, 0.0.0.0, ::, in any form inet_aton reads),
// the pod's own address, its node's address.
std::string unprobeable_reason(const std::string& host, const PodAddresses& addresses);

// How one connection attempt ended.
enum class ProbeOutcome {
  connected,    // nc exited 0: the connection was made
  blocked,      // timed out, no route, unreachable: what a dropping policy looks like
  refused,      // the target or a REJECT rule answered: a packet may have left the pod
  unsupported,  // this nc does not take the options (busybox's small nc has no -z)
  unknown,      // anything else (the host did not resolve, no nc, an unrecognised failure)
};
const char* to_string(ProbeOutcome outcome);

struct ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::unknown;
  std::string summary;  // one line ("CONNECTED to ...", "unknown: ...")
};

// Interprets an nc run against `target` (HOST:PORT) from its exit code and stderr, as busybox,
// OpenBSD and traditional nc and nmap's ncat word their failures.
ProbeResult interpret_probe(const std::string& target, int exit_code, std::string_view nc_stderr);

// Runs probes in one container of a pod. Remembers which nc form the container's nc accepts, so
// only the first probe may take two execs. References must outlive it.
class Prober {
 public:
  Prober(kube::Client& client, kube::Connector& connector, std::string namespace_name, std::string pod,
         std::string container, const util::CancelToken* cancel = nullptr);

  // One connection attempt to `target`, giving up after `timeout` (whole seconds, at least 1: nc's
  // -w). Never fails: a probe that could not run is ProbeOutcome::unknown saying why.
  ProbeResult connect(const ProbeTarget& target, std::chrono::seconds timeout);

  // The container's /proc/net/tcp and /proc/net/tcp6 (one `cat`, bounded to 1 MiB). Errors: the
  // exec's (Errc::exec_not_found without cat), or Errc::failure when cat failed.
  Result<std::string> read_tcp_tables();

  [[nodiscard]] const std::string& container() const { return m_container; }
  [[nodiscard]] int execs() const { return m_execs; }

 private:
  kube::Client& m_client;
  kube::Connector& m_connector;
  std::string m_namespace;
  std::string m_pod;
  std::string m_container;
  const util::CancelToken* m_cancel;
  int m_form = 0;  // index of the nc argv form to try first
  int m_execs = 0;
};

// One established TCP connection of the pod, as /proc/net/tcp shows it.
struct TcpConnection {
  std::string inode;  // identifies the socket across two reads
  std::string local;  // "10.244.0.12:40312"
  std::string remote;
  bool retransmitting = false;  // the retransmit timer runs or RTO timeouts were counted
};
// The ESTABLISHED connections in /proc/net/tcp(6) text, loopback ones left out (no policy governs
// them), at most `max` of them (the rest are counted in `more`). Unparsable lines are skipped.
std::vector<TcpConnection> established_connections(std::string_view tcp_tables, std::size_t max,
                                                   std::size_t* more = nullptr);

// ---- the differential check -----------------------------------------------------------------

enum class WireVerdict {
  not_run,        // no verification asked, or a dry run
  contained,      // reachable before, refused or timed out after: verified on the wire
  not_contained,  // still reachable after the quarantine
  unverified,     // nothing reachable before to compare with, or no way to probe
};
const char* to_string(WireVerdict verdict);

struct TargetCheck {
  ProbeTarget target;
  std::optional<ProbeResult> before;  // unset when not tried before (an already isolated pod)
  std::optional<ProbeResult> after;   // the last attempt after the quarantine
  int attempts_after = 0;
  double seconds_after = 0;  // from the first attempt after to the last one's end
};

struct ConnectionCheck {
  TcpConnection before;
  std::string after;      // "gone", "established, retransmitting", "established"
  std::string judgement;  // one line for the report
};

struct WireCheck {
  WireVerdict verdict = WireVerdict::not_run;
  std::string reason;       // one line: what was measured, or why nothing could be
  std::string probed_from;  // "container web (the image's nc)", "debug container ... (busybox)"
  std::vector<TargetCheck> targets;
  std::vector<ConnectionCheck> connections;  // existing connections before, checked after
  std::string connections_note;              // why they were not checked, or how many were left out
  int execs = 0;
};

struct WireOptions {
  std::chrono::seconds probe_timeout{1};     // nc -w for each attempt after the quarantine
  std::chrono::seconds before_timeout{3};    // nc -w before it (a slow but open path still counts)
  std::chrono::milliseconds settle{10'000};  // how long a still-reachable target is retried after:
                                             // policies take a moment to be programmed
  std::chrono::milliseconds retry_every{500};
  std::size_t max_connections = 16;  // existing connections followed
};

// Before the quarantine: tries each target once (a refusal counts as reachable: something answered)
// and notes the pod's established connections. Fills `check.targets` and the connections' before.
void probe_before(Prober& prober, const std::vector<ProbeTarget>& targets, const WireOptions& options,
                  WireCheck& check);

// After the quarantine: retries each target that was reachable before (or, for an already isolated
// pod, was not tried) until it is refused or times out, or `settle` has passed; then reads the
// connections again. Sets the verdict:
//   not_contained  a target connected after (named, with how long it was tried);
//   contained      every target reachable before failed after (connected before: refused or timed
//                  out; refused before: timed out);
//   unverified     nothing was reachable before (each target's reason), or no probe could run.
// Existing connections are reported, never part of the verdict: whether they survive is the CNI's
// choice and the pod's /proc cannot show whether bytes still flow.
void probe_after(Prober& prober, const WireOptions& options, util::Clock& clock, WireCheck& check);

}  // namespace ir::triage
