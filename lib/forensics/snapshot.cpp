#include "forensics/snapshot.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "forensics/detail.hpp"
#include "util/strings.hpp"

namespace ir::forensics {

using detail::clean_string;
using detail::get_int;
using nlohmann::json;

const char* to_string(Coverage coverage) {
  switch (coverage) {
    case Coverage::collected:
      return "collected";
    case Coverage::partial:
      return "partial";
    case Coverage::missing:
      return "missing";
  }
  return "missing";
}

const char* to_string(Category category) {
  switch (category) {
    case Category::processes:
      return "processes";
    case Category::executables:
      return "executables";
    case Category::exe_hashes:
      return "executable hashes";
    case Category::sockets:
      return "sockets";
    case Category::listing:
      return "file listing";
    case Category::file_hashes:
      return "file hashes";
  }
  return "?";
}

std::string ContainerSnapshot::artifact(Category category) const {
  switch (category) {
    case Category::processes:
    case Category::executables:
      if (!processes.empty() && processes.front().source == ProcessSource::ps) return dir + "processes/ps.json";
      return dir + "processes/processes.json";
    case Category::exe_hashes:
    case Category::file_hashes:
      return dir + "filesystem/hashes.json";
    case Category::sockets:
      return dir + "network/sockets.json";
    case Category::listing:
      return dir + "filesystem/listing.jsonl";
  }
  return dir;
}

// ---- JSON ---------------------------------------------------------------------------------------

namespace {

// Line and column (1-based) of byte `offset` of `text`.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

Result<json> parse_bounded_json(std::string_view text, std::size_t max_bytes, std::size_t max_depth) {
  if (text.size() > max_bytes) {
    return fail(Errc::protocol, fmt::format("{} bytes, more than the {} accepted", text.size(), max_bytes));
  }
  // Nesting is checked before parsing: nothing deep enough to exhaust a stack reaches the parser.
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        const auto [line, column] = line_column(text, i);
        return fail(Errc::protocol,
                    fmt::format("line {}, column {}: nested deeper than {} levels", line, column, max_depth));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    const auto [line, column] = line_column(text, e.byte > 0 ? e.byte - 1 : 0);
    // nlohmann's message quotes the last token read: escape it, it is input.
    return fail(Errc::protocol, fmt::format("line {}, column {}: not valid JSON ({})", line, column,
                                            util::escape_for_terminal(e.what(), 200)));
  } catch (const std::exception& e) {
    return fail(Errc::protocol, fmt::format("not valid JSON ({})", util::escape_for_terminal(e.what(), 200)));
  }
}

// ---- pod facts ----------------------------------------------------------------------------------

std::string digest_of_image_id(std::string_view image_id) {
  const auto at = image_id.rfind('@');
  if (at != std::string_view::npos) return std::string(image_id.substr(at + 1));
  constexpr std::string_view k_docker = "docker://";
  if (image_id.rfind(k_docker, 0) == 0) return std::string(image_id.substr(k_docker.size()));
  return std::string(image_id);
}

PodFacts pod_facts(const json& pod) {
  PodFacts f;
  if (!pod.is_object()) return f;
  constexpr std::size_t k_max = 512;
  const json meta = pod.value("metadata", json::object());
  const json spec = pod.value("spec", json::object());
  const json status = pod.value("status", json::object());
  if (meta.is_object()) {
    f.pod.namespace_name = clean_string(meta.value("namespace", json()), k_max);
    f.pod.name = clean_string(meta.value("name", json()), k_max);
    f.pod.uid = clean_string(meta.value("uid", json()), k_max);
  }
  if (spec.is_object()) {
    f.node = clean_string(spec.value("nodeName", json()), k_max);
    f.hostname = clean_string(spec.value("hostname", json()), k_max);
    f.host_network = spec.value("hostNetwork", json()).is_boolean() && spec["hostNetwork"].get<bool>();
    const json containers = spec.value("containers", json::array());
    if (containers.is_array()) {
      for (const auto& c : containers) {
        if (!c.is_object()) continue;
        const std::string name = clean_string(c.value("name", json()), k_max);
        if (!name.empty() && f.containers.size() < 256) f.containers.push_back(name);
        const json ports = c.value("ports", json::array());
        if (!ports.is_array()) continue;
        for (const auto& p : ports) {
          const auto port = get_int(p, "containerPort", 1, 65535);
          if (!port || f.declared_ports.size() >= 1024) continue;
          std::string proto = p.is_object() ? clean_string(p.value("protocol", json("TCP")), 16) : "TCP";
          if (proto.empty()) proto = "TCP";
          f.declared_ports.push_back({proto, static_cast<std::uint32_t>(*port)});
        }
      }
    }
  }
  if (f.hostname.empty()) f.hostname = f.pod.name;
  if (status.is_object()) {
    const json ips = status.value("podIPs", json::array());
    if (ips.is_array()) {
      for (const auto& ip : ips) {
        if (ip.is_object() && f.ips.size() < 8) {
          const std::string s = clean_string(ip.value("ip", json()), 64);
          if (!s.empty()) f.ips.push_back(s);
        }
      }
    }
    const std::string ip = clean_string(status.value("podIP", json()), 64);
    if (!ip.empty() && std::find(f.ips.begin(), f.ips.end(), ip) == f.ips.end()) f.ips.push_back(ip);
    const json statuses = status.value("containerStatuses", json::array());
    if (statuses.is_array()) {
      for (const auto& cs : statuses) {
        if (!cs.is_object() || f.digests.size() >= 256) continue;
        const std::string name = clean_string(cs.value("name", json()), k_max);
        const std::string id = clean_string(cs.value("imageID", json()), 1024);
        if (!name.empty() && !id.empty()) f.digests.emplace_back(name, digest_of_image_id(id));
      }
    }
  }
  return f;
}

PodSnapshot pod_snapshot(const PodFacts& facts) {
  PodSnapshot s;
  s.pod = facts.pod;
  s.node = facts.node;
  s.ips = facts.ips;
  s.hostname = facts.hostname;
  s.host_network = facts.host_network;
  s.declared_ports = facts.declared_ports;
  return s;
}

// ---- the builder --------------------------------------------------------------------------------

namespace {

// The listing, line by line, into the builder's files.
class ListingLines final : public util::Sink {
 public:
  ListingLines(const SnapshotLimits& limits, std::vector<FileEntry>& files) : m_limits(limits), m_files(files) {}

