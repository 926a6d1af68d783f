// Benchmark of drift (lib/forensics/drift.hpp): builds synthetic pods of one workload (processes,
// sockets, a file listing with hashes), folds N members into a Profile and compares a suspect
// with it, ROUNDS times; prints one JSON line with the medians and the peak RSS. Run by
// scripts/bench/drift.sh, which calls it once per member count (peak RSS is per process).
//   drift_bench MEMBERS FILES ROUNDS

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "forensics/drift.hpp"

using namespace ir::forensics;

namespace {

std::string hex64(std::size_t n) {
  std::string s(64, '0');
  for (std::size_t i = 0; i < 16 && n != 0; ++i, n >>= 4) s[63 - i] = "0123456789abcdef"[n & 15];
  return s;
}

// One replica: the same image and program set, its own name, IP, pids, ports, log sizes.
PodSnapshot replica(std::size_t index, std::size_t files) {
  PodSnapshot pod;
  pod.pod = {"shop", "web-7d4b9c8f6-r" + std::to_string(10000 + index), "uid"};
  pod.hostname = pod.pod.name;
  pod.ips = {"10.244." + std::to_string(index / 250) + "." + std::to_string(index % 250 + 1)};
  ContainerSnapshot c;
  c.name = "web";
  c.digest = "sha256:" + hex64(7);
  for (auto& a : c.availabilities) a.coverage = Coverage::collected;
  for (std::size_t p = 0; p < 50; ++p) {
    Process pr;
    pr.pid = static_cast<std::int64_t>(1 + p + index);
    pr.exe = "/usr/bin/worker-" + std::to_string(p % 10);
    pr.exe_sha256 = hex64(p % 10);
    pr.uid = 1000;
    pr.comm = "worker";
    c.processes.push_back(pr);
  }
  for (std::size_t s = 0; s < 200; ++s) {
    Socket k;
    k.proto = "tcp";
    k.local_ip = pod.ips[0];
    k.local_port = static_cast<std::uint32_t>(30000 + s + index);
    k.remote_ip = "10.96.0." + std::to_string(s % 20);
    k.remote_port = 5432;
    k.state = "ESTABLISHED";
    c.sockets.push_back(k);
  }
  for (std::size_t f = 0; f < files; ++f) {
    FileEntry e;
    e.path = "/usr/lib/app/module-" + std::to_string(f / 100) + "/file-" + std::to_string(f) + ".so";
    e.type = 'f';
    e.size = 1000 + f;
    e.mode = 0644;
    e.sha256 = f % 4 == 0 ? hex64(f) : "";
    c.files.push_back(std::move(e));
  }
  std::sort(c.files.begin(), c.files.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  pod.containers.push_back(std::move(c));
  return pod;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: drift_bench MEMBERS FILES ROUNDS\n");
    return 2;
  }
  const std::size_t members = std::strtoul(argv[1], nullptr, 10);
  const std::size_t files = std::strtoul(argv[2], nullptr, 10);
  const std::size_t rounds = std::max<std::size_t>(1, std::strtoul(argv[3], nullptr, 10));
  PodSnapshot suspect = replica(0, files);
  suspect.containers[0].files[files / 2].sha256 = hex64(999999);  // one planted difference
  std::vector<double> build_ms;
  std::vector<double> compare_ms;
  std::size_t findings = 0;
  std::size_t items = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    // Members are made and dropped one at a time, as a caller streaming them would.
    double build = 0;
    ProfileBuilder builder;
    builder.seed(suspect);
    for (std::size_t m = 1; m <= members; ++m) {
      const PodSnapshot member = replica(m, files);
      Member info;
      info.name = member.pod.name;
      const auto t0 = std::chrono::steady_clock::now();
      builder.add(info, member);
      build += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    const Profile profile = std::move(builder).finish();
    const auto t1 = std::chrono::steady_clock::now();
    const DriftResult result = compare(suspect, profile, {});
    compare_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count());
    build_ms.push_back(build);
    findings = result.findings.size();
    const auto& pc = profile.containers[0];
    items = pc.files.size() + pc.executables.size() + pc.listening.size() + pc.connections.size();
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"members\": %zu, \"files\": %zu, \"rounds\": %zu, \"fold_ms\": %.1f, \"fold_ms_per_member\": %.2f, "
      "\"compare_ms\": %.2f, \"profile_items\": %zu, \"findings\": %zu, \"peak_rss_kib\": %ld}\n",
      members, files, rounds, median(build_ms), members == 0 ? 0.0 : median(build_ms) / static_cast<double>(members),
      median(compare_ms), items, findings, usage.ru_maxrss);
  return findings == 1 ? 0 : 1;
}
