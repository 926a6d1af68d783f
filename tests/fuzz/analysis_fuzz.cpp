// Fuzz target: the analysis layer of lib/forensics on hostile inputs: a baseline file
// (parse_baseline), and a container's parsed artifacts as a tampered bundle could hold them
// (processes.json, sockets.json, hashes.json, listing.jsonl into ContainerSnapshotBuilder). The
// first byte picks the input kind; the rest is the input. Whatever parses is then analysed
// (indicators, drift of the snapshot against the baseline or against itself) and its documents
// dumped. Invariants: no crash or exception; every string in a document is printable UTF-8 (a
// strict dump would throw otherwise); the limits hold (processes, files, members, items).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "forensics/baseline.hpp"
#include "forensics/drift.hpp"
#include "forensics/indicators.hpp"
#include "forensics/snapshot.hpp"

namespace {

using namespace ir::forensics;
using nlohmann::json;

void check_strings(const json& j) {
  if (j.is_string()) {
    for (const char c : j.get_ref<const std::string&>()) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) std::abort();
    }
    return;
  }
  if (j.is_array() || j.is_object()) {
    for (const auto& v : j) check_strings(v);
  }
}

void check(const AnalysisDocument& d) {
  const json j = to_json(d);
  check_strings(j);
  (void)j.dump(-1, ' ', false, json::error_handler_t::strict);  // throws on invalid UTF-8
  (void)summary_lines(d.findings, 4);
}

PodSnapshot pod_of(ContainerSnapshot c) {
  PodSnapshot pod;
  pod.pod = {"shop", "web-7d4b9c8f6-fuzz0", "uid"};
  pod.hostname = pod.pod.name;
  pod.ips = {"10.244.0.10"};
  pod.declared_ports = std::vector<DeclaredPort>{{"TCP", 8080}};
  pod.containers.push_back(std::move(c));
  return pod;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  SnapshotLimits limits;
  limits.max_processes = 32;
  limits.max_sockets = 32;
  limits.max_files = 64;
  limits.max_string_bytes = 128;
  limits.max_line_bytes = 4096;
  ContainerSnapshotBuilder b("web", "containers/web/", limits);
  switch (data[0] % 4) {
    case 0: {
      BaselineLimits bl;
      bl.max_items = 2000;
      bl.max_members = 16;
      auto baseline = parse_baseline(input, bl);
      if (!baseline) return 0;
      for (const auto& c : baseline->profile.containers) {
        for (const auto& [path, variants] : c.files) {
          for (const auto& v : variants) {
            if (v.count > baseline->profile.ok_members()) std::abort();
          }
        }
      }
      ContainerSnapshot c;
      c.name = "web";
      for (auto& a : c.availabilities) a.coverage = Coverage::collected;
      c.files.push_back(FileEntry{1, "/tmp/x", 'f', 1, 0755, 0, 0, "", "", "", {}});
      check(drift_document(pod_of(std::move(c)), baseline->profile, {}, "t", "f"));
      (void)write_baseline(baseline->profile, baseline->meta);
      return 0;
    }
    case 1:
    case 2: {
      auto doc = parse_bounded_json(input, 1 << 20, 32);
      if (!doc) return 0;
      if (data[0] % 4 == 1) {
        b.add_processes(*doc, "");
        b.add_ps(*doc);
      } else {
        b.add_sockets(*doc);
        b.add_hashes(*doc);
      }
      break;
    }
    default:
      (void)b.listing().write(input);
      (void)b.listing().finish();
  }
  ContainerSnapshot c = b.finish();
  if (c.processes.size() > limits.max_processes || c.files.size() > limits.max_files) std::abort();
  const PodSnapshot pod = pod_of(std::move(c));
  check(indicators_document(pod, {}, "t"));
  ProfileBuilder pb;
  pb.add(Member{}, pod);
  const Profile profile = std::move(pb).finish();
  check(drift_document(pod, profile, {}, "t"));
  (void)parse_baseline(write_baseline(profile, {}));
  return 0;
}