  Result<void> write(std::string_view data) override {
    m_bytes += data.size();
    while (!data.empty()) {
      const auto nl = data.find('\n');
      const std::string_view piece = data.substr(0, nl);
      if (!m_skipping) {
        if (m_line.size() + piece.size() > m_limits.max_line_bytes) {
          m_skipping = true;
          m_line.clear();
        } else {
          m_line.append(piece);
        }
      }
      if (nl == std::string_view::npos) break;
      end_line();
      data.remove_prefix(nl + 1);
    }
    return {};
  }

  Result<void> finish() override {
    if (!m_line.empty() || m_skipping) {
      end_line();
      ++truncated;  // the last line had no '\n': cut
    }
    finished = true;
    return {};
  }

  std::size_t lines = 0;
  std::size_t entries = 0;
  std::size_t unparsed = 0;  // the parser's own unparsed records
  std::size_t bad = 0;       // lines that are not JSON objects of a known kind
  std::size_t overlong = 0;
  std::size_t dropped = 0;  // entries over max_files
  std::size_t truncated = 0;
  bool finished = false;
  bool used = false;

 private:
  void end_line() {
    used = true;
    ++lines;
    if (m_skipping) {
      ++overlong;
      m_skipping = false;
      m_line.clear();
      return;
    }
    if (m_line.empty()) return;
    auto parsed = parse_bounded_json(m_line, m_limits.max_line_bytes, 4);
    m_line.clear();
    if (!parsed || !parsed->is_object()) {
      ++bad;
      return;
    }
    const json& r = *parsed;
    const std::string kind = r.value("kind", json()).is_string() ? r["kind"].get<std::string>() : "";
    if (kind == "unparsed") {
      ++unparsed;
      return;
    }
    if (kind != "entry") {
      ++bad;
      return;
    }
    if (m_files.size() >= m_limits.max_files) {
      ++dropped;
      return;
    }
    FileEntry e;
    e.line = lines;
    e.path = clean_string(r.value("path", json()), m_limits.max_string_bytes);
    if (e.path.empty() || e.path[0] != '/') {
      ++bad;
      return;
    }
    const std::string type = r.value("type", json()).is_string() ? r["type"].get<std::string>() : "";
    static const std::pair<const char*, char> k_types[] = {
        {"file", 'f'}, {"dir", 'd'}, {"symlink", 'l'}, {"block", 'b'}, {"char", 'c'}, {"fifo", 'p'}, {"socket", 's'}};
    e.type = '?';
    for (const auto& [name, letter] : k_types) {
      if (type == name) e.type = letter;
    }
    e.size = static_cast<std::uint64_t>(get_int(r, "size", 0, INT64_MAX).value_or(0));
    const std::string mode = r.value("mode", json()).is_string() ? r["mode"].get<std::string>() : "";
    std::uint32_t m = 0;
    bool mode_ok = !mode.empty() && mode.size() <= 6;
    for (const char c : mode) {
      if (c < '0' || c > '7')
        mode_ok = false;
      else
        m = m * 8 + static_cast<std::uint32_t>(c - '0');
    }
    e.mode = mode_ok ? (m & 07777U) : 0;
    e.uid = static_cast<std::uint32_t>(get_int(r, "uid", 0, UINT32_MAX).value_or(0));
    e.gid = static_cast<std::uint32_t>(get_int(r, "gid", 0, UINT32_MAX).value_or(0));
    e.mtime = clean_string(r.value("mtime", json()), 64);
    e.target = clean_string(r.value("target", json()), m_limits.max_string_bytes);
    const json flags = r.value("flags", json::array());
    if (flags.is_array()) {
      for (const auto& f : flags) {
        if (e.flags.size() < 8) e.flags.push_back(clean_string(f, 64));
      }
    }
    ++entries;
    m_files.push_back(std::move(e));
  }

