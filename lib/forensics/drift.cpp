// Drift against siblings or a baseline: members folded into a Profile (per item, how many members
// had it), then each of the suspect's items looked up once. The noise rules live here, each in one
// function, named as in README.md ("Noise rules").

#include "forensics/drift.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "forensics/detail.hpp"

namespace ir::forensics {

using detail::base_name;
using detail::path_under;
using nlohmann::json;

// ---- Profile ------------------------------------------------------------------------------------

std::size_t Profile::ok_members() const {
  return static_cast<std::size_t>(
      std::count_if(members.begin(), members.end(), [](const Member& m) { return m.status == MemberStatus::ok; }));
}

Relation Profile::relation() const {
  if (source == BaselineSource::baseline_file) return Relation::baseline_file;
  for (const auto& m : members) {
    if (m.status == MemberStatus::ok && m.relation != Relation::same_workload) return Relation::same_digest;
  }
  return Relation::same_workload;
}

namespace {

// The same name with digests agreeing when both are known; else the only container with the same
// image; else the same name with another image (a baseline older than a rollout). Containers in
// `taken` are not candidates (each container of a member maps onto its own).
std::optional<std::size_t> match_index(const std::vector<ProfileContainer>& containers, const std::string& name,
                                       const std::string& digest, const std::set<std::size_t>& taken = {}) {
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const auto& c = containers[i];
    if (taken.count(i) == 0 && c.name == name && (digest.empty() || c.digest.empty() || c.digest == digest)) return i;
  }
  std::optional<std::size_t> only;
  std::size_t same_digest = 0;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    if (taken.count(i) == 0 && !digest.empty() && containers[i].digest == digest) {
      ++same_digest;
      only = i;
    }
  }
  if (same_digest == 1) return only;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    if (taken.count(i) == 0 && containers[i].name == name) return i;
  }
  return std::nullopt;
}

}  // namespace

const ProfileContainer* Profile::match(const std::string& container, const std::string& image_digest) const {
  const auto i = match_index(containers, container, image_digest);
  return i ? &containers[*i] : nullptr;
}

// ---- noise rules --------------------------------------------------------------------------------

