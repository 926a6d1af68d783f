#include "forensics/baseline.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "forensics/detail.hpp"
#include "forensics/procfs.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ir::forensics {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr std::pair<char, const char*> k_file_types[] = {{'f', "file"},   {'d', "dir"},    {'l', "symlink"},
                                                         {'b', "block"},  {'c', "char"},   {'p', "fifo"},
                                                         {'s', "socket"}, {'?', "unknown"}};

const char* file_type_name(char type) {
  for (const auto& [letter, name] : k_file_types) {
    if (letter == type) return name;
  }
  return "unknown";
}

constexpr std::pair<Category, const char*> k_category_keys[] = {
    {Category::processes, "processes"}, {Category::executables, "executables"}, {Category::exe_hashes, "exe_hashes"},
    {Category::sockets, "sockets"},     {Category::listing, "listing"},         {Category::file_hashes, "file_hashes"}};

}  // namespace

nlohmann::ordered_json baseline_to_json(const Profile& profile, const BaselineMeta& meta) {
  ojson members = ojson::array();
  for (const auto& m : profile.members) members.push_back(detail::member_record<ojson>(m));
  ojson containers = ojson::array();
  for (const auto& pc : profile.containers) {
    ojson counts = ojson::object();
    for (const auto& [category, key] : k_category_keys) counts[key] = pc.members[static_cast<std::size_t>(category)];

    std::map<std::string, const ExeStats*> exes;
    for (const auto& [k, v] : pc.executables) exes.emplace(k, &v);
    ojson executables = ojson::array();
    for (const auto& [path, st] : exes) {
      ojson hashes = ojson::object();
      for (const auto& [sha, n] : st->hashes) hashes[sha] = n;
      executables.push_back({{"path", path},
                             {"count", st->count},
                             {"root_count", st->root_count},
                             {"hashed", st->hashed},
                             {"sha256", std::move(hashes)}});
    }
    auto keyed = [](const std::unordered_map<std::string, std::size_t>& m) {
      std::map<std::string, std::size_t> sorted(m.begin(), m.end());
      ojson out = ojson::array();
      for (const auto& [k, n] : sorted) out.push_back({{"key", k}, {"count", n}});
      return out;
    };
    std::map<std::string, const std::vector<FileVariant>*> paths;
    for (const auto& [k, v] : pc.files) paths.emplace(k, &v);
    ojson files = ojson::array();
    for (const auto& [path, variants] : paths) {
      std::vector<const FileVariant*> sorted;
      for (const auto& v : *variants) sorted.push_back(&v);
      std::sort(sorted.begin(), sorted.end(), [](const FileVariant* a, const FileVariant* b) {
        return std::tie(a->type, a->size, a->mode, a->target, a->sha256) <
               std::tie(b->type, b->size, b->mode, b->target, b->sha256);
      });
      for (const auto* v : sorted) {
        ojson f = {{"path", path}, {"type", file_type_name(v->type)}, {"mode", fmt::format("{:04o}", v->mode)}};
        if (v->type == 'f') {
          f["size"] = v->size;
          f["sha256"] = v->sha256.empty() ? ojson(nullptr) : ojson(v->sha256);
        }
        if (v->type == 'l') f["target"] = v->target;
        f["count"] = v->count;
        files.push_back(std::move(f));
      }
    }
    containers.push_back({{"name", pc.name},
                          {"digest", pc.digest},
                          {"members", std::move(counts)},
                          {"executables", std::move(executables)},
                          {"listening", keyed(pc.listening)},
                          {"connections", keyed(pc.connections)},
                          {"files", std::move(files)}});
  }
  return {{"format", k_baseline_format},        {"created", meta.created},
          {"generator", meta.generator},        {"subject", meta.subject},
          {"namespace", meta.namespace_name},   {"members", std::move(members)},
          {"containers", std::move(containers)}};
}

