#pragma once
// A pod's snapshot as the analysis reads it (forensics::PodSnapshot), taken from the artifacts
// collect writes, while it writes them: SnapshotTap is a BundleWriter that passes every entry on
// (to a real bundle, or nowhere) and feeds the documents the analysis reads — the /proc walk,
// ps, sockets, the file listing (streamed) and the hashes of each container — into one
// forensics::ContainerSnapshotBuilder per container. So collect (kubectl ir collect) and drift's
// snapshots (kubectl ir drift, a sibling's snapshot) share one exec ladder and one parser path,
// and a snapshot that is not kept costs no bundle: only the parsed state stays in memory.
//
// Entries are recognised by their names only ("containers/<dir>/processes/processes.json", ...),
// the names collect gives them (lib/forensics/README.md, "Snapshots: what is read"); their
// content is as hostile as the pod and is read by the same bounded parsers as a bundle on disk.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "forensics/snapshot.hpp"
#include "triage/collect.hpp"

namespace ir::triage {

class SnapshotTap final : public evidence::BundleWriter {
 public:
  // `pod`: the Pod object collect starts from (containers, IPs, digests: forensics::pod_facts).
  // `inner`: where entries go on, not owned, may be nullptr (nowhere: sizes are recorded, hashes
  // are not). `prefix`: where this writer's entries sit in the real bundle ("" or
  // "pods/<ns>/<pod>/"), for the artifact paths findings name.
  SnapshotTap(const nlohmann::json& pod, evidence::BundleWriter* inner, std::string prefix = "",
              forensics::SnapshotLimits limits = {});
  ~SnapshotTap() override;
  SnapshotTap(const SnapshotTap&) = delete;
  SnapshotTap& operator=(const SnapshotTap&) = delete;

  // Passes on to `inner` (errors are inner's; without inner, Errc::conflict for a name used twice)
  // and keeps what the analysis reads. Thread-safe.
  Result<evidence::Artifact> add(const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) override;
  Result<std::unique_ptr<evidence::EntrySink>> open_entry(const std::string& name, const evidence::ArtifactMeta& meta) override;
  // The entries written through this tap (not the inner bundle's others).
  [[nodiscard]] const std::vector<evidence::Artifact>& artifacts() const override { return m_artifacts; }
  // Refused (Errc::failure): the owner of the real bundle finishes it.
  Result<std::string> finish() override;

  // The snapshot of the pod from what went through, one container per container `report`
  // covered (a step record names it): what could not be read is a gap with the step's reason
  // ("processes of container app: not collected (the image has no sh: no /proc walk)"). Call
  // once, after collect returned.
  forensics::PodSnapshot snapshot(const CollectReport& report);

 private:
  struct Container;
  Container* container_of(const std::string& name, std::string* artifact);
  void take(Container& c, const std::string& artifact, std::string_view data);

  std::mutex m_mutex;
  evidence::BundleWriter* m_inner;
  std::string m_prefix;
  forensics::SnapshotLimits m_limits;
  forensics::PodFacts m_facts;
  std::map<std::string, std::string> m_dirs;  // directory name (evidence::safe_component) → container
  std::map<std::string, std::unique_ptr<Container>> m_containers;  // by container name
  std::vector<evidence::Artifact> m_artifacts;
};

}  // namespace ir::triage