namespace {

// The pod-specific names a path or address may hold.
struct Identity {
  std::string name;
  std::string hostname;
  std::vector<std::string> ips;
};

Identity identity_of(const PodSnapshot& pod) {
  Identity id{pod.pod.name, pod.hostname, {}};
  for (const auto& ip : pod.ips) id.ips.emplace_back(detail::unmap_ipv4(ip));
  return id;
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
}

// Noise rule "pod-specific names": the pod's name and hostname (6 bytes or longer, so that a short
// name cannot eat ordinary path parts) and its IPs become {pod}, {hostname} and {pod-ip}.
std::string normalise_path(std::string_view path, const Identity& id) {
  std::string out(path);
  if (id.name.size() >= 6) replace_all(out, id.name, "{pod}");
  if (id.hostname != id.name && id.hostname.size() >= 6) replace_all(out, id.hostname, "{hostname}");
  for (const auto& ip : id.ips) replace_all(out, ip, "{pod-ip}");
  return out;
}

// Noise rules "kernel file systems", "service-account and projected volumes" and "kubelet-managed
// files": paths that differ between healthy pods by construction.
bool ignored_path(std::string_view path) {
  if (path_under(path, "/dev/shm")) return false;  // tmpfs anyone can write: where payloads hide
  for (const std::string_view dir : {"/proc", "/sys", "/dev", "/var/run/secrets/kubernetes.io/serviceaccount",
                                     "/run/secrets/kubernetes.io/serviceaccount"}) {
    if (path_under(path, dir)) return true;
  }
  if (path == "/etc/hostname" || path == "/etc/hosts" || path == "/etc/resolv.conf") return true;
  // The kubelet's atomic writer (configMap, secret, projected, downwardAPI volumes): a
  // "..<timestamp>" directory and the "..data" link to it, renewed on every update.
  for (std::size_t at = path.find("/.."); at != std::string_view::npos; at = path.find("/..", at + 1)) {
    const std::string_view rest = path.substr(at + 1);
    const std::string_view part = rest.substr(0, rest.find('/'));
    if (part == "..data") return true;
    if (part.size() > 3 && part[2] >= '0' && part[2] <= '9') return true;
  }
  return false;
}

// Noise rule "logs and caches": files that grow, rotate and appear on their own.
bool log_or_cache(std::string_view path) {
  if (path_under(path, "/var/log") || path_under(path, "/var/cache")) return true;
  const std::string_view name = base_name(path);
  const std::string_view dirs = path.substr(0, path.size() - name.size());
  for (const std::string_view d : {"/log/", "/logs/", "/cache/", "/caches/", "/.cache/"}) {  // a directory named so
    if (dirs.find(d) != std::string_view::npos) return true;
  }
  if (name.size() > 4 && name.substr(name.size() - 4) == ".log") return true;
  return name.find(".log.") != std::string_view::npos;  // rotated: app.log.1, app.log.2.gz
}

bool executable(const FileEntry& f) {
  return f.type == 'f' && (f.mode & 0111U) != 0;
}

// Noise rule "--ignore GLOB".
bool ignored_by(const std::vector<std::string>& globs, std::initializer_list<std::string_view> keys) {
  for (const auto& g : globs) {
    for (const auto key : keys) {
      if (!key.empty() && ::fnmatch(g.c_str(), std::string(key).c_str(), 0) == 0) return true;
    }
  }
  return false;
}

std::string address_class(std::string_view ip, const Identity& id) {
  ip = detail::unmap_ipv4(ip);
  if (detail::is_wildcard_ip(ip)) return "*";
  if (std::find(id.ips.begin(), id.ips.end(), ip) != id.ips.end()) return "{pod-ip}";
  if (detail::is_loopback_ip(ip)) return "loopback";
  return std::string(ip);
}

// "tcp *:8080", "udp loopback:53", "tcp {pod-ip}:9090".
std::string listen_key(const Socket& s, const Identity& id) {
  return fmt::format("{} {}:{}", detail::proto_family(s.proto), address_class(s.local_ip, id), s.local_port);
}

// "tcp 198.51.100.7:3333", "udp service kube-system/kube-dns:53" (by group when named),
// "tcp {pod-ip}:8080" (the pod itself). Noise rule "ephemeral ports": the local port is not part.
std::string connection_key(const Socket& s, const Identity& id, const AddressNames& names) {
  const std::string_view ip = detail::unmap_ipv4(s.remote_ip);
  std::string remote;
  if (std::find(id.ips.begin(), id.ips.end(), ip) != id.ips.end()) {
    remote = fmt::format("{{pod-ip}}:{}", s.remote_port);
  } else if (const auto* n = find_address(names, s.remote_ip)) {
    remote = fmt::format("{}:{}", n->group.empty() ? n->name : n->group, s.remote_port);
  } else {
    remote = detail::host_port(ip, s.remote_port);
  }
  return fmt::format("{} {}", detail::proto_family(s.proto), remote);
}

// A variant's identity for counting: size and hash only for regular files (a directory's size
// says nothing), the target only for symlinks.
FileVariant variant_of(const FileEntry& f) {
  FileVariant v;
  v.type = f.type;
  v.mode = f.mode;
  if (f.type == 'f') {
    v.size = f.size;
    v.sha256 = f.sha256;
  } else if (f.type == 'l') {
    v.target = f.target;
  }
  return v;
}

bool same_variant(const FileVariant& a, const FileVariant& b) {
  return a.type == b.type && a.size == b.size && a.mode == b.mode && a.target == b.target && a.sha256 == b.sha256;
}

// The bits whose change matters: setuid, setgid, and the execute bits of a regular file.
std::uint32_t telling_bits(char type) {
  return type == 'f' ? 06111U : 06000U;
}

// Whether a member's variant has the same content as the suspect's file. Regular files: the
// SHA-256 when both were hashed, else the size (unknown content of the same size counts as the
// same: README says so).
bool same_content(const FileEntry& f, const FileVariant& v) {
  if (f.type != v.type) return false;
  if (((f.mode ^ v.mode) & telling_bits(f.type)) != 0) return false;
  if (f.type == 'f') return (!f.sha256.empty() && !v.sha256.empty()) ? f.sha256 == v.sha256 : f.size == v.size;
  if (f.type == 'l') return f.target == v.target;
  return true;
}

const char* type_name(char type) {
  switch (type) {
    case 'f':
      return "file";
    case 'd':
      return "directory";
    case 'l':
      return "symlink";
    case 'b':
      return "block device";
    case 'c':
      return "character device";
    case 'p':
      return "fifo";
    case 's':
      return "socket";
    default:
      return "file of unknown type";
  }
}

}  // namespace

