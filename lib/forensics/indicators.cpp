// The single-pod indicator rules. Each rule is one function over one container (or the pod's
// sockets), so the table in indicator_rules() and README.md stays the whole story.

#include "forensics/indicators.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include <fmt/format.h>

#include "forensics/detail.hpp"
#include "util/strings.hpp"

namespace ir::forensics {

using detail::base_name;
using nlohmann::json;

const std::vector<IndicatorRule>& indicator_rules() {
  static const std::vector<IndicatorRule> k_rules = {
      {"exe-memfd", Severity::critical, FindingKind::process,
       "runs from an anonymous memory file (memfd:): a binary that never touched the disk", "processes.json: exe"},
      {"shell-socket-stdio", Severity::critical, FindingKind::process,
       "a shell or interpreter whose stdin, stdout or stderr is a network connection: a reverse shell",
       "processes.json: exe, comm, socket fds; sockets.json: the connection"},
      {"exe-deleted", Severity::high, FindingKind::process, "the executable was deleted after it started",
       "processes.json: exe"},
      {"exe-in-tmp", Severity::high, FindingKind::process,
       "the executable is under /tmp, /var/tmp or /dev/shm (world-writable, where droppers put payloads)",
       "processes.json: exe"},
      {"kernel-thread-name", Severity::high, FindingKind::process,
       "a process with an executable named like a kernel thread (kworker, ksoftirqd, kthreadd, [name], ...): "
       "kernel threads have none, malware borrows their names",
       "processes.json: comm, cmdline, exe"},
      {"miner-cmdline", Severity::high, FindingKind::process,
       "a command line with a stratum pool URL or cryptominer options (--donate-level, randomx, ...)",
       "processes.json: cmdline"},
      {"mining-pool-port", Severity::high, FindingKind::connection,
       "a connection to a well-known mining pool port (3333, 4444, 5555, 7777, 14444, 45700, ...)",
       "sockets.json: remote port; processes.json: the holder"},
      {"ld-preload-env", Severity::high, FindingKind::environment,
       "LD_PRELOAD is set: a library is injected into the process", "processes.json: ld_preload"},
      {"ld-so-preload", Severity::high, FindingKind::config,
       "/etc/ld.so.preload exists: a library is injected into every dynamically linked process",
       "listing.jsonl: /etc/ld.so.preload"},
      {"comm-mismatch", Severity::medium, FindingKind::process,
       "the process name (comm) is neither its executable's name, nor its first argument, nor a script it "
       "interprets: it renamed itself",
       "processes.json: comm, exe, cmdline"},
      {"undeclared-listen", Severity::medium, FindingKind::listening_port,
       "listens on a port the pod spec does not declare (containerPorts); low when on loopback only",
       "sockets.json: listening sockets; pod/pod.json: ports"},
  };
  return k_rules;
}

const std::vector<std::uint32_t>& mining_pool_ports() {
  static const std::vector<std::uint32_t> k_ports = {3333, 3334, 3335, 3336,  3357,  4444,  5555,
                                                     5556, 6666, 7777, 14433, 14444, 45560, 45700};
  return k_ports;
}

namespace {

const IndicatorRule& rule(std::string_view id) {
  for (const auto& r : indicator_rules()) {
    if (id == r.id) return r;
  }
  return indicator_rules().front();  // unreachable: every id used below is in the table
}

Finding make(std::string_view id, const ContainerSnapshot& c, std::string summary) {
  const IndicatorRule& r = rule(id);
  Finding f;
  f.kind = r.kind;
  f.rule = r.id;
  f.severity = r.severity;
  f.container = c.name;
  f.summary = std::move(summary);
  return f;
}

json process_subject(const Process& p) {
  json s = {{"pid", p.pid}};
  if (!p.exe.empty()) s["exe"] = p.exe;
  if (!p.exe_sha256.empty()) s["sha256"] = p.exe_sha256;
  if (!p.comm.empty()) s["comm"] = p.comm;
  if (p.uid) s["uid"] = *p.uid;
  return s;
}

Finding process_finding(std::string_view id, const ContainerSnapshot& c, const Process& p, std::string summary) {
  Finding f = make(id, c, std::move(summary));
  f.subject = process_subject(p);
  f.artifact = c.artifact(Category::executables);
  f.record = detail::process_record(p);
  return f;
}

// The executable without the kernel's " (deleted)" suffix.
std::string_view exe_path(std::string_view exe) {
  constexpr std::string_view k_deleted = " (deleted)";
  if (exe.size() > k_deleted.size() && exe.substr(exe.size() - k_deleted.size()) == k_deleted) {
    exe.remove_suffix(k_deleted.size());
  }
  return exe;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

bool is_shell(std::string_view name) {
  static const std::array<std::string_view, 8> k = {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"};
  return std::find(k.begin(), k.end(), name) != k.end();
}

// Programs that run a script named in their arguments (or, for busybox, an applet named by argv0).
bool is_interpreter(std::string_view name) {
  if (is_shell(name)) return true;
  static const std::array<std::string_view, 9> k = {"env",  "node", "nodejs", "java", "tclsh",
                                                    "pwsh", "deno", "bun",    "awk"};
  if (std::find(k.begin(), k.end(), name) != k.end()) return true;
  for (const std::string_view p : {"python", "perl", "ruby", "php", "lua"}) {
    if (starts_with(name, p)) return true;
  }
  return false;
}

// comm as the kernel sets it from `name` (the basename of the executed file, cut to 15 bytes), or a
// name that starts with it (a symlink "python3" to "python3.11" runs with comm "python3").
bool comm_matches(std::string_view comm, std::string_view name) {
  if (comm.empty() || name.empty()) return false;
  if (comm == name.substr(0, 15)) return true;
  return comm.size() >= 3 && starts_with(name, comm);
}

// ---- the process rules --------------------------------------------------------------------------

void exe_rules(const ContainerSnapshot& c, const Process& p, std::vector<Finding>& out) {
  if (p.exe.empty()) return;
  const std::string_view exe = p.exe;
  if (starts_with(exe, "/memfd:") || starts_with(exe, "memfd:")) {
    out.push_back(process_finding("exe-memfd", c, p,
                                  fmt::format("{} runs from an anonymous memory file", detail::process_label(p))));
  } else if (exe_path(exe).size() != exe.size()) {
    out.push_back(process_finding(
        "exe-deleted", c, p, fmt::format("{}: its executable was deleted after it started", detail::process_label(p))));
  }
  const std::string_view path = exe_path(exe);
  for (const std::string_view dir : {"/tmp", "/var/tmp", "/dev/shm"}) {
    if (detail::path_under(path, dir)) {
      std::string summary = fmt::format("{} runs from {}", detail::process_label(p), dir);
      if (!p.comm.empty() && p.comm != base_name(path).substr(0, 15)) summary += fmt::format(" (comm {})", p.comm);
      out.push_back(process_finding("exe-in-tmp", c, p, std::move(summary)));
      break;
    }
  }
}

bool kernel_thread_like(std::string_view name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') return true;
  for (const std::string_view p : {"kworker", "ksoftirqd", "kthreadd", "kswapd", "migration/", "rcu_", "watchdog/",
                                   "kblockd", "khugepaged", "kdevtmpfs", "kauditd", "jbd2/", "kcompactd"}) {
    if (starts_with(name, p)) return true;
  }
  return false;
}

void name_rules(const ContainerSnapshot& c, const Process& p, std::vector<Finding>& out) {
  if (p.exe.empty()) return;  // kernel threads have no exe; without one nothing can be compared
  const std::string argv0 = p.argv.empty() ? "" : p.argv.front();
  if (kernel_thread_like(p.comm) || kernel_thread_like(argv0)) {
    const std::string& name = kernel_thread_like(p.comm) ? p.comm : argv0;
    out.push_back(process_finding("kernel-thread-name", c, p,
                                  fmt::format("pid {} {} calls itself {}, like a kernel thread", p.pid, p.exe, name)));
  }
  if (p.comm.empty()) return;
  const std::string_view exe_base = base_name(exe_path(p.exe));
  bool explained =
      comm_matches(p.comm, exe_base) || comm_matches(p.comm, argv0) || comm_matches(p.comm, base_name(argv0));
  if (!explained && (is_interpreter(exe_base) || is_interpreter(base_name(argv0)))) {
    // `python3 app.py`, `sh -c ...`, a shebang script (comm is the script's name): look at the
    // arguments an interpreter takes its script from.
    for (std::size_t k = 1; k < p.argv.size() && k <= 3 && !explained; ++k) {
      explained = comm_matches(p.comm, base_name(p.argv[k]));
    }
  }
  // A comm with '/' never comes from exec (it sets the file's basename): it was set on purpose.
  if (p.comm.find('/') != std::string::npos) explained = false;
  if (!explained) {
    out.push_back(
        process_finding("comm-mismatch", c, p, fmt::format("pid {} {} calls itself {}", p.pid, p.exe, p.comm)));
  }
}

std::string lower(std::string_view s) {
  return util::to_lower(s);
}

void miner_rule(const ContainerSnapshot& c, const Process& p, std::vector<Finding>& out) {
  // Substrings of an argument (lower-cased), or a whole argument ("-a rx/0").
  static const std::array<std::string_view, 11> k_marks = {
      "stratum+tcp://",  "stratum+ssl://", "stratum+tls://",
      "stratum2+tcp://", "--donate-level", "--cpu-max-threads-hint",
      "--randomx",       "cryptonight",    "--coin=monero",
      "--nicehash",      "xmrig"};
  for (const auto& arg : p.argv) {
    const std::string a = lower(arg);
    if (a == "rx/0" || a == "--algo=rx/0") {
      out.push_back(process_finding("miner-cmdline", c, p,
                                    fmt::format("{} has cryptominer arguments ({})", detail::process_label(p), a)));
      return;
    }
    for (const auto mark : k_marks) {
      if (a.find(mark) != std::string::npos) {
        out.push_back(process_finding(
            "miner-cmdline", c, p, fmt::format("{} has cryptominer arguments ({})", detail::process_label(p), mark)));
        return;
      }
    }
  }
}

void preload_rule(const ContainerSnapshot& c, const Process& p, std::vector<Finding>& out) {
  if (p.ld_preload != Preload::set) return;
  Finding f = process_finding("ld-preload-env", c, p,
                              fmt::format("{} runs with LD_PRELOAD={}", detail::process_label(p), p.ld_preload_value));
  f.subject["ld_preload"] = p.ld_preload_value;
  out.push_back(std::move(f));
}

// The socket record of inode `inode`, if it is a connection.
const Socket* connection_of(const ContainerSnapshot& c, std::uint64_t inode) {
  for (const auto& s : c.sockets) {
    if (s.inode == inode && detail::is_connection(s)) return &s;
  }
  return nullptr;
}

void stdio_rule(const ContainerSnapshot& c, const Process& p, const AddressNames& names, std::vector<Finding>& out) {
  const std::string argv0 = p.argv.empty() ? "" : std::string(base_name(p.argv.front()));
  if (!is_interpreter(base_name(exe_path(p.exe))) && !is_shell(p.comm) && !is_interpreter(argv0)) return;
  for (const auto& fd : p.sockets) {
    if (fd.fd > 2) continue;
    const Socket* s = connection_of(c, fd.inode);
    if (s == nullptr) continue;
    static const std::array<const char*, 3> k_names = {"stdin", "stdout", "stderr"};
    Finding f = process_finding("shell-socket-stdio", c, p,
                                fmt::format("{} has its {} connected to {}", detail::process_label(p),
                                            k_names[static_cast<std::size_t>(fd.fd)], detail::remote_label(*s, names)));
    f.subject["remote"] = detail::host_port(detail::unmap_ipv4(s->remote_ip), s->remote_port);
    f.subject["proto"] = std::string(detail::proto_family(s->proto));
    if (const auto* n = find_address(names, s->remote_ip)) f.subject["name"] = n->name;
    out.push_back(std::move(f));
    return;
  }
}

// ---- the pod's sockets --------------------------------------------------------------------------

// Which container reports a socket: the one whose process holds it, else the first with sockets.
struct SocketOwner {
  const ContainerSnapshot* container = nullptr;
  const Socket* socket = nullptr;
  const Process* holder = nullptr;
};

std::vector<SocketOwner> pod_sockets(const PodSnapshot& pod) {
  std::vector<SocketOwner> out;
  std::map<std::string, std::size_t> seen;  // key → position in out
  for (const auto& c : pod.containers) {
    for (const auto& s : c.sockets) {
      const std::string key = fmt::format("{} {} {} {} {} {} {}", s.proto, s.local_ip, s.local_port, s.remote_ip,
                                          s.remote_port, s.state, s.inode);
      const Process* holder = detail::holder_of(c, s);
      const auto [it, fresh] = seen.try_emplace(key, out.size());
      if (fresh) {
        out.push_back({&c, &s, holder});
      } else if (out[it->second].holder == nullptr && holder != nullptr) {
        out[it->second] = {&c, &s, holder};
      }
    }
  }
  return out;
}

void socket_rules(const PodSnapshot& pod, const IndicatorContext& ctx, Evaluation& ev) {
  const auto sockets = pod_sockets(pod);
  std::vector<std::uint32_t> listening;
  for (const auto& c : pod.containers) {
    for (const auto port : detail::listening_ports(c)) listening.push_back(port);
  }
  std::sort(listening.begin(), listening.end());

  // mining-pool-port
  const auto& pool = mining_pool_ports();
  for (const auto& o : sockets) {
    const Socket& s = *o.socket;
    if (!detail::is_connection(s) || detail::is_inbound(s, listening)) continue;
    if (std::find(pool.begin(), pool.end(), s.remote_port) == pool.end()) continue;
    const std::string remote = detail::remote_label(s, ctx.addresses);
    Finding f = make("mining-pool-port", *o.container,
                     o.holder != nullptr ? fmt::format("{} → {}, a mining pool port ({})",
                                                       detail::process_label(*o.holder), remote, s.state)
                                         : fmt::format("connection to {}, a mining pool port ({})", remote, s.state));
    f.subject = {{"remote", detail::host_port(detail::unmap_ipv4(s.remote_ip), s.remote_port)},
                 {"proto", std::string(detail::proto_family(s.proto))},
                 {"port", s.remote_port}};
    if (const auto* n = find_address(ctx.addresses, s.remote_ip)) f.subject["name"] = n->name;
    if (o.holder != nullptr) {
      f.subject["pid"] = o.holder->pid;
      if (!o.holder->exe.empty()) f.subject["exe"] = o.holder->exe;
    }
    f.artifact = o.container->artifact(Category::sockets);
    f.record = detail::socket_record(s);
    ev.findings.push_back(std::move(f));
  }

  // undeclared-listen
  const auto& declared = ctx.declared_ports ? ctx.declared_ports : pod.declared_ports;
  if (pod.host_network) {
    ev.gaps.push_back(
        "undeclared-listen: not judged: the pod uses the node's network (hostNetwork), so every socket of the node is "
        "visible");
    return;
  }
  if (!declared) {
    ev.gaps.push_back("undeclared-listen: not judged: the pod's declared ports are unknown");
    return;
  }
  std::set<std::string> reported;
  for (const auto& o : sockets) {
    const Socket& s = *o.socket;
    const std::string family(detail::proto_family(s.proto));
    if (!detail::is_listening(s) || family == "raw") continue;
    const std::string proto = util::to_lower(family);
    const bool is_declared = std::any_of(declared->begin(), declared->end(), [&](const DeclaredPort& d) {
      return d.port == s.local_port && util::to_lower(d.protocol) == proto;
    });
    if (is_declared || !reported.insert(fmt::format("{}:{}:{}", proto, s.local_ip, s.local_port)).second) continue;
    const bool loopback = detail::is_loopback_ip(s.local_ip);
    const std::string where = detail::host_port(detail::unmap_ipv4(s.local_ip), s.local_port);
    Finding f =
        make("undeclared-listen", *o.container,
             o.holder != nullptr ? fmt::format("{} listens on {} {}, not declared in the pod spec",
                                               detail::process_label(*o.holder), proto, where)
                                 : fmt::format("{} {} is listening, not declared in the pod spec", proto, where));
    if (loopback) f.severity = Severity::low;
    f.subject = {{"port", s.local_port}, {"proto", proto}, {"address", s.local_ip}};
    if (o.holder != nullptr) {
      f.subject["pid"] = o.holder->pid;
      if (!o.holder->exe.empty()) f.subject["exe"] = o.holder->exe;
    }
    f.artifact = o.container->artifact(Category::sockets);
    f.record = detail::socket_record(s);
    ev.findings.push_back(std::move(f));
  }
}

}  // namespace

Evaluation evaluate(const PodSnapshot& pod, const IndicatorContext& ctx) {
  Evaluation ev;
  bool any_preload_read = false;
  bool any_process = false;
  for (const auto& c : pod.containers) {
    for (const auto& p : c.processes) {
      if (p.collector) continue;
      any_process = true;
      if (p.ld_preload != Preload::not_read) any_preload_read = true;
      exe_rules(c, p, ev.findings);
      name_rules(c, p, ev.findings);
      miner_rule(c, p, ev.findings);
      preload_rule(c, p, ev.findings);
      stdio_rule(c, p, ctx.addresses, ev.findings);
    }
    if (c.availability(Category::listing).coverage != Coverage::missing) {
      const auto it = std::lower_bound(c.files.begin(), c.files.end(), std::string_view("/etc/ld.so.preload"),
                                       [](const FileEntry& f, std::string_view v) { return f.path < v; });
      if (it != c.files.end() && it->path == "/etc/ld.so.preload") {
        Finding f = make(
            "ld-so-preload", c,
            fmt::format("/etc/ld.so.preload exists ({} bytes): every dynamically linked program loads what it names",
                        it->size));
        f.subject = {{"path", it->path}};
        if (!it->sha256.empty()) f.subject["sha256"] = it->sha256;
        f.artifact = c.artifact(Category::listing);
        f.record = detail::file_record(*it);
        ev.findings.push_back(std::move(f));
      }
    } else {
      ev.gaps.push_back(fmt::format("ld-so-preload: not judged for container {}: no file listing", c.name));
    }
  }
  if (any_process && !any_preload_read) {
    ev.gaps.push_back("ld-preload-env: not judged: the collector did not read LD_PRELOAD of any process");
  }
  socket_rules(pod, ctx, ev);
  return ev;
}

AnalysisDocument indicators_document(const PodSnapshot& pod, const IndicatorContext& context,
                                     const std::string& generated_at) {
  AnalysisDocument d;
  d.kind = DocumentKind::indicators;
  d.pod = pod.pod;
  d.generated_at = generated_at;
  for (const auto& r : indicator_rules()) d.rules.push_back({r.id, r.severity, r.description});
  d.gaps = pod.gaps;
  for (const auto& c : pod.containers) d.gaps.insert(d.gaps.end(), c.gaps.begin(), c.gaps.end());
  Evaluation ev = evaluate(pod, context);
  d.findings = std::move(ev.findings);
  d.gaps.insert(d.gaps.end(), ev.gaps.begin(), ev.gaps.end());
  finalize(d);
  return d;
}

}  // namespace ir::forensics
