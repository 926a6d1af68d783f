#include "triage/probe.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <map>

#include <fmt/format.h>

#include "exec/session.hpp"
#include "forensics/procfs.hpp"
#include "util/sink.hpp"
#include "util/strings.hpp"
#include "triage/json_fields.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {

using json_fields::member;
using json_fields::str;

// An IP address in one canonical text form (inet_ntop's), or "" when `text` is not one. IPv4 in
// any form inet_aton reads ("127.1", "0x7f.0.0.1", "2130706433"), as nc resolves it.
std::string canonical_ip(const std::string& text) {
  char buf[INET6_ADDRSTRLEN] = {};
  in6_addr a6{};
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    // An IPv4-mapped address reaches the IPv4 address.
    static const unsigned char k_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(std::begin(k_mapped), std::end(k_mapped), a6.s6_addr)) {
      in_addr a4{};
      std::memcpy(&a4, a6.s6_addr + 12, 4);
      return inet_ntop(AF_INET, &a4, buf, sizeof buf) ? buf : "";
    }
    return inet_ntop(AF_INET6, &a6, buf, sizeof buf) ? buf : "";
  }
  in_addr a4{};
  if (text.find_first_not_of("0123456789abcdefABCDEFxX.") == std::string::npos && inet_aton(text.c_str(), &a4) != 0) {
    return inet_ntop(AF_INET, &a4, buf, sizeof buf) ? buf : "";
  }
  return {};
}

void add_ip(std::vector<std::string>& out, const std::string& text) {
  const std::string ip = canonical_ip(text);
  if (!ip.empty() && std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
}

}  // namespace

std::string ProbeTarget::text() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ProbeTarget> parse_probe_target(const std::string& text) {
  const auto bad = [&] {
    return fail(Errc::usage, "--probe \"" + util::escape_for_terminal(text, 200) +
                                 "\": want HOST:PORT or [IPv6]:PORT with a port 1-65535");
  };
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (canonical_ip(host).empty() || host.find(':') == std::string::npos) return bad();
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  // A name or an address as nc takes it; nothing an option parser could mistake for a flag.
  if (host.empty() || host.size() > 253 || host[0] == '-' ||
      host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") !=
          std::string::npos) {
    return bad();
  }
  int p = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535) return bad();
  return ProbeTarget{host, p, "--probe"};
}

PodAddresses pod_addresses(const json& pod, const json& node) {
  PodAddresses a;
  const json& status = member(pod, "status");
  add_ip(a.pod_ips, str(status, "podIP"));
  for (const auto& ip : member(status, "podIPs")) add_ip(a.pod_ips, str(ip, "ip"));
  add_ip(a.node_ips, str(status, "hostIP"));
  for (const auto& ip : member(status, "hostIPs")) add_ip(a.node_ips, str(ip, "ip"));
  for (const auto& addr : member(member(node, "status"), "addresses")) {
    const std::string type = str(addr, "type");
    if (type == "InternalIP" || type == "ExternalIP") add_ip(a.node_ips, str(addr, "address"));
  }
  return a;
}

std::string unprobeable_reason(const std::string& host, const PodAddresses& addresses) {
  const std::string lower = util::to_lower(host);
  const std::string ip = canonical_ip(host);
  const bool loopback_name = lower == "localhost" || lower == "ip6-localhost" || lower == "ip6-loopback" ||
                             (lower.size() > 10 && lower.substr(lower.size() - 10) == ".localhost");
  const bool loopback_ip = ip.rfind("127.", 0) == 0 || ip == "::1" || ip == "0.0.0.0" || ip == "::";
  if (loopback_name || loopback_ip) {
    return host +
           " is the pod's own loopback: NetworkPolicy never applies to it, so a connection there proves "
           "nothing about the quarantine";
  }
  if (!ip.empty() && std::find(addresses.pod_ips.begin(), addresses.pod_ips.end(), ip) != addresses.pod_ips.end()) {
    return host + " is the pod's own address: traffic to itself never leaves the pod, so no policy applies to it";
  }
  if (!ip.empty() && std::find(addresses.node_ips.begin(), addresses.node_ips.end(), ip) != addresses.node_ips.end()) {
    return host +
           " is the address of the pod's node: traffic from a pod to its own node stays allowed whatever the "
           "policy (kubelet health checks need it), so a connection there proves nothing";
  }
  return {};
}

