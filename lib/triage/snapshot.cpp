#include "triage/snapshot.hpp"

#include <set>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::triage {

using nlohmann::json;
using forensics::Category;

// One container's builder and what reached it.
struct SnapshotTap::Container {
  Container(const std::string& name, const std::string& dir, const forensics::SnapshotLimits& limits)
      : builder(name, dir, limits) {}
  forensics::ContainerSnapshotBuilder builder;
  std::string walk_script;
  bool processes = false;  // processes.json or ps.json
  bool sockets = false;
  bool hashes = false;
  bool listing = false;
};

namespace {

constexpr std::size_t k_max_script_bytes = 64 * 1024;

// The part of `name` after "containers/<dir>/", and <dir>; false for any other entry.
bool split_container_entry(const std::string& name, std::string& dir, std::string& rest) {
  constexpr std::string_view k_top = "containers/";
  if (name.compare(0, k_top.size(), k_top) != 0) return false;
  const auto slash = name.find('/', k_top.size());
  if (slash == std::string::npos) return false;
  dir = name.substr(k_top.size(), slash - k_top.size());
  rest = name.substr(slash + 1);
  return true;
}

// Discards an entry's bytes, counting them (a tap without a bundle behind it).
class CountingEntry final : public evidence::EntrySink {
 public:
  CountingEntry(std::string name, std::function<void(const evidence::Artifact&)> done)
      : m_name(std::move(name)), m_done(std::move(done)) {}
  Result<void> write(std::string_view data) override {
    m_size += data.size();
    return {};
  }
  Result<evidence::Artifact> commit(const evidence::ArtifactMeta& meta) override {
    evidence::Artifact a{m_name, m_size, "", "", meta};
    m_done(a);
    return a;
  }

 private:
  std::string m_name;
  std::uint64_t m_size = 0;
  std::function<void(const evidence::Artifact&)> m_done;
};

// Passes an entry on and, for the listing, streams it into the container's builder too.
class TapEntry final : public evidence::EntrySink {
 public:
  TapEntry(std::unique_ptr<evidence::EntrySink> inner, util::Sink* listing,
           std::function<void(const evidence::Artifact&)> done)
      : m_inner(std::move(inner)), m_listing(listing), m_done(std::move(done)) {}
  Result<void> write(std::string_view data) override {
    if (m_listing != nullptr) (void)m_listing->write(data);  // the builder never fails; it counts what it cannot take
    return m_inner->write(data);
  }
  Result<evidence::Artifact> commit(const evidence::ArtifactMeta& meta) override {
    if (m_listing != nullptr) (void)m_listing->finish();
    m_listing = nullptr;
    IR_TRY(a, m_inner->commit(meta));
    m_done(a);
    return a;
  }
  ~TapEntry() override {
    // Dropped without commit (a failed stream): what arrived still counts for the analysis.
    if (m_listing != nullptr) (void)m_listing->finish();
  }

 private:
  std::unique_ptr<evidence::EntrySink> m_inner;
  util::Sink* m_listing;
  std::function<void(const evidence::Artifact&)> m_done;
};

// The step that feeds `category` ("processes", "network", "filesystem"/"hashes").
bool feeds(const StepRecord& s, Category category) {
  switch (category) {
    case Category::processes:
    case Category::executables: return s.step == "processes";
    case Category::sockets: return s.step == "network";
    case Category::listing: return s.step == "filesystem";
    case Category::exe_hashes:
    case Category::file_hashes: return s.step == "hashes" || s.step == "archive" || s.step == "filesystem";
  }
  return false;
}

// Why nothing of `category` reached the tap for `container`: the step's outcome and detail, else
// what collect said it did not collect, else "not collected".
std::string why_missing(const CollectReport& report, const std::string& container, Category category) {
  for (const auto& s : report.steps) {
    if (s.container != container || !feeds(s, category) || s.status == util::Outcome::ok) continue;
    return fmt::format("{} {}{}", s.step, util::to_string(s.status), s.detail.empty() ? "" : ": " + s.detail);
  }
  const std::string of = "container " + util::esc(container, util::Cap::word);
  for (const auto& line : report.not_collected) {
    if (line.find(of) != std::string::npos) return line;
  }
  if (report.cancelled) return "interrupted (Ctrl-C)";
  return "not collected";
}

}  // namespace

SnapshotTap::SnapshotTap(const json& pod, evidence::BundleWriter* inner, std::string prefix, forensics::SnapshotLimits limits)
    : m_inner(inner), m_prefix(std::move(prefix)), m_limits(limits), m_facts(forensics::pod_facts(pod)) {
  for (const auto& c : m_facts.containers) m_dirs.emplace(evidence::safe_component(c), c);
}

SnapshotTap::~SnapshotTap() = default;

SnapshotTap::Container* SnapshotTap::container_of(const std::string& name, std::string* artifact) {
  std::string dir;
  if (!split_container_entry(name, dir, *artifact)) return nullptr;
  const auto it = m_dirs.find(dir);
  if (it == m_dirs.end()) return nullptr;  // a debug container's own entries, or not a spec container
  auto& slot = m_containers[it->second];
  if (!slot) slot = std::make_unique<Container>(it->second, m_prefix + "containers/" + dir + "/", m_limits);
  return slot.get();
}