  const SnapshotLimits& m_limits;
  std::vector<FileEntry>& m_files;
  std::string m_line;
  bool m_skipping = false;
  std::size_t m_bytes = 0;
};

std::vector<std::string> string_list(const json& j, std::size_t max_items, std::size_t max_bytes) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (out.size() >= max_items) break;
    if (v.is_string()) out.push_back(clean_string(v, max_bytes));
  }
  return out;
}

std::vector<std::string> split_args(std::string_view args, std::size_t max_items) {
  std::vector<std::string> out;
  for (const auto& part : util::split(args, ' ')) {
    if (part.empty()) continue;
    if (out.size() >= max_items) break;
    out.push_back(part);
  }
  return out;
}

bool looks_like_walk_script(std::string_view arg) {
  // "B=<32 hex>\nM=" escaped: the first line of procfs::proc_walk_script.
  if (arg.size() < 38 || arg.compare(0, 2, "B=") != 0) return false;
  for (std::size_t i = 2; i < 34; ++i) {
    const char c = arg[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return arg.compare(34, 4, "\\nM=") == 0;
}

}  // namespace

struct ContainerSnapshotBuilder::Impl {
  SnapshotLimits limits;
  ContainerSnapshot snap;
  bool processes_seen = false;
  bool sockets_seen = false;
  bool hashes_seen = false;
  std::vector<Process> walk;
  std::vector<Process> ps;
  std::string ps_command;
  std::vector<std::string> process_notes;
  std::unordered_map<std::string, std::string> exe_hashes;   // exe path → sha256
  std::unordered_map<std::string, std::string> file_hashes;  // path → sha256
  std::size_t exe_hash_entries = 0;
  std::size_t exe_hash_incomplete = 0;
  std::size_t file_hash_incomplete = 0;
  std::size_t file_hash_unexpected = 0;
  std::vector<std::string> hash_problems;
  std::unique_ptr<ListingLines> listing;
  std::vector<std::pair<Category, std::string>> missing;  // category, why
  std::string walk_script;

  void note(Category category, Coverage coverage, std::string why) {
    Availability& a = snap.availability(category);
    a.coverage = coverage;
    a.why = std::move(why);
  }
};

ContainerSnapshotBuilder::ContainerSnapshotBuilder(std::string container, std::string dir, SnapshotLimits limits)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->limits = limits;
  m_impl->snap.name = detail::clean_text(container, 256);
  m_impl->snap.dir = std::move(dir);
  m_impl->listing = std::make_unique<ListingLines>(m_impl->limits, m_impl->snap.files);
}

ContainerSnapshotBuilder::~ContainerSnapshotBuilder() = default;

void ContainerSnapshotBuilder::set_digest(std::string digest) {
  m_impl->snap.digest = detail::clean_text(digest, 256);
}