const char* to_string(ProbeOutcome outcome) {
  switch (outcome) {
    case ProbeOutcome::connected:
      return "connected";
    case ProbeOutcome::blocked:
      return "blocked";
    case ProbeOutcome::refused:
      return "refused";
    case ProbeOutcome::unsupported:
      return "unsupported";
    case ProbeOutcome::unknown:
      return "unknown";
  }
  return "unknown";
}

ProbeResult interpret_probe(const std::string& target, int exit_code, std::string_view nc_stderr) {
  if (exit_code == 0) return {ProbeOutcome::connected, "connected to " + target};
  // The first line that says something (busybox prints its usage after the error line).
  std::string line;
  for (const auto& l : util::split(nc_stderr, '\n')) {
    line = std::string(util::trim(l));
    if (!line.empty()) break;
  }
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  const std::string said = util::to_lower(nc_stderr);
  const auto has = [&](std::initializer_list<const char*> words) {
    return std::any_of(words.begin(), words.end(), [&](const char* w) { return said.find(w) != std::string::npos; });
  };
  const std::string why = fmt::format("nc exit {}{}{}", exit_code, line.empty() ? "" : ": ", line);
  if (has({"invalid option", "unrecognized option", "illegal option", "unknown option", "usage:"})) {
    return {ProbeOutcome::unsupported, why};
  }
  if (has({"bad address", "could not resolve", "can't resolve", "name or service not known", "name resolution",
           "no address associated"})) {
    return {ProbeOutcome::unknown, target + " did not resolve inside the pod (" + why + ")"};
  }
  if (has({"refused"})) return {ProbeOutcome::refused, "connection to " + target + " refused (" + why + ")"};
  if (has({"timed out", "timeout", "no route", "unreachable"})) {
    // busybox's nc times out the name lookup and the connection alike.
    const std::string host = target.substr(0, target.rfind(':'));
    const bool literal =
        !canonical_ip(host.size() > 1 && host[0] == '[' ? host.substr(1, host.size() - 2) : host).empty();
    return {ProbeOutcome::blocked, "connection to " + target + " failed (" + why + ")" +
                                       (literal ? "" : " (the name is looked up first: DNS may be what is blocked)")};
  }
  return {ProbeOutcome::unknown, "nc failed without saying why (" + why + ")"};
}

Prober::Prober(kube::Client& client, kube::Connector& connector, std::string namespace_name, std::string pod,
               std::string container, const util::CancelToken* cancel)
    : m_client(client),
      m_connector(connector),
      m_namespace(std::move(namespace_name)),
      m_pod(std::move(pod)),
      m_container(std::move(container)),
      m_cancel(cancel) {}

// `nc -z` (OpenBSD, traditional, ncat, busybox's nc 1.10 compatible build) connects and closes;
// busybox's small nc has no -z but runs a program once connected (`-e PROG`, the rest of argv), so
// `-e true` connects and closes as well.
ProbeResult Prober::connect(const ProbeTarget& target, std::chrono::seconds timeout) {
  const std::string w = std::to_string(std::max<long long>(1, timeout.count()));
  const std::string port = std::to_string(target.port);
  const std::vector<std::vector<std::string>> forms = {{"nc", "-z", "-v", "-w", w, target.host, port},
                                                       {"nc", "-w", w, target.host, port, "-e", "true"}};
  ProbeResult last;
  for (int i = 0; i < 2; ++i) {
    const int form = (m_form + i) % 2;
    util::MemorySink out(4096), err(4096);
    exec::ExecLimits limits;
    limits.max_stdout = 4096;
    limits.max_stderr = 4096;
    limits.total_timeout = timeout + std::chrono::seconds(10);
    ++m_execs;
    auto r =
        exec::run_exec(m_client, m_connector, {m_namespace, m_pod, m_container, forms[static_cast<std::size_t>(form)]},
                       out, err, {}, limits, m_cancel);
    if (!r) {
      if (r.error().code == Errc::exec_not_found)
        return {ProbeOutcome::unknown, "container " + m_container + " has no nc to probe with"};
      return {ProbeOutcome::unknown, "the probe did not run: " + r.error().message};
    }
    if (!r->completed()) return {ProbeOutcome::unknown, "nc " + r->detail};
    last = interpret_probe(target.text(), r->exit_code, err.data());
    if (last.outcome != ProbeOutcome::unsupported) {
      m_form = form;
      return last;
    }
  }
  return {ProbeOutcome::unknown,
          "the nc of container " + m_container + " takes neither -z nor -e (" + last.summary + ")"};
}

