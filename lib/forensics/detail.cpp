#include "forensics/detail.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::forensics::detail {

namespace {

// Printable UTF-8: valid, and no C0 control, DEL or C1 control (U+0080..U+009F, encoded C2 80..9F).
bool printable_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size()) {
      const auto d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9F) return false;
    }
  }
  return util::is_valid_utf8(s);
}

}  // namespace

std::string clean_text(std::string_view text, std::size_t max_bytes) {
  if (!printable_utf8(text)) return util::escape_for_terminal(text, max_bytes);
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // a character boundary
  return fmt::format("{}...({} more bytes)", text.substr(0, cut), text.size() - cut);
}

std::string clean_string(const nlohmann::json& value, std::size_t max_bytes) {
  if (!value.is_string()) return {};
  return clean_text(value.get_ref<const std::string&>(), max_bytes);
}

std::optional<std::int64_t> get_int(const nlohmann::json& j, const char* key, std::int64_t min, std::int64_t max) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  std::int64_t v = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    v = static_cast<std::int64_t>(u);
  } else if (it->is_number_integer()) {
    v = it->get<std::int64_t>();
  } else {
    return std::nullopt;
  }
  if (v < min || v > max) return std::nullopt;
  return v;
}

std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool path_under(std::string_view path, std::string_view dir) {
  if (dir.empty()) return false;
  if (dir == "/") return !path.empty() && path[0] == '/';
  if (dir.back() == '/') dir.remove_suffix(1);
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string_view unmap_ipv4(std::string_view ip) {
  constexpr std::string_view k_mapped = "::ffff:";
  if (ip.size() > k_mapped.size() && ip.compare(0, k_mapped.size(), k_mapped) == 0 &&
      ip.find('.') != std::string_view::npos) {
    return ip.substr(k_mapped.size());
  }
  return ip;
}

bool is_wildcard_ip(std::string_view ip) {
  return ip == "0.0.0.0" || ip == "::";
}

bool is_loopback_ip(std::string_view ip) {
  ip = unmap_ipv4(ip);
  return ip == "::1" || ip.rfind("127.", 0) == 0;
}

std::string_view proto_family(std::string_view proto) {
  if (proto.size() > 1 && proto.back() == '6') return proto.substr(0, proto.size() - 1);
  return proto;
}

std::string host_port(std::string_view ip, std::uint32_t port) {
  if (ip.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", ip, port);
  return fmt::format("{}:{}", ip, port);
}

using nlohmann::json;

json process_record(const Process& p) {
  json r = {{"pid", p.pid}, {"ppid", p.ppid}};
  r["index"] = p.index;
  r["source"] = p.source == ProcessSource::walk ? "walk" : "ps";
  if (!p.comm.empty()) r["comm"] = p.comm;
  if (!p.exe.empty()) r["exe"] = p.exe;
  if (!p.exe_sha256.empty()) r["exe_sha256"] = p.exe_sha256;
  r["cmdline"] = p.argv;
  if (!p.cwd.empty()) r["cwd"] = p.cwd;
  if (p.uid) r["uid"] = *p.uid;
  if (p.real_uid) r["real_uid"] = *p.real_uid;
  if (!p.user.empty()) r["user"] = p.user;
  if (p.start_time) r["starttime"] = *p.start_time;
  if (p.ld_preload == Preload::set) r["ld_preload"] = p.ld_preload_value;
  if (!p.sockets.empty()) {
    json fds = json::array();
    for (const auto& s : p.sockets) fds.push_back({{"fd", s.fd}, {"inode", s.inode}});
    r["sockets"] = std::move(fds);
  }
  if (!p.flags.empty()) r["flags"] = p.flags;
  return r;
}

json socket_record(const Socket& s) {
  return {{"index", s.index},
          {"proto", s.proto},
          {"local_ip", s.local_ip},
          {"local_port", s.local_port},
          {"remote_ip", s.remote_ip},
          {"remote_port", s.remote_port},
          {"state", s.state},
          {"inode", s.inode},
          {"uid", s.uid},
          {"pids", s.pids}};
}

json file_record(const FileEntry& f) {
  static const std::pair<char, const char*> k_types[] = {{'f', "file"}, {'d', "dir"},  {'l', "symlink"}, {'b', "block"},
                                                         {'c', "char"}, {'p', "fifo"}, {'s', "socket"}};
  const char* type = "unknown";
  for (const auto& [letter, name] : k_types) {
    if (f.type == letter) type = name;
  }
  json r = {
      {"line", f.line}, {"path", f.path}, {"type", type}, {"size", f.size}, {"mode", fmt::format("{:04o}", f.mode)},
      {"uid", f.uid},   {"gid", f.gid}};
  r["mtime"] = f.mtime.empty() ? json(nullptr) : json(f.mtime);
  if (f.type == 'l') r["target"] = f.target;
  if (!f.sha256.empty()) r["sha256"] = f.sha256;
  if (!f.flags.empty()) r["flags"] = f.flags;
  return r;
}

std::string process_label(const Process& p) {
  if (!p.exe.empty()) return fmt::format("pid {} {}", p.pid, p.exe);
  if (!p.argv.empty()) return fmt::format("pid {} {}", p.pid, p.argv.front());
  return fmt::format("pid {} ({})", p.pid, p.comm);
}

bool is_listening(const Socket& s) {
  const auto family = proto_family(s.proto);
  if (family == "tcp") return s.state == "LISTEN";
  if (family == "raw") return true;
  if (family == "udp") {
    return s.remote_port == 0 && is_wildcard_ip(s.remote_ip) && (s.local_port < 32768 || s.local_port > 60999);
  }
  return false;
}

bool is_connection(const Socket& s) {
  if (proto_family(s.proto) == "raw" || s.state == "LISTEN" || s.state == "TIME_WAIT" || s.state == "CLOSE")
    return false;
  return s.remote_port != 0 && !s.remote_ip.empty() && !is_wildcard_ip(s.remote_ip);
}

bool is_inbound(const Socket& s, const std::vector<std::uint32_t>& listening) {
  return proto_family(s.proto) == "tcp" && std::binary_search(listening.begin(), listening.end(), s.local_port);
}

std::vector<std::uint32_t> listening_ports(const ContainerSnapshot& c) {
  std::vector<std::uint32_t> out;
  for (const auto& s : c.sockets) {
    if (proto_family(s.proto) == "tcp" && s.state == "LISTEN") out.push_back(s.local_port);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string remote_label(const Socket& s, const AddressNames& names) {
  std::string out = host_port(unmap_ipv4(s.remote_ip), s.remote_port);
  if (const auto* n = find_address(names, s.remote_ip)) out += " (" + n->name + ")";
  return out;
}

const Process* holder_of(const ContainerSnapshot& c, const Socket& s) {
  for (const auto pid : s.pids) {
    const auto it = std::lower_bound(c.processes.begin(), c.processes.end(), pid,
                                     [](const Process& p, std::int64_t v) { return p.pid < v; });
    if (it != c.processes.end() && it->pid == pid && !it->collector) return &*it;
  }
  return nullptr;
}

}  // namespace ir::forensics::detail