void SnapshotTap::take(Container& c, const std::string& artifact, std::string_view data) {
  const auto parse = [&](Category category) -> std::optional<json> {
    auto doc = forensics::parse_bounded_json(data, m_limits.max_json_bytes, m_limits.max_depth);
    if (!doc) {
      c.builder.missing(category, artifact.substr(artifact.rfind('/') + 1), doc.error().message);
      return std::nullopt;
    }
    return std::move(*doc);
  };
  if (artifact == "processes/proc-walk.sh") {
    c.walk_script = std::string(data.substr(0, k_max_script_bytes));
  } else if (artifact == "processes/processes.json") {
    c.processes = true;
    if (auto doc = parse(Category::processes)) c.builder.add_processes(*doc, c.walk_script);
  } else if (artifact == "processes/ps.json") {
    c.processes = true;
    if (auto doc = parse(Category::processes)) c.builder.add_ps(*doc);
  } else if (artifact == "network/sockets.json") {
    c.sockets = true;
    if (auto doc = parse(Category::sockets)) c.builder.add_sockets(*doc);
  } else if (artifact == "filesystem/hashes.json") {
    c.hashes = true;
    if (auto doc = parse(Category::file_hashes)) c.builder.add_hashes(*doc);
  }
}

Result<evidence::Artifact> SnapshotTap::add(const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) {
  std::lock_guard lock(m_mutex);
  evidence::Artifact a{name, data.size(), "", "", meta};
  if (m_inner != nullptr) {
    IR_TRY(added, m_inner->add(name, data, meta));
    a = std::move(added);
  } else if (std::any_of(m_artifacts.begin(), m_artifacts.end(), [&](const evidence::Artifact& x) { return x.path == name; })) {
    return fail(Errc::conflict, "entry " + name + " already written");
  }
  std::string artifact;
  if (Container* c = container_of(name, &artifact)) take(*c, artifact, data);
  m_artifacts.push_back(a);
  return a;
}

Result<std::unique_ptr<evidence::EntrySink>> SnapshotTap::open_entry(const std::string& name, const evidence::ArtifactMeta& meta) {
  std::unique_ptr<evidence::EntrySink> inner;
  if (m_inner != nullptr) {
    IR_TRY(opened, m_inner->open_entry(name, meta));  // outside the lock: a shared bundle may make it wait
    inner = std::move(opened);
  }
  std::lock_guard lock(m_mutex);
  auto done = [this](const evidence::Artifact& a) {
    std::lock_guard l(m_mutex);
    m_artifacts.push_back(a);
  };
  if (!inner) inner = std::make_unique<CountingEntry>(name, done);
  std::string artifact;
  util::Sink* listing = nullptr;
  if (Container* c = container_of(name, &artifact); c != nullptr && artifact == "filesystem/listing.jsonl" && !c->listing) {
    c->listing = true;
    listing = &c->builder.listing();
  }
  if (m_inner == nullptr && listing == nullptr) return inner;  // CountingEntry records itself
  if (m_inner == nullptr) return std::unique_ptr<evidence::EntrySink>(std::make_unique<TapEntry>(std::move(inner), listing, [](const evidence::Artifact&) {}));
  return std::unique_ptr<evidence::EntrySink>(std::make_unique<TapEntry>(std::move(inner), listing, done));
}

Result<std::string> SnapshotTap::finish() { return fail(Errc::failure, "a snapshot tap cannot finish the bundle"); }

forensics::PodSnapshot SnapshotTap::snapshot(const CollectReport& report) {
  std::lock_guard lock(m_mutex);
  forensics::PodSnapshot pod = forensics::pod_snapshot(m_facts);
  std::set<std::string> covered;
  for (const auto& s : report.steps) {
    if (!s.container.empty()) covered.insert(s.container);
  }
  for (const auto& name : m_facts.containers) {
    if (covered.count(name) == 0 && m_containers.count(name) == 0) continue;  // not asked for (-c)
    auto& slot = m_containers[name];
    const bool nothing = !slot;
    if (!slot) slot = std::make_unique<Container>(name, m_prefix + "containers/" + evidence::safe_component(name) + "/", m_limits);
    Container& c = *slot;
    if (!c.processes) c.builder.missing(Category::processes, "processes.json", why_missing(report, name, Category::processes));
    if (!c.sockets) c.builder.missing(Category::sockets, "sockets.json", why_missing(report, name, Category::sockets));
    if (!c.listing) c.builder.missing(Category::listing, "listing.jsonl", why_missing(report, name, Category::listing));
    if (!c.hashes) c.builder.missing(Category::file_hashes, "hashes.json", why_missing(report, name, Category::file_hashes));
    forensics::ContainerSnapshot snap = c.builder.finish();
    for (const auto& [n, digest] : m_facts.digests) {
      if (n == name) snap.digest = digest;
    }
    if (nothing) {
      snap.gaps.clear();
      snap.gaps.push_back(fmt::format("container {}: nothing collected ({})", snap.name, why_missing(report, name, Category::processes)));
    }
    pod.containers.push_back(std::move(snap));
  }
  m_containers.clear();
  return pod;
}

}  // namespace ir::triage