void ContainerSnapshotBuilder::add_processes(const json& document, std::string_view walk_script) {
  auto& im = *m_impl;
  const auto& lim = im.limits;
  im.processes_seen = true;
  im.walk_script = walk_script.empty() ? "" : util::escape_for_terminal(walk_script, 4096);
  const json records = document.is_object() ? document.value("records", json()) : json();
  if (!records.is_array()) {
    im.missing.emplace_back(Category::processes, "processes.json: no \"records\" array");
    return;
  }
  std::size_t index = 0;
  std::size_t capped = 0;
  std::unordered_set<std::int64_t> pids;
  for (const auto& r : records) {
    const std::size_t i = index++;
    if (!r.is_object() || r.value("kind", json()) != "process" || r.value("source", json()) != "walk") continue;
    const auto pid = get_int(r, "pid", 1, INT32_MAX);
    if (!pid || !pids.insert(*pid).second) continue;
    if (im.walk.size() >= lim.max_processes) {
      ++capped;
      continue;
    }
    Process p;
    p.index = i;
    p.source = ProcessSource::walk;
    p.pid = *pid;
    p.ppid = get_int(r, "ppid", 0, INT32_MAX).value_or(0);
    const json uid = r.value("uid", json());
    if (const auto e = get_int(uid, "effective", 0, UINT32_MAX)) p.uid = static_cast<std::uint32_t>(*e);
    if (const auto e = get_int(uid, "real", 0, UINT32_MAX)) p.real_uid = static_cast<std::uint32_t>(*e);
    p.comm = clean_string(r.value("comm", json()), 64);
    p.state = clean_string(r.value("state", json()), 8);
    if (const auto st = get_int(r, "starttime", 0, INT64_MAX)) p.start_time = static_cast<std::uint64_t>(*st);
    p.argv = string_list(r.value("cmdline", json()), lim.max_argv, lim.max_string_bytes);
    p.exe = clean_string(r.value("exe", json()), lim.max_string_bytes);
    p.cwd = clean_string(r.value("cwd", json()), lim.max_string_bytes);
    if (r.contains("ld_preload")) {
      const json& v = r["ld_preload"];
      if (v.is_null()) {
        p.ld_preload = Preload::unset;
      } else if (v.is_string()) {
        p.ld_preload = v.get_ref<const std::string&>().empty() ? Preload::unset : Preload::set;
        p.ld_preload_value = clean_string(v, lim.max_string_bytes);
      }
    }
    const json sockets = r.value("sockets", json::array());
    if (sockets.is_array()) {
      for (const auto& s : sockets) {
        const auto fd = get_int(s, "fd", 0, INT32_MAX);
        const auto inode = get_int(s, "inode", 1, INT64_MAX);
        if (fd && inode && p.sockets.size() < 1024) p.sockets.push_back({*fd, static_cast<std::uint64_t>(*inode)});
      }
    }
    p.flags = string_list(r.value("flags", json()), 16, 64);
    im.walk.push_back(std::move(p));
  }
  const auto anomalies = string_list(document.value("anomalies", json()), 4, 300);
  if (!anomalies.empty()) {
    const bool tampering = anomalies.front().rfind("tampering suspected", 0) == 0;
    im.process_notes.push_back(std::string(tampering ? "the walk reports tampering: " : "the walk reports: ") +
                               anomalies.front());
  }
  const auto dropped = get_int(document, "dropped", 0, INT64_MAX).value_or(0);
  if (dropped > 0)
    im.process_notes.push_back(fmt::format("{} processes over the walk's limit were not recorded", dropped));
  if (capped > 0) im.process_notes.push_back(fmt::format("{} processes over the analysis limit were left out", capped));
}