std::string write_baseline(const Profile& profile, const BaselineMeta& meta) {
  return baseline_to_json(profile, meta).dump(1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

// ---- parse --------------------------------------------------------------------------------------

namespace {

// Validation with the position of every problem as a JSON pointer.
class Reader {
 public:
  explicit Reader(const BaselineLimits& limits) : m_limits(limits) {}

  [[nodiscard]] bool failed() const { return !m_error.empty(); }
  [[nodiscard]] const std::string& error() const { return m_error; }

  void fail_at(const std::string& pointer, const std::string& why) {
    if (m_error.empty()) m_error = (pointer.empty() ? "/" : pointer) + ": " + why;
  }

  const json* member(const json& obj, const std::string& pointer, const char* key, json::value_t type,
                     bool required = true) {
    if (failed()) return nullptr;
    const auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) fail_at(pointer, fmt::format("\"{}\" is missing", key));
      return nullptr;
    }
    const bool ok = it->type() == type || (type == json::value_t::number_unsigned &&
                                           it->type() == json::value_t::number_integer && it->get<std::int64_t>() >= 0);
    if (!ok) {
      fail_at(pointer + "/" + key, fmt::format("expected {}, found {}", kind_name(type), it->type_name()));
      return nullptr;
    }
    return &*it;
  }

  std::string string(const json& obj, const std::string& pointer, const char* key, bool required = true) {
    const json* v = member(obj, pointer, key, json::value_t::string, required);
    if (v == nullptr) return {};
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > m_limits.max_string_bytes) {
      fail_at(pointer + "/" + key,
              fmt::format("a string of {} bytes, more than the {} accepted", s.size(), m_limits.max_string_bytes));
      return {};
    }
    if (detail::clean_text(s, s.size()) != s) {
      fail_at(pointer + "/" + key, "holds control characters or invalid UTF-8 (kubectl-ir writes them escaped)");
      return {};
    }
    return s;
  }

  std::size_t count(const json& obj, const std::string& pointer, const char* key, std::size_t max, const char* what) {
    const json* v = member(obj, pointer, key, json::value_t::number_unsigned);
    if (v == nullptr) return 0;
    const auto n = v->get<std::uint64_t>();
    if (n > max) {
      fail_at(pointer + "/" + key, fmt::format("{} is more than the {} {}", n, max, what));
      return 0;
    }
    return static_cast<std::size_t>(n);
  }

  const json* array(const json& obj, const std::string& pointer, const char* key) {
    const json* v = member(obj, pointer, key, json::value_t::array);
    if (v != nullptr) take_items(pointer + "/" + key, v->size());
    return v;
  }

  void take_items(const std::string& pointer, std::size_t n) {
    m_items += n;
    if (m_items > m_limits.max_items)
      fail_at(pointer, fmt::format("more than {} items in the file", m_limits.max_items));
  }

  static const char* kind_name(json::value_t type) {
    switch (type) {
      case json::value_t::object:
        return "an object";
      case json::value_t::array:
        return "an array";
      case json::value_t::string:
        return "a string";
      case json::value_t::number_unsigned:
        return "a non-negative integer";
      case json::value_t::boolean:
        return "a boolean";
      default:
        return "a value";
    }
  }

 private:
  const BaselineLimits& m_limits;
  std::string m_error;
  std::size_t m_items = 0;
};

std::optional<std::uint32_t> parse_mode(std::string_view s) {
  if (s.size() != 4) return std::nullopt;
  std::uint32_t m = 0;
  for (const char c : s) {
    if (c < '0' || c > '7') return std::nullopt;
    m = m * 8 + static_cast<std::uint32_t>(c - '0');
  }
  return m;
}