// ---- ProfileBuilder -----------------------------------------------------------------------------

ProfileBuilder::ProfileBuilder(AddressNames addresses) : m_addresses(std::move(addresses)) {}

void ProfileBuilder::seed(const PodSnapshot& suspect) {
  for (const auto& c : suspect.containers) {
    const bool named = std::any_of(m_profile.containers.begin(), m_profile.containers.end(),
                                   [&](const ProfileContainer& pc) { return pc.name == c.name; });
    if (named) continue;
    ProfileContainer pc;
    pc.name = c.name;
    pc.digest = c.digest;
    m_profile.containers.push_back(std::move(pc));
  }
}

void ProfileBuilder::add_failed(Member member) {
  member.status = MemberStatus::failed;
  if (member.reason.empty()) member.reason = "could not be collected";
  m_profile.members.push_back(std::move(member));
}

void ProfileBuilder::add(Member member, const PodSnapshot& snapshot) { add(std::move(member), snapshot, m_addresses); }

void ProfileBuilder::add(Member member, const PodSnapshot& snapshot, const AddressNames& addresses) {
  bool any = false;
  for (const auto& c : snapshot.containers) {
    for (std::size_t k = 0; k < k_categories; ++k) {
      if (c.availabilities[k].coverage != Coverage::missing) any = true;
    }
  }
  if (!any) {
    member.reason = member.reason.empty() ? "nothing could be read from it" : member.reason;
    add_failed(std::move(member));
    return;
  }
  member.status = MemberStatus::ok;
  m_profile.members.push_back(std::move(member));
  const Identity id = identity_of(snapshot);
  std::set<std::size_t> used;  // one container of this member per profile container
  for (const auto& c : snapshot.containers) {
    auto index = match_index(m_profile.containers, c.name, c.digest, used);
    if (!index) {
      index = m_profile.containers.size();
      m_profile.containers.push_back(ProfileContainer{});
      m_profile.containers.back().name = c.name;
      m_profile.containers.back().digest = c.digest;
    }
    used.insert(*index);
    ProfileContainer* pc = &m_profile.containers[*index];
    for (std::size_t k = 0; k < k_categories; ++k) {
      if (c.availabilities[k].coverage != Coverage::missing) ++pc->members[k];
    }

    // Executables: each path once per member, with whether any of its processes runs as root and
    // the hashes seen for it.
    if (c.availability(Category::executables).coverage != Coverage::missing) {
      std::map<std::string, std::pair<bool, std::set<std::string>>> exes;
      for (const auto& p : c.processes) {
        if (p.collector || p.exe.empty()) continue;
        auto& e = exes[normalise_path(p.exe, id)];
        if (p.uid && *p.uid == 0) e.first = true;
        if (!p.exe_sha256.empty()) e.second.insert(p.exe_sha256);
      }
      for (const auto& [key, e] : exes) {
        ExeStats& st = pc->executables[key];
        ++st.count;
        if (e.first) ++st.root_count;
        if (!e.second.empty()) ++st.hashed;
        for (const auto& sha : e.second) {
          auto it = std::find_if(st.hashes.begin(), st.hashes.end(), [&](const auto& h) { return h.first == sha; });
          if (it == st.hashes.end())
            st.hashes.emplace_back(sha, 1);
          else
            ++it->second;
        }
      }
    }

    if (c.availability(Category::sockets).coverage != Coverage::missing && !snapshot.host_network) {
      const auto ports = detail::listening_ports(c);
      std::set<std::string> listen;
      std::set<std::string> conns;
      for (const auto& s : c.sockets) {
        if (detail::is_listening(s))
          listen.insert(listen_key(s, id));
        else if (detail::is_connection(s) && !detail::is_inbound(s, ports))
          conns.insert(connection_key(s, id, addresses));
      }
      for (const auto& k : listen) ++pc->listening[k];
      for (const auto& k : conns) ++pc->connections[k];
    }

    if (c.availability(Category::listing).coverage != Coverage::missing) {
      // A snapshot's paths are unique; only placeholders ("{pod}") can make two keys one.
      std::unordered_set<std::string> placeholders;
      for (const auto& f : c.files) {
        std::string key = normalise_path(f.path, id);
        if (ignored_path(key)) continue;
        if (key.find('{') != std::string::npos && !placeholders.insert(key).second) continue;
        auto& variants = pc->files[std::move(key)];
        const FileVariant v = variant_of(f);
        auto it =
            std::find_if(variants.begin(), variants.end(), [&](const FileVariant& x) { return same_variant(x, v); });
        if (it == variants.end()) {
          variants.push_back(v);
          variants.back().count = 1;
        } else {
          ++it->count;
        }
      }
    }
  }
}

