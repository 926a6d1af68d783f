#pragma once
// Test helpers for lib/forensics' analysis: snapshots of pods built in code (a healthy web pod to
// start from, then changed by the test), and the demo fixtures captured from the fake cluster
// (tests/testdata/forensics/demo: artifacts of `kubectl ir collect` on the compromised replica
// web-7d4b9c8f6-x2k9p and the healthy b8lqz and m4hzt).

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "forensics/analysis.hpp"
#include "forensics/snapshot.hpp"
#include "util/files.hpp"

namespace ir::testing {

inline forensics::Process make_process(std::int64_t pid, std::string exe, std::string comm,
                                       std::vector<std::string> argv, std::uint32_t uid = 1000, std::string sha = "") {
  forensics::Process p;
  p.pid = pid;
  p.ppid = pid == 1 ? 0 : 1;
  p.exe = std::move(exe);
  p.comm = std::move(comm);
  p.argv = std::move(argv);
  p.uid = uid;
  p.real_uid = uid;
  p.exe_sha256 = std::move(sha);
  p.start_time = static_cast<std::uint64_t>(1000 + pid);
  p.ld_preload = forensics::Preload::unset;
  return p;
}

inline forensics::Socket make_socket(std::string proto, std::string local_ip, std::uint32_t local_port,
                                     std::string remote_ip, std::uint32_t remote_port, std::string state,
                                     std::uint64_t inode, std::vector<std::int64_t> pids = {}) {
  forensics::Socket s;
  s.proto = std::move(proto);
  s.local_ip = std::move(local_ip);
  s.local_port = local_port;
  s.remote_ip = std::move(remote_ip);
  s.remote_port = remote_port;
  s.state = std::move(state);
  s.inode = inode;
  s.pids = std::move(pids);
  return s;
}

inline forensics::FileEntry make_file(std::string path, char type, std::uint64_t size, std::uint32_t mode,
                                      std::string sha = "", std::string target = "") {
  forensics::FileEntry f;
  f.path = std::move(path);
  f.type = type;
  f.size = size;
  f.mode = mode;
  f.sha256 = std::move(sha);
  f.target = std::move(target);
  f.mtime = "2026-12-05T10:00:00Z";
  return f;
}

// A 64-hex "hash" made from one character.
inline std::string sha_of(char c) {
  return std::string(64, c);
}

// Restores the invariants the analysis relies on (processes by pid, files by path).
inline void sort_snapshot(forensics::PodSnapshot& pod) {
  for (auto& c : pod.containers) {
    std::sort(c.processes.begin(), c.processes.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
    std::sort(c.files.begin(), c.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  }
}

// A healthy replica of a web Deployment: an app server (uid 1000) listening on 8080 with a
// connection to a database Service and DNS, a shell entrypoint, a service-account mount, a log
// directory, /etc/hostname; every category collected. Inode and port numbers, pids, start times
// and mtimes vary with `seed` like they do between real replicas.
inline forensics::PodSnapshot healthy_pod(const std::string& name, const std::string& ip, int seed = 0) {
  using namespace forensics;
  PodSnapshot pod;
  pod.pod = {"shop", name, "uid-" + name};
  pod.node = "node-1";
  pod.ips = {ip};
  pod.hostname = name;
  pod.declared_ports = std::vector<DeclaredPort>{{"TCP", 8080}};
  ContainerSnapshot c;
  c.name = "web";
  c.digest = "sha256:" + sha_of('d');
  c.dir = "containers/web/";
  for (auto& a : c.availabilities) a.coverage = Coverage::collected;
  const std::int64_t base = 1 + seed * 3;
  c.processes.push_back(
      make_process(1, "/bin/dash", "entrypoint.sh", {"/bin/sh", "/entrypoint.sh"}, 1000, sha_of('1')));
  c.processes.back().pid = 1;
  c.processes.push_back(
      make_process(base + 6, "/usr/local/bin/app", "app", {"/usr/local/bin/app", "--port", "8080"}, 1000, sha_of('2')));
  c.processes.back().sockets = {{3, 100U + static_cast<std::uint64_t>(seed)},
                                {4, 200U + static_cast<std::uint64_t>(seed)}};
  const auto app = c.processes.back().pid;
  c.sockets.push_back(
      make_socket("tcp", "0.0.0.0", 8080, "0.0.0.0", 0, "LISTEN", 100U + static_cast<std::uint64_t>(seed), {app}));
  c.sockets.push_back(make_socket("tcp", ip, 41000U + static_cast<std::uint32_t>(seed), "10.96.20.5", 5432,
                                  "ESTABLISHED", 200U + static_cast<std::uint64_t>(seed), {app}));
  // A client of the pod (inbound to 8080): its address and port vary.
  c.sockets.push_back(make_socket("tcp", ip, 8080, "10.244.1." + std::to_string(50 + seed),
                                  50000U + static_cast<std::uint32_t>(seed), "ESTABLISHED",
                                  300U + static_cast<std::uint64_t>(seed), {app}));
  c.sockets.push_back(
      make_socket("udp", ip, 45000U + static_cast<std::uint32_t>(seed), "10.96.0.10", 53, "ESTABLISHED", 0, {}));
  c.files = {
      make_file("/", 'd', 4096, 0755),
      make_file("/bin", 'd', 4096, 0755),
      make_file("/bin/dash", 'f', 125560, 0755, sha_of('1')),
      make_file("/bin/sh", 'l', 4, 0777, "", "dash"),
      make_file("/entrypoint.sh", 'f', 300, 0755),
      make_file("/etc", 'd', 4096, 0755),
      make_file("/etc/hostname", 'f', name.size() + 1, 0644),
      make_file("/etc/hosts", 'f', 200 + name.size(), 0644),
      make_file("/etc/passwd", 'f', 900, 0644),
      make_file("/tmp", 'd', 4096, 01777),
      make_file("/usr/local/bin/app", 'f', 9000000, 0755, sha_of('2')),
      make_file("/var/log/app", 'd', 4096, 0755),
      make_file("/var/log/app/access.log", 'f', 1000U + static_cast<std::uint64_t>(seed) * 777, 0644),
      make_file("/var/run/secrets/kubernetes.io/serviceaccount", 'd', 140, 01777),
      make_file("/var/run/secrets/kubernetes.io/serviceaccount/..2026_12_05_10_0" + std::to_string(seed) + "_00.1234",
                'd', 100, 0755),
      make_file("/var/run/secrets/kubernetes.io/serviceaccount/..data", 'l', 31, 0777, "",
                "..2026_12_05_10_0" + std::to_string(seed) + "_00.1234"),
      make_file("/var/run/secrets/kubernetes.io/serviceaccount/token", 'l', 12, 0777, "", "..data/token"),
  };
  for (std::size_t i = 0; i < c.files.size(); ++i) c.files[i].line = i + 1;
  for (std::size_t i = 0; i < c.sockets.size(); ++i) c.sockets[i].index = i;
  for (std::size_t i = 0; i < c.processes.size(); ++i) c.processes[i].index = i;
  pod.containers.push_back(std::move(c));
  sort_snapshot(pod);
  return pod;
}

inline forensics::Member member_of(const forensics::PodSnapshot& pod,
                                   forensics::Relation relation = forensics::Relation::same_workload) {
  forensics::Member m;
  m.namespace_name = pod.pod.namespace_name;
  m.name = pod.pod.name;
  m.node = pod.node;
  m.relation = relation;
  return m;
}

// Reads artifacts from a directory laid out like a bundle.
inline forensics::ArtifactReader directory_reader(const std::string& root) {
  return [root](const std::string& path, std::size_t max_bytes) -> Result<std::string> {
    const std::string full = root + "/" + path;
    if (!std::filesystem::exists(full)) return fail(Errc::not_found, path + ": no such artifact");
    return util::read_file(full, max_bytes);
  };
}

inline std::string demo_dir(const std::string& pod) {
  return std::string(IR_TESTDATA_DIR) + "/forensics/demo/" + pod;
}

// A demo pod's snapshot from its fixture.
inline forensics::PodSnapshot demo_pod(const std::string& pod) {
  return forensics::read_pod_snapshot("", directory_reader(demo_dir(pod)), [](const std::string& c) { return c; });
}

inline constexpr const char* k_demo_compromised = "web-7d4b9c8f6-x2k9p";
inline constexpr const char* k_demo_healthy_1 = "web-7d4b9c8f6-b8lqz";
inline constexpr const char* k_demo_healthy_2 = "web-7d4b9c8f6-m4hzt";

}  // namespace ir::testing