void read_container(Reader& r, const json& c, const std::string& at, std::size_t ok_members, ProfileContainer& pc) {
  if (!c.is_object()) return r.fail_at(at, "expected an object");
  pc.name = r.string(c, at, "name");
  pc.digest = r.string(c, at, "digest");
  const json* counts = r.member(c, at, "members", json::value_t::object);
  if (counts == nullptr) return;
  for (const auto& [category, key] : k_category_keys) {
    pc.members[static_cast<std::size_t>(category)] = r.count(*counts, at + "/members", key, ok_members, "members");
  }
  const std::size_t exe_of = pc.members[static_cast<std::size_t>(Category::executables)];
  const std::size_t sock_of = pc.members[static_cast<std::size_t>(Category::sockets)];
  const std::size_t file_of = pc.members[static_cast<std::size_t>(Category::listing)];

  if (const json* exes = r.array(c, at, "executables")) {
    for (std::size_t i = 0; i < exes->size() && !r.failed(); ++i) {
      const std::string p = fmt::format("{}/executables/{}", at, i);
      const json& e = (*exes)[i];
      if (!e.is_object()) return r.fail_at(p, "expected an object");
      const std::string path = r.string(e, p, "path");
      ExeStats st;
      st.count = r.count(e, p, "count", exe_of, "members with executables");
      st.root_count = r.count(e, p, "root_count", st.count, "members running it");
      st.hashed = r.count(e, p, "hashed", st.count, "members running it");
      const json* hashes = r.member(e, p, "sha256", json::value_t::object);
      if (hashes == nullptr) return;
      r.take_items(p + "/sha256", hashes->size());
      for (const auto& [sha, n] : hashes->items()) {
        if (!detail::is_sha256_hex(sha)) return r.fail_at(p + "/sha256", "a key is not 64 lower-case hex digits");
        if (!n.is_number_unsigned() || n.get<std::uint64_t>() > st.hashed) {
          return r.fail_at(p + "/sha256/" + sha, fmt::format("expected a count of at most {}", st.hashed));
        }
        st.hashes.emplace_back(sha, n.get<std::size_t>());
      }
      if (r.failed()) return;
      if (!pc.executables.emplace(path, std::move(st)).second) return r.fail_at(p + "/path", "listed twice");
    }
  }
  for (const auto& [key, target] :
       {std::pair<const char*, std::unordered_map<std::string, std::size_t>*>{"listening", &pc.listening},
        {"connections", &pc.connections}}) {
    const json* items = r.array(c, at, key);
    if (items == nullptr) return;
    for (std::size_t i = 0; i < items->size() && !r.failed(); ++i) {
      const std::string p = fmt::format("{}/{}/{}", at, key, i);
      const json& e = (*items)[i];
      if (!e.is_object()) return r.fail_at(p, "expected an object");
      const std::string k = r.string(e, p, "key");
      const std::size_t n = r.count(e, p, "count", sock_of, "members with sockets");
      if (r.failed()) return;
      if (!target->emplace(k, n).second) return r.fail_at(p + "/key", "listed twice");
    }
  }
  if (const json* files = r.array(c, at, "files")) {
    for (std::size_t i = 0; i < files->size() && !r.failed(); ++i) {
      const std::string p = fmt::format("{}/files/{}", at, i);
      const json& e = (*files)[i];
      if (!e.is_object()) return r.fail_at(p, "expected an object");
      const std::string path = r.string(e, p, "path");
      if (!r.failed() && (path.empty() || path[0] != '/')) return r.fail_at(p + "/path", "not an absolute path");
      const std::string type = r.string(e, p, "type");
      FileVariant v;
      bool known = false;
      for (const auto& [letter, name] : k_file_types) {
        if (type == name) {
          v.type = letter;
          known = true;
        }
      }
      if (!r.failed() && !known) return r.fail_at(p + "/type", "not a file type kubectl-ir writes");
      const auto mode = parse_mode(r.string(e, p, "mode"));
      if (!r.failed() && !mode) return r.fail_at(p + "/mode", "expected four octal digits");
      if (mode) v.mode = *mode;
      if (v.type == 'f') {
        v.size = static_cast<std::uint64_t>(r.count(e, p, "size", SIZE_MAX, "bytes"));
        if (!r.failed()) {
          const auto it = e.find("sha256");
          if (it == e.end()) return r.fail_at(p, "\"sha256\" is missing (null when not hashed)");
          if (!it->is_null()) {
            v.sha256 = r.string(e, p, "sha256");
            if (!r.failed() && !detail::is_sha256_hex(v.sha256))
              return r.fail_at(p + "/sha256", "not 64 lower-case hex digits");
          }
        }
      }
      if (v.type == 'l') v.target = r.string(e, p, "target");
      v.count = r.count(e, p, "count", file_of, "members with a listing");
      if (r.failed()) return;
      pc.files[path].push_back(std::move(v));
    }
  }
}

}  // namespace