Profile ProfileBuilder::finish() && {
  return std::move(m_profile);
}

Profile profile_of_members(const PodSnapshot& suspect,
                           const std::vector<std::pair<Member, const PodSnapshot*>>& members,
                           const AddressNames& member_addresses) {
  ProfileBuilder b(member_addresses);
  b.seed(suspect);
  for (const auto& [m, snap] : members) {
    if (snap == nullptr)
      b.add_failed(m);
    else
      b.add(m, *snap);
  }
  return std::move(b).finish();
}

// ---- compare ------------------------------------------------------------------------------------

namespace {

struct Comparer {
  const PodSnapshot& suspect;
  const Profile& profile;
  const DriftOptions& options;
  Identity id;
  Relation relation;
  std::string who;  // "sibling" / "baseline pod"
  DriftResult result;
  std::set<std::string> reported_sockets;                     // pod-level: every container sees the same sockets
  std::map<std::uint64_t, const ContainerSnapshot*> held_in;  // socket inode → the container holding it

  // "in 0 of 2 siblings"
  std::string in_members(std::size_t count, std::size_t of) const {
    return fmt::format("in {} of {} {}{}", count, of, who, of == 1 ? "" : "s");
  }

  // The quorum for a category with `of` members, lowered (and said) when fewer members exist.
  std::size_t quorum(std::size_t of, const ContainerSnapshot& c, Category category) {
    const std::size_t q = std::max<std::size_t>(1, options.quorum);
    if (of >= q) return q;
    result.gaps.push_back(
        fmt::format("quorum {} lowered to {} for the {} of container {}: only {} {}{} could be compared", q, of,
                    to_string(category), c.name, of, who, of == 1 ? "" : "s"));
    return of;
  }

  Finding make(FindingKind kind, std::string rule, Severity severity, const ContainerSnapshot& c, std::string summary,
               SeenIn seen) const {
    Finding f;
    f.kind = kind;
    f.rule = std::move(rule);
    f.severity = severity;
    f.container = c.name;
    f.summary = std::move(summary);
    f.seen_in = seen;
    f.judged_against = relation;
    return f;
  }

  // Whether `category` can be compared for `c`: the suspect has it and some member had it.
  bool comparable(const ContainerSnapshot& c, const ProfileContainer& pc, Category category) {
    if (c.availability(category).coverage == Coverage::missing) {
      result.gaps.push_back(
          fmt::format("{} of container {}: not compared: not collected from the suspect", to_string(category), c.name));
      return false;
    }
    if (pc.members[static_cast<std::size_t>(category)] == 0) {
      result.gaps.push_back(
          fmt::format("{} of container {}: not compared: no {} had them", to_string(category), c.name, who));
      return false;
    }
    return true;
  }

