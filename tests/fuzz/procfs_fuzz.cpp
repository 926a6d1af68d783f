// Fuzz target: every parser of lib/forensics/procfs.hpp on arbitrary container output (/proc/net/*,
// stat, status, ps, the /proc walk, ls -l /proc/*/fd) and the socket join over their records, and
// the streaming listing parser of lib/forensics/fslist.hpp (GNU find and busybox dialects).
// Invariants: no crash or exception; at most Limits::max_records records; parsed + unparsed counts
// match the records; every string stored is valid UTF-8 with no control bytes and bounded in size;
// the anomaly list is bounded. For the listing parser: every output line is a JSON object whose
// strings pass the same checks, the counts match the lines and the limits, and feeding the input
// in chunks (of a size the first byte picks) gives exactly the output of one write.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "forensics/fslist.hpp"
#include "forensics/procfs.hpp"
#include "util/sink.hpp"

namespace {

using ir::forensics::procfs::Limits;
using ir::forensics::procfs::Parsed;
using nlohmann::json;

// The boundary the seed corpus uses (walk and busybox listing seeds); 16 characters so
// libFuzzer's comparison tracing finds it quickly.
constexpr std::string_view k_boundary = "FUZZBOUNDARY0000";

constexpr std::size_t k_max_records = 64;
constexpr std::size_t k_max_field = 128;
constexpr std::size_t k_max_raw = 96;
// An escaped string renders each input byte as at most 4 bytes ("\xNN"), then a cut note.
constexpr std::size_t k_max_string = 4 * (k_max_field > k_max_raw ? k_max_field : k_max_raw) + 64;

void check_strings(const json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s.size() > k_max_string && s.find("...(") == std::string::npos) std::abort();
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) std::abort();
    }
    return;
  }
  if (j.is_array() || j.is_object()) {
    for (const auto& v : j) check_strings(v);
  }
}

void check(const Parsed& p) {
  if (!p.records.is_array()) std::abort();
  if (p.records.size() > k_max_records) std::abort();
  if (p.parsed + p.unparsed != p.records.size()) std::abort();
  if (p.anomalies.size() > 65) std::abort();
  check_strings(p.records);
  // Strict dump: throws (and so crashes the fuzzer) on invalid UTF-8.
  (void)p.records.dump(-1, ' ', false, json::error_handler_t::strict);
}

// Runs the listing parser over `text` in pieces of `chunk` bytes (0: one write); returns its output.
std::string run_listing(ir::forensics::fslist::Dialect dialect, std::string_view text, std::size_t chunk) {
  using namespace ir::forensics::fslist;
  ListingOptions options;
  options.strip_prefix = "/r";
  options.limits.max_entries = 32;
  options.limits.max_unparsed_kept = 16;
  options.limits.max_path_bytes = 64;
  options.limits.max_record_bytes = 512;
  options.limits.max_raw_bytes = k_max_raw;
  ir::util::MemorySink out(std::size_t{1} << 24);
  std::size_t seen = 0;
  ListingParser parser(dialect, std::string(k_boundary), out, [&](const Entry& e) {
    ++seen;
    if (e.path.size() > options.limits.max_path_bytes || e.target.size() > options.limits.max_path_bytes) std::abort();
    if (e.mode > 07777) std::abort();
  }, options);
  for (std::size_t pos = 0; pos < text.size(); pos += chunk == 0 ? text.size() : chunk) {
    if (!parser.write(text.substr(pos, chunk == 0 ? text.size() : chunk))) std::abort();
  }
  if (!parser.finish()) std::abort();
  if (seen != parser.entries() || parser.entries() > 32 || parser.anomalies().size() > 65) std::abort();
  std::size_t entries = 0;
  std::size_t unparsed = 0;
  std::string_view rest = out.data();
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) std::abort();
    const json line = json::parse(rest.substr(0, nl));  // throws (and so crashes) on bad JSON
    if (!line.is_object()) std::abort();
    check_strings(line);
    (void)line.dump(-1, ' ', false, json::error_handler_t::strict);
    ++(line.at("kind") == "entry" ? entries : unparsed);
    rest.remove_prefix(nl + 1);
  }
  if (entries != parser.entries() || unparsed > 16 || unparsed > parser.unparsed()) std::abort();
  return out.data();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ir::forensics::procfs;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_records = k_max_records;
  limits.max_field_bytes = k_max_field;
  limits.max_raw_bytes = k_max_raw;
  limits.max_line_bytes = 4096;

  const auto selector = size > 0 ? static_cast<unsigned>(data[0]) : 0U;
  const auto table = static_cast<NetTable>(selector % 6);
  const auto order = (selector & 0x80U) != 0 ? ByteOrder::big : ByteOrder::little;

  const auto inet = parse_net_inet(text, table, order, limits);
  check(inet);
  const auto unix_sockets = parse_net_unix(text, limits);
  check(unix_sockets);
  check(parse_stat_file(text, limits));
  check(parse_status_file(text, limits));
  check(parse_ps(text, limits));
  const auto walk = parse_proc_walk(text, k_boundary, limits);
  check(walk);
  const auto fds = parse_ls_fd(text, limits);
  check(fds);

  json holders = walk.records;
  for (const auto& r : fds.records) holders.push_back(r);
  const auto owners = socket_owners(holders);
  for (const auto& [inode, pids] : owners) {
    if (inode == 0 || pids.empty()) std::abort();
  }
  check_strings(attach_socket_owners(inet.records, owners));
  check_strings(attach_socket_owners(unix_sockets.records, owners));

  const std::size_t chunk = 1 + selector % 13;
  for (const auto dialect : {ir::forensics::fslist::Dialect::gnu_find, ir::forensics::fslist::Dialect::busybox_stat}) {
    if (run_listing(dialect, text, 0) != run_listing(dialect, text, chunk)) std::abort();
  }
  return 0;
}