Result<Baseline> parse_baseline(std::string_view text, const BaselineLimits& limits) {
  auto parsed = parse_bounded_json(text, limits.max_bytes, limits.max_depth);
  if (!parsed) return fail(Errc::invalid, parsed.error().message);
  const json& doc = *parsed;
  if (!doc.is_object()) return fail(Errc::invalid, "/: expected an object");
  Reader r(limits);
  const std::string format = r.string(doc, "", "format");
  if (r.failed()) return fail(Errc::invalid, r.error());
  if (format != k_baseline_format) {
    return fail(Errc::invalid,
                fmt::format("/format: \"{}\" is not {} (a newer kubectl-ir wrote it, or it is not a baseline)",
                            util::escape_for_terminal(format, 80), k_baseline_format));
  }
  Baseline b;
  b.meta.created = r.string(doc, "", "created");
  b.meta.generator = r.string(doc, "", "generator");
  b.meta.subject = r.string(doc, "", "subject");
  b.meta.namespace_name = r.string(doc, "", "namespace");
  if (!r.failed() && !b.meta.created.empty() && !util::parse_rfc3339(b.meta.created)) {
    r.fail_at("/created", "not an RFC 3339 time");
  }
  std::size_t ok = 0;
  if (const json* members = r.array(doc, "", "members")) {
    if (members->size() > limits.max_members)
      r.fail_at("/members", fmt::format("more than {} members", limits.max_members));
    for (std::size_t i = 0; i < members->size() && !r.failed(); ++i) {
      const std::string p = fmt::format("/members/{}", i);
      const json& m = (*members)[i];
      if (!m.is_object()) {
        r.fail_at(p, "expected an object");
        break;
      }
      Member mem;
      mem.namespace_name = r.string(m, p, "namespace");
      mem.name = r.string(m, p, "name");
      mem.node = r.string(m, p, "node", false);
      const std::string relation = r.string(m, p, "relation");
      const std::string status = r.string(m, p, "status");
      mem.reason = r.string(m, p, "reason", false);
      if (r.failed()) break;
      if (!parse_relation(relation)) {
        r.fail_at(p + "/relation", "expected same-workload, same-digest or baseline-file");
        break;
      }
      if (status != "ok" && status != "failed") {
        r.fail_at(p + "/status", "expected ok or failed");
        break;
      }
      mem.relation = Relation::baseline_file;
      mem.status = status == "ok" ? MemberStatus::ok : MemberStatus::failed;
      if (mem.status == MemberStatus::ok) ++ok;
      b.profile.members.push_back(std::move(mem));
    }
  }
  if (const json* containers = r.array(doc, "", "containers")) {
    if (containers->size() > limits.max_containers) {
      r.fail_at("/containers", fmt::format("more than {} containers", limits.max_containers));
    }
    for (std::size_t i = 0; i < containers->size() && !r.failed(); ++i) {
      ProfileContainer pc;
      read_container(r, (*containers)[i], fmt::format("/containers/{}", i), ok, pc);
      b.profile.containers.push_back(std::move(pc));
    }
  }
  if (r.failed()) return fail(Errc::invalid, r.error());
  b.profile.source = BaselineSource::baseline_file;
  b.profile.created = b.meta.created;
  if (!b.profile.containers.empty()) b.profile.digest = b.profile.containers.front().digest;
  return b;
}

}  // namespace ir::forensics