  void processes(const ContainerSnapshot& c, const ProfileContainer& pc) {
    if (!comparable(c, pc, Category::executables)) return;
    const std::size_t of = pc.members[static_cast<std::size_t>(Category::executables)];
    const std::size_t q = quorum(of, c, Category::executables);
    std::map<std::string, std::vector<const Process*>> groups;
    for (const auto& p : c.processes) {
      if (p.collector || p.exe.empty()) continue;  // noise rule "kubectl-ir's own processes"
      groups[normalise_path(p.exe, id)].push_back(&p);
    }
    for (const auto& group : groups) {
      const std::string& key = group.first;
      const std::vector<const Process*>& procs = group.second;  // (not a structured binding: lambdas capture it)
      const Process& first = *procs.front();
      if (ignored_by(options.ignore, {first.exe, key})) continue;
      bool root = false;
      std::string sha;
      const Process* root_proc = nullptr;
      for (const auto* p : procs) {
        if (p->uid && *p->uid == 0) {
          root = true;
          if (root_proc == nullptr) root_proc = p;
        }
        if (sha.empty()) sha = p->exe_sha256;
      }
      auto subject = [&](const Process& p) {
        json s = {{"pid", p.pid}, {"exe", p.exe}};
        if (!sha.empty()) s["sha256"] = sha;
        if (p.uid) s["uid"] = *p.uid;
        if (procs.size() > 1) {
          json pids = json::array();
          for (const auto* x : procs) pids.push_back(x->pid);
          s["pids"] = std::move(pids);
        }
        return s;
      };
      const auto it = pc.executables.find(key);
      const ExeStats none;
      const ExeStats& st = it == pc.executables.end() ? none : it->second;
      const std::string label =
          detail::process_label(first) + (procs.size() > 1 ? fmt::format(" (+{} more)", procs.size() - 1) : "");
      if (st.count < q) {
        // Present in the members' images (same path, same content when both hashed) but not running
        // there: a program of the image started only here. Weaker than a new binary.
        std::size_t in_image = 0;
        if (const auto f = pc.files.find(key); f != pc.files.end()) {
          for (const auto& v : f->second) {
            if (v.type == 'f' && (sha.empty() || v.sha256.empty() || v.sha256 == sha)) in_image += v.count;
          }
        }
        std::string summary =
            fmt::format("{}{} runs an executable that runs {}", label, root ? " (root)" : "", in_members(st.count, of));
        if (in_image > 0) {
          summary += fmt::format(" (it is in their image {})",
                                 in_members(in_image, pc.members[static_cast<std::size_t>(Category::listing)]));
        } else if (!sha.empty()) {
          // A copy of a program the members run, under another name (busybox as /tmp/sh).
          std::string copy_of;
          for (const auto& [other, other_stats] : pc.executables) {
            for (const auto& h : other_stats.hashes) {
              if (h.first == sha && (copy_of.empty() || other < copy_of)) copy_of = other;
            }
          }
          if (!copy_of.empty()) summary += fmt::format(" (a copy of {}, which they run)", copy_of);
        }
        Finding f = make(FindingKind::process, "drift.process.exe", in_image > 0 ? Severity::low : Severity::high, c,
                         std::move(summary), {st.count, of});
        f.subject = subject(first);
        f.artifact = c.artifact(Category::executables);
        f.record = detail::process_record(first);
        result.findings.push_back(std::move(f));
        continue;
      }
      if (!sha.empty() && st.hashed > 0) {
        const std::size_t qh = std::min(q, st.hashed);
        std::size_t same = 0;
        for (const auto& [h, n] : st.hashes) {
          if (h == sha) same = n;
        }
        if (same < qh) {
          Finding f = make(
              FindingKind::process, "drift.process.hash", Severity::critical, c,
              fmt::format("{}: its executable's SHA-256 matches {} that run it", label, in_members(same, st.hashed)),
              {same, st.hashed});
          f.subject = subject(first);
          f.artifact = c.artifact(Category::executables);
          f.record = detail::process_record(first);
          result.findings.push_back(std::move(f));
        }
      }
      if (root && st.count > 0 && st.root_count < std::min(q, st.count)) {
        Finding f = make(FindingKind::root_process, "drift.root_process", Severity::high, c,
                         fmt::format("{} runs as root; it runs as root {} that run it",
                                     detail::process_label(*root_proc), in_members(st.root_count, st.count)),
                         {st.root_count, st.count});
        f.subject = subject(*root_proc);
        f.artifact = c.artifact(Category::executables);
        f.record = detail::process_record(*root_proc);
        result.findings.push_back(std::move(f));
      }
    }
  }