Result<std::string> Prober::read_tcp_tables() {
  util::MemorySink out(1 << 20), err(4096);
  exec::ExecLimits limits;
  limits.max_stdout = 1 << 20;
  limits.max_stderr = 4096;
  limits.total_timeout = std::chrono::seconds(15);
  ++m_execs;
  IR_TRY(r, exec::run_exec(m_client, m_connector,
                           {m_namespace, m_pod, m_container, {"cat", "/proc/net/tcp", "/proc/net/tcp6"}}, out, err, {},
                           limits, m_cancel));
  // Without IPv6 there is no tcp6: cat says so and still prints tcp.
  if (!r.completed() || (r.exit_code != 0 && out.data().empty())) {
    return fail(Errc::failure,
                "cat /proc/net/tcp: " + (r.completed() ? "exit " + std::to_string(r.exit_code) : r.detail));
  }
  return out.take();
}

std::vector<TcpConnection> established_connections(std::string_view tables, std::size_t max, std::size_t* more) {
  // cat printed tcp then tcp6, each with its header line ("  sl  local_address ..."): what follows
  // the second header is tcp6. The procfs parser decodes the addresses; the timer and retransmit
  // columns it leaves out are read below.
  std::string v4, v6;
  int headers = 0;
  std::map<std::string, bool> retransmitting;  // inode -> retransmit timer running or RTO counted
  for (const auto& line : util::split(tables, '\n')) {
    std::vector<std::string> f;
    for (const auto& w : util::split(line, ' ')) {
      if (!w.empty()) f.push_back(w);
    }
    if (!f.empty() && f[0] == "sl") ++headers;
    (headers >= 2 ? v6 : v4).append(line).append("\n");
    if (f.size() < 10 || f[0] == "sl") continue;
    const std::string timer = f[5].substr(0, f[5].find(':'));
    const bool rto = timer == "01" || timer == "04";  // retransmit, zero-window probe (man 5 proc)
    const bool counted = f[6].find_first_not_of('0') != std::string::npos;
    retransmitting[f[9]] = rto || counted;
  }
  const std::pair<const std::string*, forensics::procfs::NetTable> parts[] = {{&v4, forensics::procfs::NetTable::tcp},
                                                                              {&v6, forensics::procfs::NetTable::tcp6}};

  std::vector<TcpConnection> out;
  std::size_t extra = 0;
  for (const auto& [text, table] : parts) {
    const auto parsed = forensics::procfs::parse_net_inet(*text, table);
    for (const auto& rec : parsed.records) {
      if (str(rec, "kind") != "socket" || str(rec, "state") != "ESTABLISHED") continue;
      const std::string remote = canonical_ip(str(rec, "remote_ip"));
      if (remote.rfind("127.", 0) == 0 || remote == "::1") continue;
      if (out.size() >= max) {
        ++extra;
        continue;
      }
      const auto ip_port = [&](const char* ip, const char* port) {
        const std::string a = str(rec, ip);
        const std::string p = rec.contains(port) ? rec[port].dump() : "?";
        return (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + p;
      };
      const std::string inode = rec.contains("inode") ? rec["inode"].dump() : "";
      const auto rt = retransmitting.find(inode);
      out.push_back({inode, ip_port("local_ip", "local_port"), ip_port("remote_ip", "remote_port"),
                     rt != retransmitting.end() && rt->second});
    }
  }
  if (more) *more = extra;
  return out;
}

const char* to_string(WireVerdict verdict) {
  switch (verdict) {
    case WireVerdict::not_run:
      return "not run";
    case WireVerdict::contained:
      return "contained";
    case WireVerdict::not_contained:
      return "NOT contained";
    case WireVerdict::unverified:
      return "unverified";
  }
  return "unverified";
}

namespace {

bool answered(const ProbeResult& r) {
  return r.outcome == ProbeOutcome::connected || r.outcome == ProbeOutcome::refused;
}

void read_connections(Prober& prober, const WireOptions& o, WireCheck& check, bool after) {
  auto tables = prober.read_tcp_tables();
  if (!tables) {
    check.connections_note =
        std::string("existing connections not checked") + (after ? " after the quarantine" : "") + ": " +
        (tables.error().code == Errc::exec_not_found ? "container " + prober.container() + " has no cat"
                                                     : tables.error().message);
    if (after) {
      for (auto& c : check.connections) {
        if (c.after.empty()) c.judgement = "not read again: " + check.connections_note;
      }
    }
    return;
  }
  std::size_t more = 0;
  const auto now = established_connections(*tables, after ? SIZE_MAX : o.max_connections, &more);
  if (!after) {
    for (const auto& c : now) check.connections.push_back({c, "", ""});
    if (more > 0) check.connections_note = fmt::format("{} more established connections not followed", more);
    return;
  }
  for (auto& c : check.connections) {
    const auto it =
        std::find_if(now.begin(), now.end(), [&](const TcpConnection& n) { return n.inode == c.before.inode; });
    const std::string what = c.before.local + " -> " + c.before.remote;
    if (it == now.end()) {
      c.after = "gone";
      c.judgement = what + ": closed since the quarantine (reset, timed out or ended by the pod)";
    } else if (it->retransmitting) {
      c.after = "established, retransmitting";
      c.judgement = what + ": still open but retransmitting: its packets no longer get through";
    } else {
      c.after = "established";
      c.judgement = what +
                    ": still open, no retransmission: it may survive the quarantine (idle, or the CNI lets "
                    "established connections through)";
    }
  }
}

}  // namespace

void probe_before(Prober& prober, const std::vector<ProbeTarget>& targets, const WireOptions& o, WireCheck& check) {
  for (const auto& t : targets) {
    TargetCheck tc;
    tc.target = t;
    tc.before = prober.connect(t, o.before_timeout);
    check.targets.push_back(std::move(tc));
    // One reachable destination is enough to compare against; every one costs a probe after too.
    if (answered(*check.targets.back().before)) break;
  }
  read_connections(prober, o, check, false);
  check.execs = prober.execs();
}

void probe_after(Prober& prober, const WireOptions& o, util::Clock& clock, WireCheck& check) {
  std::vector<std::string> connected, blocked, unverified;
  for (auto& tc : check.targets) {
    if (tc.before && !answered(*tc.before)) {
      unverified.push_back(tc.target.text() + " (" + tc.target.what +
                           ") was not reachable before the quarantine: " + tc.before->summary);
      continue;
    }
    const auto start = clock.now();
    const auto deadline = start + o.settle;
    for (;;) {
      tc.after = prober.connect(tc.target, o.probe_timeout);
      ++tc.attempts_after;
      if (tc.after->outcome != ProbeOutcome::connected || clock.now() >= deadline) break;
      clock.sleep_for(o.retry_every);
    }
    tc.seconds_after = std::chrono::duration<double>(clock.now() - start).count();
    const std::string name = tc.target.text() + " (" + tc.target.what + ")";
    const ProbeOutcome after = tc.after->outcome;
    if (after == ProbeOutcome::connected) {
      connected.push_back(fmt::format("{} still connected after the quarantine ({} attempts over {:.1f}s)", name,
                                      tc.attempts_after, tc.seconds_after));
    } else if (!tc.before) {
      unverified.push_back(name + " failed after the quarantine (" + tc.after->summary +
                           ") but was not tried before it (the pod was already isolated)");
    } else if (after == ProbeOutcome::blocked ||
               (after == ProbeOutcome::refused && tc.before->outcome == ProbeOutcome::connected)) {
      blocked.push_back(fmt::format("{} {} before, {} after ({:.1f}s)", name,
                                    tc.before->outcome == ProbeOutcome::connected ? "connected" : "answered",
                                    after == ProbeOutcome::blocked ? "timed out" : "refused", tc.seconds_after));
    } else {
      unverified.push_back(name + ": " + std::string(to_string(tc.before->outcome)) + " before, " + tc.after->summary +
                           " after");
    }
  }
  if (!check.connections.empty()) read_connections(prober, o, check, true);
  check.execs = prober.execs();
  if (!connected.empty()) {
    check.verdict = WireVerdict::not_contained;
    check.reason = util::join(connected, "; ");
  } else if (!blocked.empty()) {
    check.verdict = WireVerdict::contained;
    check.reason = util::join(blocked, "; ");
  } else {
    check.verdict = WireVerdict::unverified;
    check.reason = unverified.empty() ? "nothing to probe" : util::join(unverified, "; ");
  }
}

}  // namespace ir::triage
