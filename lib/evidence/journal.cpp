#include "evidence/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "util/crypto.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::evidence {

std::string new_case_id(util::TimePoint now) {
  const std::string ts = util::format_rfc3339(now);  // 2026-11-21T16:32:29Z
  std::string compact;
  for (const char c : ts) {
    if (c >= '0' && c <= '9') compact += c;
  }
  const std::string r = util::random_bytes(2);
  return fmt::format("case-{}-{}-{:02x}{:02x}", compact.substr(0, 8), compact.substr(8, 6),
                     static_cast<unsigned char>(r[0]), static_cast<unsigned char>(r[1]));
}

bool valid_case_id(const std::string& id) {
  if (id.empty() || id.size() > 63 || id[0] == '.' || id[0] == '-') return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<Journal> Journal::open(const std::string& dir, const std::string& case_id, util::Clock& clock) {
  if (!valid_case_id(case_id)) {
    return fail(Errc::usage, "invalid case id \"" + case_id + "\": use 1-63 letters, digits, '.', '_' or '-'");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io, fmt::format("case directory {}: {}", dir, ec.message()));
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
  const std::string path = dir + "/journal.jsonl";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io, fmt::format("journal {}: {}", path, std::strerror(errno)));
  ::close(fd);
  return Journal(path, case_id, clock);
}

Result<void> Journal::append(const std::string& action, const nlohmann::json& fields) {
  nlohmann::json entry = {{"time", util::format_rfc3339(m_clock->now())}, {"case", m_case_id}, {"action", action}};
  for (auto it = fields.begin(); it != fields.end(); ++it) entry[it.key()] = it.value();
  // error_handler::replace: pod-supplied bytes that are not UTF-8 become U+FFFD instead of throwing.
  const std::string line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const int fd = ::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io, fmt::format("journal {}: {}", m_path, std::strerror(errno)));
  // One write() of the whole line: O_APPEND keeps concurrent writers' lines whole.
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int write_errno = errno;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return fail(Errc::io, fmt::format("journal {}: {}", m_path, n < 0 ? std::strerror(write_errno) : "short write"));
  }
  if (!synced) return fail(Errc::io, fmt::format("journal {}: fsync failed", m_path));
  return {};
}

std::string find_case_of_pod(const std::string& cases_dir, const std::string& ns, const std::string& pod,
                             const std::string& server) {
  std::error_code ec;
  std::filesystem::directory_iterator it(cases_dir, ec);
  if (ec) return {};
  std::string best_case;
  std::string best_time;
  int dirs = 0;
  for (const auto& entry : it) {
    if (++dirs > 1000) break;
    const std::string id = entry.path().filename().string();
    if (!valid_case_id(id)) continue;
    auto text = util::read_file(entry.path().string() + "/journal.jsonl", 16 * 1024 * 1024);
    if (!text) continue;
    for (const auto& line : util::split(*text, '\n')) {
      if (line.find("\"label\"") == std::string::npos) continue;  // cheap filter before parsing
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || j.value("action", "") != "label" || j.value("namespace", "") != ns ||
          j.value("pod", "") != pod)
        continue;
      if (j.value("dry_run", false)) continue;
      if (!server.empty() && j.contains("server") && j.value("server", "") != server) continue;
      const std::string time = j.value("time", "");
      if (time >= best_time) {
        best_time = time;
        best_case = j.value("case", id);
      }
    }
  }
  return valid_case_id(best_case) ? best_case : std::string();
}

}  // namespace ir::evidence