  void sockets(const ContainerSnapshot& c, const ProfileContainer& pc) {
    if (suspect.host_network) {
      result.gaps.push_back("sockets: not compared: the pod uses the node's network (hostNetwork)");
      return;
    }
    if (!comparable(c, pc, Category::sockets)) return;
    const std::size_t of = pc.members[static_cast<std::size_t>(Category::sockets)];
    const std::size_t q = quorum(of, c, Category::sockets);
    const auto ports = detail::listening_ports(c);
    auto holder_subject = [&](json& subject, const Socket& s) {
      if (const Process* h = detail::holder_of(c, s)) {
        subject["pid"] = h->pid;
        if (!h->exe.empty()) subject["exe"] = h->exe;
        return detail::process_label(*h) + " ";
      }
      return std::string();
    };
    for (const auto& s : c.sockets) {
      // Every container sees the pod's sockets: report one where its holder runs.
      if (s.inode != 0 && detail::holder_of(c, s) == nullptr) {
        const auto held = held_in.find(s.inode);
        if (held != held_in.end() && held->second != &c) continue;
      }
      if (detail::is_listening(s)) {
        const std::string key = listen_key(s, id);
        const std::string family(detail::proto_family(s.proto));
        if (ignored_by(options.ignore, {fmt::format("{}:{}", family, s.local_port)})) continue;
        if (!reported_sockets.insert("listen " + key).second) continue;
        const auto it = pc.listening.find(key);
        const std::size_t count = it == pc.listening.end() ? 0 : it->second;
        if (count >= q) continue;
        json subject = {{"port", s.local_port}, {"proto", family}, {"address", s.local_ip}};
        const std::string holder = holder_subject(subject, s);
        Finding f =
            make(FindingKind::listening_port, "drift.listening_port",
                 detail::is_loopback_ip(s.local_ip) ? Severity::medium : Severity::high, c,
                 fmt::format("{}listens on {} {}; {}", holder, family,
                             detail::host_port(detail::unmap_ipv4(s.local_ip), s.local_port), in_members(count, of)),
                 {count, of});
        f.subject = std::move(subject);
        f.artifact = c.artifact(Category::sockets);
        f.record = detail::socket_record(s);
        result.findings.push_back(std::move(f));
      } else if (detail::is_connection(s) && !detail::is_inbound(s, ports)) {
        const std::string key = connection_key(s, id, options.addresses);
        const std::string remote = detail::host_port(detail::unmap_ipv4(s.remote_ip), s.remote_port);
        const auto* name = find_address(options.addresses, s.remote_ip);
        if (ignored_by(options.ignore,
                       {remote, name != nullptr ? fmt::format("{}:{}", name->name, s.remote_port) : ""}))
          continue;
        if (!reported_sockets.insert("connect " + key).second) continue;
        const auto it = pc.connections.find(key);
        const std::size_t count = it == pc.connections.end() ? 0 : it->second;
        if (count >= q) continue;
        json subject = {
            {"remote", remote}, {"proto", std::string(detail::proto_family(s.proto))}, {"port", s.remote_port}};
        if (name != nullptr) subject["name"] = name->name;
        std::string holder = holder_subject(subject, s);
        Finding f = make(FindingKind::connection, "drift.connection", Severity::medium, c,
                         fmt::format("{}→ {}, {}; {}", holder, detail::remote_label(s, options.addresses), s.state,
                                     in_members(count, of)),
                         {count, of});
        f.subject = std::move(subject);
        f.artifact = c.artifact(Category::sockets);
        f.record = detail::socket_record(s);
        result.findings.push_back(std::move(f));
      }
    }
  }

