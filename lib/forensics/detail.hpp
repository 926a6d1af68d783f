#pragma once
// Helpers shared by the analysis files of lib/forensics (snapshot, indicators, drift, baseline).
// Internal: not for other modules.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "forensics/analysis.hpp"
#include "forensics/snapshot.hpp"

namespace ir::forensics::detail {

// `value` when it is a string of printable UTF-8 (no C0/C1 control, no DEL) of at most
// `max_bytes`; a longer clean string is cut at a character boundary and ends in "...(N more
// bytes)"; anything else is util::escape_for_terminal'd (and cut). Non-strings give "".
std::string clean_string(const nlohmann::json& value, std::size_t max_bytes);
std::string clean_text(std::string_view text, std::size_t max_bytes);

// j[key] as an integer in [min, max]; nullopt when absent, not an integer or out of range.
std::optional<std::int64_t> get_int(const nlohmann::json& j, const char* key, std::int64_t min, std::int64_t max);

// The last path component ("/tmp/.x/kworkerds" → "kworkerds"; "sh" → "sh"; "/a/" → "").
std::string_view base_name(std::string_view path);

// True when `path` is `dir` or below it ("/tmp" and "/tmp/x" are under "/tmp"; "/tmpx" is not).
bool path_under(std::string_view path, std::string_view dir);

// True for 64 lower-case hex digits.
bool is_sha256_hex(std::string_view s);

// An IPv4-mapped IPv6 address ("::ffff:10.0.0.1") as its IPv4 form; others unchanged.
std::string_view unmap_ipv4(std::string_view ip);

// "0.0.0.0" and "::".
bool is_wildcard_ip(std::string_view ip);
// 127.0.0.0/8 and ::1.
bool is_loopback_ip(std::string_view ip);

// "tcp6" → "tcp", "udp6" → "udp", "raw6" → "raw"; others unchanged.
std::string_view proto_family(std::string_view proto);

// "ip:port", with IPv6 addresses in brackets ("[fd00::1]:443").
std::string host_port(std::string_view ip, std::uint32_t port);

// The evidence records of findings: the fields the analysis read, with "index" or "line".
nlohmann::json process_record(const Process& process);
nlohmann::json socket_record(const Socket& socket);
nlohmann::json file_record(const FileEntry& file);

// A member of a profile as the analysis document (Json = json) and the baseline file
// (ordered_json: in this order) both write it.
template <class Json>
Json member_record(const Member& m) {
  return {{"namespace", m.namespace_name},
          {"name", m.name},
          {"node", m.node},
          {"relation", to_string(m.relation)},
          {"status", m.status == MemberStatus::ok ? "ok" : "failed"},
          {"reason", m.reason}};
}

// "pid 3 /tmp/.x/kworkerds": the exe, else the first argument, else the comm.
std::string process_label(const Process& process);

// A listening socket: TCP in LISTEN; UDP bound with no remote outside the default ephemeral port
// range 32768-60999 (a client's socket is inside it); raw sockets (their "port" is the protocol).
bool is_listening(const Socket& socket);
// A connection: not listening, a remote address and port, and not TIME_WAIT or CLOSE (gone).
bool is_connection(const Socket& socket);
// A connection into one of `listening` ports (the local port): a client's, not the pod's own.
bool is_inbound(const Socket& socket, const std::vector<std::uint32_t>& listening_ports);
// The local ports of the snapshot's listening sockets, sorted.
std::vector<std::uint32_t> listening_ports(const ContainerSnapshot& container);

// "198.51.100.7:3333", or "10.96.0.10:53 (service kube-system/kube-dns)" when named.
std::string remote_label(const Socket& socket, const AddressNames& names);

// The first non-collector process of `container` holding `socket`, or nullptr.
const Process* holder_of(const ContainerSnapshot& container, const Socket& socket);

}  // namespace ir::forensics::detail