void ContainerSnapshotBuilder::add_ps(const json& document) {
  auto& im = *m_impl;
  const auto& lim = im.limits;
  const json records = document.is_object() ? document.value("records", json()) : json();
  if (!records.is_array()) return;
  im.ps_command = clean_string(document.value("command", json()), 1024);
  std::size_t index = 0;
  std::unordered_set<std::int64_t> pids;
  for (const auto& r : records) {
    const std::size_t i = index++;
    if (!r.is_object() || r.value("kind", json()) != "process" || im.ps.size() >= lim.max_processes) continue;
    const auto pid = get_int(r, "pid", 1, INT32_MAX);
    if (!pid || !pids.insert(*pid).second) continue;
    Process p;
    p.index = i;
    p.source = ProcessSource::ps;
    p.pid = *pid;
    p.ppid = get_int(r, "ppid", 0, INT32_MAX).value_or(0);
    if (const auto u = get_int(r, "uid", 0, UINT32_MAX)) p.uid = static_cast<std::uint32_t>(*u);
    p.user = clean_string(r.value("user", json()), 64);
    p.comm = clean_string(r.value("comm", json()), 64);
    p.state = clean_string(r.value("stat", json()), 8);
    const std::string args = clean_string(r.value("args", json()), lim.max_string_bytes);
    p.argv = split_args(args, lim.max_argv);
    if (p.comm.empty() && !p.argv.empty()) p.comm = std::string(detail::base_name(p.argv[0])).substr(0, 15);
    // kubectl-ir's own ps: its exact command line, started from outside the container.
    p.collector = p.ppid == 0 && !im.ps_command.empty() && args == im.ps_command;
    im.ps.push_back(std::move(p));
  }
}

void ContainerSnapshotBuilder::add_sockets(const json& document) {
  auto& im = *m_impl;
  const auto& lim = im.limits;
  im.sockets_seen = true;
  const json sockets = document.is_object() ? document.value("sockets", json()) : json();
  if (!sockets.is_array()) {
    im.missing.emplace_back(Category::sockets, "sockets.json: no \"sockets\" array");
    return;
  }
  std::size_t index = 0;
  std::size_t capped = 0;
  for (const auto& s : sockets) {
    const std::size_t i = index++;
    if (!s.is_object()) continue;
    const json kind = s.value("kind", json());
    if (kind == "unix_socket") {
      ++im.snap.unix_sockets;
      continue;
    }
    if (kind != "socket") continue;
    if (im.snap.sockets.size() >= lim.max_sockets) {
      ++capped;
      continue;
    }
    Socket k;
    k.index = i;
    k.proto = clean_string(s.value("proto", json()), 8);
    if (k.proto != "tcp" && k.proto != "tcp6" && k.proto != "udp" && k.proto != "udp6" && k.proto != "raw" &&
        k.proto != "raw6") {
      continue;
    }
    k.local_ip = clean_string(s.value("local_ip", json()), 64);
    k.remote_ip = clean_string(s.value("remote_ip", json()), 64);
    k.local_port = static_cast<std::uint32_t>(get_int(s, "local_port", 0, 65535).value_or(0));
    k.remote_port = static_cast<std::uint32_t>(get_int(s, "remote_port", 0, 65535).value_or(0));
    k.state = clean_string(s.value("state", json()), 32);
    k.inode = static_cast<std::uint64_t>(get_int(s, "inode", 0, INT64_MAX).value_or(0));
    k.uid = static_cast<std::uint32_t>(get_int(s, "uid", 0, UINT32_MAX).value_or(0));
    const json pids = s.value("pids", json::array());
    if (pids.is_array()) {
      for (const auto& p : pids) {
        if (p.is_number_integer() && k.pids.size() < 64) {
          const auto v = p.get<std::int64_t>();
          if (v > 0 && v <= INT32_MAX) k.pids.push_back(v);
        }
      }
    }
    im.snap.sockets.push_back(std::move(k));
  }
  std::vector<std::string> notes;
  const auto anomalies = string_list(document.value("anomalies", json()), 2, 300);
  if (!anomalies.empty()) notes.push_back("the parser reports: " + anomalies.front());
  if (capped > 0) notes.push_back(fmt::format("{} sockets over the analysis limit were left out", capped));
  im.note(Category::sockets, notes.empty() ? Coverage::collected : Coverage::partial, util::join(notes, "; "));
}

util::Sink& ContainerSnapshotBuilder::listing() {
  return *m_impl->listing;
}