  void files(const ContainerSnapshot& c, const ProfileContainer& pc) {
    if (!comparable(c, pc, Category::listing)) return;
    const std::size_t of = pc.members[static_cast<std::size_t>(Category::listing)];
    const std::size_t q = quorum(of, c, Category::listing);
    std::vector<Finding> found;
    std::vector<const FileEntry*> new_dirs;
    for (const auto& f : c.files) {
      const std::string key = normalise_path(f.path, id);
      if (ignored_path(key) || ignored_by(options.ignore, {f.path, key})) continue;
      const bool exec = executable(f);
      if (log_or_cache(key) && !exec) continue;  // noise rule "logs and caches"
      const auto it = pc.files.find(key);
      std::size_t present = 0;
      std::size_t same = 0;
      const FileVariant* common = nullptr;
      if (it != pc.files.end()) {
        for (const auto& v : it->second) {
          present += v.count;
          if (same_content(f, v)) same += v.count;
          if (common == nullptr || v.count > common->count) common = &v;
        }
      }
      if (same >= q) continue;
      const bool special = (f.mode & 06000U) != 0;
      json subject = {{"path", f.path}, {"type", type_name(f.type)}, {"mode", fmt::format("{:04o}", f.mode)}};
      if (f.type == 'f') subject["size"] = f.size;
      if (!f.sha256.empty()) subject["sha256"] = f.sha256;
      std::string rule;
      std::string summary;
      Severity severity = Severity::medium;
      std::string traits;
      if (exec) traits += ", executable";
      if ((f.mode & 04000U) != 0) traits += ", setuid";
      if ((f.mode & 02000U) != 0) traits += ", setgid";
      const std::string traits_paren = traits.empty() ? "" : " (" + traits.substr(2) + ")";
      if (present < q || common == nullptr) {
        if (f.type == 'd') {  // reported only if nothing below it is (see below)
          new_dirs.push_back(&f);
          continue;
        }
        rule = "drift.file.added";
        summary = fmt::format("{} added ({}{}{}); {}", f.path, type_name(f.type),
                              f.type == 'f' ? fmt::format(", {} bytes", f.size) : std::string(), traits,
                              in_members(present, of));
        severity = special ? Severity::critical : exec ? Severity::high : Severity::medium;
      } else if (common->type != f.type) {
        rule = "drift.file.type";
        summary = fmt::format("{} is a {}{}, a {} {}", f.path, type_name(f.type), traits_paren, type_name(common->type),
                              in_members(common->count, of));
        severity = special ? Severity::critical : exec ? Severity::high : Severity::medium;
      } else if (((f.mode ^ common->mode) & telling_bits(f.type)) != 0 &&
                 (f.type != 'f' || f.sha256.empty() || common->sha256.empty() || f.sha256 == common->sha256)) {
        rule = "drift.file.mode";
        summary =
            fmt::format("{} has mode {:04o}, {:04o} {}", f.path, f.mode, common->mode, in_members(common->count, of));
        severity = (special && (common->mode & 06000U) != (f.mode & 06000U)) ? Severity::critical : Severity::medium;
      } else if (f.type == 'l') {
        rule = "drift.file.target";
        summary =
            fmt::format("{} points to {}, to {} {}", f.path, f.target, common->target, in_members(common->count, of));
        subject["target"] = f.target;
      } else if (!f.sha256.empty() && !common->sha256.empty()) {
        rule = "drift.file.modified";
        summary = fmt::format("{} changed{}: its SHA-256 matches {}", f.path, traits_paren, in_members(same, of));
        severity = special ? Severity::critical : exec ? Severity::high : Severity::medium;
      } else {
        rule = "drift.file.size";
        summary = fmt::format("{} changed{}: {} bytes, {} bytes {} (content not hashed)", f.path, traits_paren, f.size,
                              common->size, in_members(common->count, of));
        severity = special ? Severity::critical : exec ? Severity::medium : Severity::low;
      }
      Finding finding = make(FindingKind::file, rule, severity, c, std::move(summary), {same, of});
      finding.subject = std::move(subject);
      finding.artifact = c.artifact(Category::listing);
      finding.record = detail::file_record(f);
      found.push_back(std::move(finding));
    }
    // A new directory is said by the findings below it; one with none (an empty hiding place) is
    // reported itself. Deepest first, so nested new directories fold into the innermost.
    for (auto d = new_dirs.rbegin(); d != new_dirs.rend(); ++d) {
      const FileEntry& f = **d;
      const bool covered = std::any_of(found.begin(), found.end(), [&](const Finding& x) {
        const std::string p = x.subject.value("path", "");
        return p.size() > f.path.size() && path_under(p, f.path);
      });
      if (covered) continue;
      Finding finding =
          make(FindingKind::file, "drift.file.added", Severity::low, c,
               fmt::format("{} added (empty directory, mode {:04o}); {}", f.path, f.mode, in_members(0, of)), {0, of});
      finding.subject = {{"path", f.path}, {"type", "directory"}, {"mode", fmt::format("{:04o}", f.mode)}};
      finding.artifact = c.artifact(Category::listing);
      finding.record = detail::file_record(f);
      found.push_back(std::move(finding));
    }
    for (auto& f : found) result.findings.push_back(std::move(f));
  }
};

}  // namespace

