#pragma once
// Drift: what the suspect pod has that fewer than `quorum` of its healthy siblings (or of the pods
// a baseline file was made from) share. Members are first folded into a Profile — per container,
// per item, how many members had it — so that comparing against N members costs one pass over
// each member plus hash lookups for the suspect's items, and memory grows with the distinct items
// rather than with N. A baseline file (baseline.hpp) is a Profile on disk.
//
// Items and their keys (README: "Drift"):
//   process        the executable path (pids, start times, arguments are not compared), then its
//                  SHA-256, then whether it runs as uid 0
//   listening_port protocol family, address class (any, the pod's own IP, loopback, other) and port
//   connection     protocol family and remote address:port (a named cluster address by its group);
//                  connections into the pod's own listening ports are not compared
//   file           the path, then its content: SHA-256 when both sides hashed it, else type, size
//                  and link target; setuid/setgid bits
// after the noise rules (README: "Noise rules"): pod-specific names and IPs in paths become
// placeholders; /proc, /sys, /dev, service-account and projected-volume plumbing, /etc/hostname,
// /etc/hosts and /etc/resolv.conf are not compared; logs and caches may grow, appear and change
// (unless they are executables with new content); TIME_WAIT and CLOSE sockets are left out;
// kubectl-ir's own processes are left out; `ignore` globs drop items by key.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "forensics/analysis.hpp"
#include "forensics/snapshot.hpp"

namespace ir::forensics {

struct DriftOptions {
  // A finding is what fewer than `quorum` compared members share (1: none of them). Lowered to the
  // number of members that could be compared when fewer (a gap says so); 0 is taken as 1.
  std::size_t quorum = 1;
  // fnmatch(3) patterns without FNM_PATHNAME ('*' crosses '/'), matched against each item's key:
  // a file's path, a process's exe path, a listening socket as "PROTO:PORT" ("tcp:9090"), a
  // connection as "ADDRESS:PORT" and, when named, "NAME:PORT" ("10.96.*:53", "service
  // kube-system/*:53"). Every matching item is left out.
  std::vector<std::string> ignore;
  AddressNames addresses;  // the suspect's cluster addresses (names in findings; groups for matching)
};

// One content variant of a path across members.
struct FileVariant {
  char type = 'f';
  std::uint64_t size = 0;
  std::uint32_t mode = 0;
  std::string target;  // symlinks
  std::string sha256;  // "" when that member did not hash it
  std::size_t count = 0;
};

// Members that ran one executable path.
struct ExeStats {
  std::size_t count = 0;                                    // members running it
  std::size_t root_count = 0;                               // members running it as uid 0
  std::size_t hashed = 0;                                   // members with a hash for it
  std::vector<std::pair<std::string, std::size_t>> hashes;  // sha256 → members
};

// What the members' instances of one container had. Keys are normalised (see above).
struct ProfileContainer {
  std::string name;
  std::string digest;
  // Members whose snapshot had the category (collected or partial), by Category.
  std::array<std::size_t, k_categories> members{};
  std::unordered_map<std::string, ExeStats> executables;            // exe path → stats
  std::unordered_map<std::string, std::size_t> listening;           // "tcp *:8080" → members
  std::unordered_map<std::string, std::size_t> connections;         // "tcp 10.96.0.10:53" → members
  std::unordered_map<std::string, std::vector<FileVariant>> files;  // path → variants
};

// The members folded. Owns everything.
struct Profile {
  BaselineSource source = BaselineSource::siblings;
  std::vector<Member> members;  // ok and failed, in the order added
  std::vector<ProfileContainer> containers;
  std::string digest;   // baseline files: the image digest they were made from
  std::string created;  // baseline files: RFC 3339

  // Members with status ok.
  [[nodiscard]] std::size_t ok_members() const;
  // What findings are judged against: baseline-file for a file; else same-workload when every ok
  // member is same-workload, else same-digest.
  [[nodiscard]] Relation relation() const;
  // The container matching `container` and `image_digest`: the same name (when both digests are
  // known they must agree), else the only one with the same digest, else the same name with another
  // digest (a baseline older than a rollout: drift_document says so); nullptr if none.
  [[nodiscard]] const ProfileContainer* match(const std::string& container, const std::string& image_digest) const;
};

// Folds members into a Profile one at a time, so a caller can drop each member's snapshot after
// adding it. Not thread-safe.
class ProfileBuilder {
 public:
  // `addresses`: the members' cluster addresses, to key their connections by name (group).
  explicit ProfileBuilder(AddressNames addresses = {});

  // Creates the profile's containers from the suspect's (one per name, with its digest), so that
  // members map onto them; optional (members' containers are added as they come otherwise). Each
  // container of a member maps onto its own profile container, as Profile::match says.
  void seed(const PodSnapshot& suspect);
  // Adds one member that was collected. A member whose snapshot holds nothing at all (no category
  // of any container collected) is recorded as failed ("nothing could be read"), not counted.
  void add(Member member, const PodSnapshot& snapshot);
  // As add(), with this member's cluster addresses instead of the builder's (names resolved as
  // each member's snapshot arrives).
  void add(Member member, const PodSnapshot& snapshot, const AddressNames& addresses);
  // Adds a member that could not be collected: reported, never counted as agreeing.
  void add_failed(Member member);

  [[nodiscard]] Profile finish() &&;

 private:
  AddressNames m_addresses;
  Profile m_profile;
};

// What the comparison found and could not judge.
struct DriftResult {
  std::vector<Finding> findings;
  std::vector<std::string> gaps;
};

// Compares `suspect` with `profile` (container by container, matched with Profile::match). No ok
// member: no findings and a gap saying nothing could be compared. A category the suspect or every
// member lacks is not compared (a gap says which). Findings carry seen_in and judged_against.
DriftResult compare(const PodSnapshot& suspect, const Profile& profile, const DriftOptions& options);

// The analysis/drift.json document for a comparison: compare() plus the baseline block (source,
// members, quorum, digest; for a file its name and creation time), the suspect's snapshot gaps,
// finalized. With no members at all the baseline source is "none" and a gap says plainly that
// drift could not be judged (indicators only). When the profile's digest (baseline file) differs
// from the suspect container's, the first gap says so.
AnalysisDocument drift_document(const PodSnapshot& suspect, const Profile& profile, const DriftOptions& options,
                                const std::string& generated_at, const std::string& baseline_file = "");

// Convenience: a builder seeded with `suspect`, every member added (a nullptr snapshot is a failed
// member, with Member::reason saying why), finished.
Profile profile_of_members(const PodSnapshot& suspect,
                           const std::vector<std::pair<Member, const PodSnapshot*>>& members,
                           const AddressNames& member_addresses = {});

}  // namespace ir::forensics