void ContainerSnapshotBuilder::add_hashes(const json& document) {
  auto& im = *m_impl;
  const auto& lim = im.limits;
  if (!document.is_object()) {
    im.missing.emplace_back(Category::exe_hashes, "hashes.json: not an object");
    im.missing.emplace_back(Category::file_hashes, "hashes.json: not an object");
    return;
  }
  im.hashes_seen = true;
  std::size_t read = 0;
  const json exes = document.value("executables", json());
  if (exes.is_array()) {
    for (const auto& e : exes) {
      if (read >= lim.max_hashes) break;
      ++read;
      if (!e.is_object()) continue;
      ++im.exe_hash_entries;
      const std::string path = clean_string(e.value("path", json()), lim.max_string_bytes);
      const std::string sha = clean_string(e.value("sha256", json()), 80);
      if (e.value("complete", json()) != true || !detail::is_sha256_hex(sha) || path.empty()) {
        ++im.exe_hash_incomplete;
        continue;
      }
      im.exe_hashes.emplace(path, sha);
    }
  }
  const json files = document.value("files", json());
  if (files.is_array()) {
    for (const auto& f : files) {
      if (read >= lim.max_hashes) break;
      ++read;
      if (!f.is_object()) continue;
      if (f.contains("problem")) {
        if (im.hash_problems.size() < 2) im.hash_problems.push_back(clean_string(f["problem"], 300));
        continue;
      }
      if (f.value("unexpected", json()) == true) {  // a member the container's tar added on its own
        ++im.file_hash_unexpected;
        continue;
      }
      if (f.value("type", json()) != "file") continue;
      const std::string name = clean_string(f.value("name", json()), lim.max_string_bytes);
      const std::string sha = clean_string(f.value("sha256", json()), 80);
      if (f.value("complete", json()) != true || !detail::is_sha256_hex(sha) || name.empty()) {
        ++im.file_hash_incomplete;
        continue;
      }
      im.file_hashes.emplace(name[0] == '/' ? name : "/" + name, sha);
    }
  }
  im.snap.hashed_roots = string_list(document.value("roots", json()), 256, lim.max_string_bytes);
  if (document.contains("problem"))
    im.hash_problems.insert(im.hash_problems.begin(), clean_string(document["problem"], 300));
}

void ContainerSnapshotBuilder::missing(Category category, const std::string& artifact, const std::string& why) {
  auto& im = *m_impl;
  const std::string text = artifact + ": " + why;
  if (category == Category::exe_hashes || category == Category::file_hashes) {
    im.missing.emplace_back(Category::exe_hashes, text);
    im.missing.emplace_back(Category::file_hashes, text);
    return;
  }
  if (category == Category::processes && artifact.find("ps.json") != std::string::npos) return;  // only a fallback
  im.missing.emplace_back(category, text);
  if (category == Category::processes) im.missing.emplace_back(Category::executables, text);
}