DriftResult compare(const PodSnapshot& suspect, const Profile& profile, const DriftOptions& options) {
  Comparer cmp{suspect,
               profile,
               options,
               identity_of(suspect),
               profile.relation(),
               profile.source == BaselineSource::baseline_file ? "baseline pod" : "sibling",
               {},
               {},
               {}};
  if (profile.ok_members() == 0) {
    cmp.result.gaps.push_back(
        profile.members.empty()
            ? "drift not judged: no sibling or baseline to compare with (see the indicators)"
            : "drift not judged: no member could be compared (see the members' reasons and the indicators)");
    return std::move(cmp.result);
  }
  for (const auto& c : suspect.containers) {
    for (const auto& s : c.sockets) {
      if (s.inode != 0 && detail::holder_of(c, s) != nullptr) cmp.held_in.emplace(s.inode, &c);
    }
  }
  for (const auto& c : suspect.containers) {
    const ProfileContainer* pc = profile.match(c.name, c.digest);
    if (pc != nullptr && std::all_of(pc->members.begin(), pc->members.end(), [](std::size_t n) { return n == 0; })) {
      pc = nullptr;  // seeded from the suspect, but no member had it
    }
    if (pc == nullptr) {
      cmp.result.gaps.push_back(
          fmt::format("container {}: not compared: no {} has a container of that name or image", c.name, cmp.who));
      continue;
    }
    cmp.processes(c, *pc);
    cmp.sockets(c, *pc);
    cmp.files(c, *pc);
  }
  return std::move(cmp.result);
}

AnalysisDocument drift_document(const PodSnapshot& suspect, const Profile& profile, const DriftOptions& options,
                                const std::string& generated_at, const std::string& baseline_file) {
  AnalysisDocument d;
  d.kind = DocumentKind::drift;
  d.pod = suspect.pod;
  d.generated_at = generated_at;
  BaselineInfo b;
  b.source = profile.members.empty() ? BaselineSource::none : profile.source;
  b.quorum = std::max<std::size_t>(1, options.quorum);
  b.members = profile.members;
  if (profile.source == BaselineSource::baseline_file) {
    b.digest = profile.digest;
    b.file = baseline_file;
    b.created = profile.created;
    for (const auto& c : suspect.containers) {
      const ProfileContainer* pc = profile.match(c.name, c.digest);
      if (pc != nullptr && !pc->digest.empty() && !c.digest.empty() && pc->digest != c.digest) {
        d.gaps.push_back(
            fmt::format("IMAGE DIFFERS: the baseline of container {} was made from {}, the pod runs {}: "
                        "differences may come from the new image, not from an intrusion",
                        c.name, pc->digest, c.digest));
      } else if (pc == nullptr && !c.digest.empty()) {
        d.gaps.push_back(fmt::format("IMAGE DIFFERS: the baseline has no container {} and no container of its image {} "
                                     "(it was made from {}): this container is not compared",
                                     c.name, c.digest, profile.digest.empty() ? "an unknown image" : profile.digest));
      }
    }
  } else {
    for (const auto& c : suspect.containers) {
      if (!c.digest.empty()) {
        b.digest = c.digest;
        break;
      }
    }
  }
  d.baseline = std::move(b);
  d.gaps.insert(d.gaps.end(), suspect.gaps.begin(), suspect.gaps.end());
  for (const auto& c : suspect.containers) d.gaps.insert(d.gaps.end(), c.gaps.begin(), c.gaps.end());
  DriftResult r = compare(suspect, profile, options);
  d.findings = std::move(r.findings);
  d.gaps.insert(d.gaps.end(), r.gaps.begin(), r.gaps.end());
  finalize(d);
  return d;
}

}  // namespace ir::forensics