ContainerSnapshot ContainerSnapshotBuilder::finish() {
  auto& im = *m_impl;
  ContainerSnapshot& s = im.snap;
  const std::string who = "of container " + s.name;

  // Processes: the walk, else ps (no exe paths then).
  if (!im.walk.empty()) {
    s.processes = std::move(im.walk);
    for (auto& p : s.processes) {
      // kubectl-ir's own walk shell: exactly our script, started from outside the container.
      const bool ours = p.ppid == 0 && p.argv.size() == 3 && p.argv[0] == "sh" && p.argv[1] == "-c" &&
                        (im.walk_script.empty() ? looks_like_walk_script(p.argv[2]) : p.argv[2] == im.walk_script);
      p.collector = ours;
    }
    im.note(Category::processes, im.process_notes.empty() ? Coverage::collected : Coverage::partial,
            util::join(im.process_notes, "; "));
    std::size_t with_exe = 0;
    for (const auto& p : s.processes) {
      if (!p.exe.empty()) ++with_exe;
    }
    if (with_exe == 0) {
      im.note(Category::executables, Coverage::missing,
              "the walk could not read any exe link (no readlink in the image?)");
    } else if (with_exe < s.processes.size()) {
      im.note(Category::executables, Coverage::partial,
              fmt::format("exe links of {} of {} processes could not be read", s.processes.size() - with_exe,
                          s.processes.size()));
    } else {
      im.note(Category::executables, Coverage::collected, "");
    }
  } else if (!im.ps.empty()) {
    s.processes = std::move(im.ps);
    im.note(Category::processes, Coverage::partial, "from ps only: no /proc walk (uids, fds and LD_PRELOAD unknown)");
    im.note(Category::executables, Coverage::missing, "ps gives no exe paths");
  } else if (im.processes_seen) {
    im.note(Category::processes, Coverage::missing, "processes.json: no process records");
    im.note(Category::executables, Coverage::missing, "processes.json: no process records");
  } else {
    im.note(Category::processes, Coverage::missing, "processes.json: not provided");
    im.note(Category::executables, Coverage::missing, "processes.json: not provided");
  }
  std::sort(s.processes.begin(), s.processes.end(), [](const Process& a, const Process& b) { return a.pid < b.pid; });

  // Executable hashes.
  if (im.hashes_seen) {
    std::size_t running_exes = 0;
    std::unordered_set<std::string> seen;
    for (auto& p : s.processes) {
      if (p.exe.empty()) continue;
      if (seen.insert(p.exe).second) ++running_exes;
      const auto it = im.exe_hashes.find(p.exe);
      if (it != im.exe_hashes.end()) {
        p.exe_sha256 = it->second;
      }
    }
    if (running_exes == 0) {
      im.note(Category::exe_hashes, Coverage::missing, "no executable paths to hash");
    } else if (im.exe_hashes.empty()) {
      im.note(Category::exe_hashes, Coverage::missing,
              im.exe_hash_entries == 0 ? "hashes.json lists no executables" : "no executable could be read whole");
    } else if (im.exe_hash_incomplete > 0 || im.exe_hashes.size() < running_exes) {
      im.note(Category::exe_hashes, Coverage::partial,
              fmt::format("{} of {} running executables hashed", std::min(im.exe_hashes.size(), running_exes),
                          running_exes));
    } else {
      im.note(Category::exe_hashes, Coverage::collected, "");
    }
    std::vector<std::string> notes;
    if (!im.hash_problems.empty()) notes.push_back(im.hash_problems.front());
    if (im.file_hash_incomplete > 0)
      notes.push_back(fmt::format("{} files could not be read whole", im.file_hash_incomplete));
    if (im.file_hash_unexpected > 0) {
      notes.push_back(
          fmt::format("{} members the container's tar added unasked were ignored", im.file_hash_unexpected));
    }
    im.note(Category::file_hashes, notes.empty() ? Coverage::collected : Coverage::partial, util::join(notes, "; "));
  } else {
    im.note(Category::exe_hashes, Coverage::missing, "hashes.json: not provided");
    im.note(Category::file_hashes, Coverage::missing, "hashes.json: not provided");
  }

  // Sockets.
  if (!im.sockets_seen) im.note(Category::sockets, Coverage::missing, "sockets.json: not provided");

  // The listing.
  auto& l = *im.listing;
  if (!l.used) {
    im.note(Category::listing, Coverage::missing, "listing.jsonl: not provided");
  } else {
    std::vector<std::string> notes;
    if (l.truncated > 0) notes.push_back("the listing ends in a cut line");
    if (l.dropped > 0) notes.push_back(fmt::format("{} entries over the analysis limit were left out", l.dropped));
    if (l.overlong + l.bad > 0) notes.push_back(fmt::format("{} lines were not listing records", l.overlong + l.bad));
    if (l.unparsed > 0) notes.push_back(fmt::format("the listing parser could not parse {} records", l.unparsed));
    im.note(Category::listing, notes.empty() ? Coverage::collected : Coverage::partial, util::join(notes, "; "));
  }
  std::stable_sort(s.files.begin(), s.files.end(),
                   [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  s.files.erase(std::unique(s.files.begin(), s.files.end(),
                            [](const FileEntry& a, const FileEntry& b) { return a.path == b.path; }),
                s.files.end());
  for (auto& f : s.files) {
    if (f.type != 'f') continue;
    const auto it = im.file_hashes.find(f.path);
    if (it != im.file_hashes.end()) f.sha256 = it->second;
  }

  // What the caller said is missing, where nothing else came in for it (ps may stand in for the
  // walk; a document of the wrong shape was recorded here too).
  for (const auto& [category, why] : im.missing) {
    const bool have = (category == Category::processes || category == Category::executables) ? !s.processes.empty()
                      : category == Category::sockets                                        ? !s.sockets.empty()
                      : category == Category::listing                                        ? !s.files.empty()
                                                                                             : false;
    if (category == Category::executables && !s.processes.empty()) continue;
    if (!have) im.note(category, Coverage::missing, why);
  }

  for (const Category c : {Category::processes, Category::executables, Category::exe_hashes, Category::sockets,
                           Category::listing, Category::file_hashes}) {
    const Availability& a = s.availability(c);
    if (a.coverage == Coverage::collected) continue;
    // Said once: no processes implies no exe paths, no exe paths implies no exe hashes.
    if (c == Category::executables && s.availability(Category::processes).coverage == Coverage::missing) continue;
    if (c == Category::exe_hashes && s.availability(Category::executables).coverage == Coverage::missing) continue;
    s.gaps.push_back(fmt::format("{} {}: {} ({})", to_string(c), who,
                                 a.coverage == Coverage::missing ? "not collected" : "partial", a.why));
  }
  return std::move(s);
}

// ---- from a bundle ------------------------------------------------------------------------------

namespace {

// Reads and parses one JSON artifact; a failure becomes `missing` on the builder.
std::optional<json> read_json(const ArtifactReader& read, const std::string& path, const SnapshotLimits& limits,
                              ContainerSnapshotBuilder& builder, Category category, bool* absent = nullptr) {
  const std::string name = std::string(detail::base_name(path));
  auto text = read(path, limits.max_json_bytes);
  if (!text) {
    if (absent != nullptr) *absent = text.error().code == Errc::not_found;
    builder.missing(category, name, text.error().code == Errc::not_found ? "not in the bundle" : text.error().message);
    return std::nullopt;
  }
  auto parsed = parse_bounded_json(*text, limits.max_json_bytes, limits.max_depth);
  if (!parsed) {
    builder.missing(category, name, parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

}  // namespace

ContainerSnapshot read_container_snapshot(const std::string& container, const std::string& dir_name,
                                          const std::string& prefix, const ArtifactReader& read,
                                          const SnapshotLimits& limits) {
  const std::string dir = prefix + "containers/" + dir_name + "/";
  ContainerSnapshotBuilder b(container, dir, limits);
  bool absent = false;
  std::size_t absent_count = 0;
  std::string script;
  if (auto s = read(dir + "processes/proc-walk.sh", 64 * 1024)) script = std::move(*s);
  if (auto doc = read_json(read, dir + "processes/processes.json", limits, b, Category::processes, &absent)) {
    b.add_processes(*doc, script);
  } else if (absent) {
    ++absent_count;
  }
  absent = false;
  if (auto doc = read_json(read, dir + "processes/ps.json", limits, b, Category::processes, &absent)) b.add_ps(*doc);
  absent = false;
  if (auto doc = read_json(read, dir + "network/sockets.json", limits, b, Category::sockets, &absent)) {
    b.add_sockets(*doc);
  } else if (absent) {
    ++absent_count;
  }
  absent = false;
  if (auto doc = read_json(read, dir + "filesystem/hashes.json", limits, b, Category::file_hashes, &absent)) {
    b.add_hashes(*doc);
  } else if (absent) {
    ++absent_count;
  }
  auto listing = read(dir + "filesystem/listing.jsonl", limits.max_listing_bytes);
  if (listing) {
    (void)b.listing().write(*listing);
    (void)b.listing().finish();
  } else {
    if (listing.error().code == Errc::not_found) ++absent_count;
    b.missing(Category::listing, "listing.jsonl",
              listing.error().code == Errc::not_found ? "not in the bundle" : listing.error().message);
  }
  ContainerSnapshot snap = b.finish();
  if (absent_count == 4) {  // nothing at all: say it once
    snap.gaps.clear();
    snap.gaps.push_back(fmt::format("container {}: no processes, sockets or files in the bundle", snap.name));
  }
  return snap;
}

PodSnapshot read_pod_snapshot(const std::string& prefix, const ArtifactReader& read,
                              const std::function<std::string(const std::string&)>& dir_name,
                              const SnapshotLimits& limits) {
  PodSnapshot pod;
  auto text = read(prefix + "pod/pod.json", limits.max_json_bytes);
  if (!text) {
    pod.gaps.push_back(
        "pod/pod.json: " +
        (text.error().code == Errc::not_found ? std::string("not in the bundle") : text.error().message) +
        ": the pod's containers, IPs and declared ports are unknown");
    return pod;
  }
  auto parsed = parse_bounded_json(*text, limits.max_json_bytes, limits.max_depth);
  if (!parsed) {
    pod.gaps.push_back("pod/pod.json: " + parsed.error().message +
                       ": the pod's containers, IPs and declared ports are unknown");
    return pod;
  }
  const PodFacts facts = pod_facts(*parsed);
  pod = pod_snapshot(facts);
  for (const auto& name : facts.containers) {
    ContainerSnapshot c = read_container_snapshot(name, dir_name(name), prefix, read, limits);
    for (const auto& [n, digest] : facts.digests) {
      if (n == name) c.digest = digest;
    }
    pod.containers.push_back(std::move(c));
  }
  return pod;
}

}  // namespace ir::forensics
