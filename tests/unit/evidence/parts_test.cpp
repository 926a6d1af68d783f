#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "evidence/bundle.hpp"
#include "evidence/parts.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"
#include "util/crypto.hpp"

using namespace ir;
using namespace ir::evidence;
using ir::testing::random_bytes;
using ir::testing::TempDir;

namespace {

util::FakeClock make_clock() { return util::FakeClock(*util::parse_rfc3339("2026-11-21T16:02:28Z")); }

const ArtifactMeta k_meta{.source = "exec: tar -c -f - /tmp", .method = evidence::Method::exec};

ArtifactMeta outcome(int exit_status, std::string note = "") {
  return {.source = "exec: tar -c -f - /tmp", .method = evidence::Method::exec, .exit_status = exit_status, .note = std::move(note)};
}

// A bundle that forwards to a real one, failing the Nth add, and checking that no two calls ever
// overlap (the sink's worker and its producer must take turns).
class CheckedBundle final : public BundleWriter {
 public:
  CheckedBundle(BundleWriter& inner, int fail_at) : m_inner(inner), m_fail_at(fail_at) {}
  Result<Artifact> add(const std::string& name, std::string_view data, const ArtifactMeta& meta) override {
    const Enter enter(*this);
    if (++m_adds == m_fail_at) return fail(Errc::io, "write: No space left on device");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // give an overlap the chance to show
    return m_inner.add(name, data, meta);
  }
  Result<std::unique_ptr<EntrySink>> open_entry(const std::string& name, const ArtifactMeta& meta) override {
    const Enter enter(*this);
    return m_inner.open_entry(name, meta);
  }
  [[nodiscard]] const std::vector<Artifact>& artifacts() const override { return m_inner.artifacts(); }
  Result<std::string> finish() override { return m_inner.finish(); }
  [[nodiscard]] bool overlapped() const { return m_overlapped; }

 private:
  struct Enter {
    explicit Enter(CheckedBundle& b) : bundle(b) {
      if (bundle.m_inside.exchange(true)) bundle.m_overlapped = true;
    }
    ~Enter() { bundle.m_inside = false; }
    CheckedBundle& bundle;
  };
  BundleWriter& m_inner;
  int m_fail_at;
  std::atomic<int> m_adds{0};
  std::atomic<bool> m_inside{false};
  std::atomic<bool> m_overlapped{false};
};

std::vector<Artifact> parts_of(const BundleWriter& b, const std::string& base) {
  std::vector<Artifact> out;
  for (const auto& a : b.artifacts()) {
    if (a.path.rfind(base + ".", 0) == 0) out.push_back(a);
  }
  return out;
}

}  // namespace

TEST_CASE("PartSink: a stream becomes numbered parts that concatenate to it, the last with the outcome") {
  TempDir dir;
  auto clock = make_clock();
  auto w = create_bundle(dir.file("case.tar.gz"), clock);
  REQUIRE(w);
  CheckedBundle bundle(**w, 0);
  const std::string stream = random_bytes(10'500, 1);
  {
    PartSink sink(bundle, "fs/archive-001.tar", k_meta, 1000);
    // Writes of odd sizes that straddle part boundaries.
    for (std::size_t off = 0; off < stream.size(); off += 777) REQUIRE(sink.write(std::string_view(stream).substr(off, 777)));
    REQUIRE(sink.close(outcome(0)));
    CHECK(sink.parts() == 11);
    CHECK(sink.bytes() == stream.size());
  }
  const auto parts = parts_of(bundle, "fs/archive-001.tar");
  REQUIRE(parts.size() == 11);
  std::string joined;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    CAPTURE(i);
    CHECK(parts[i].path == fmt::format("fs/archive-001.tar.{:03}", i));
    const std::size_t size = i < 10 ? 1000 : 500;
    CHECK(parts[i].size == size);
    CHECK(parts[i].sha256 == util::sha256_hex(std::string_view(stream).substr(i * 1000, size)));
    if (i < 10) {
      CHECK_FALSE(parts[i].meta.exit_status.has_value());
      CHECK(parts[i].meta.note == "part of a stream: concatenate fs/archive-001.tar.* in order");
    }
  }
  CHECK(parts[10].meta.exit_status == 0);
  CHECK(parts[10].meta.note == "last part of fs/archive-001.tar.*");
  CHECK(parts[10].meta.source == k_meta.source);
  CHECK_FALSE(bundle.overlapped());
  REQUIRE((*w)->finish());
}

TEST_CASE("PartSink: the outcome is recorded even when the stream fills its parts exactly or is empty") {
  TempDir dir;
  auto clock = make_clock();
  auto w = create_bundle(dir.file("case.tar.gz"), clock);
  REQUIRE(w);
  {
    PartSink exact(**w, "exact.tar", k_meta, 1000);
    REQUIRE(exact.write(random_bytes(2000, 2)));
    REQUIRE(exact.close(outcome(2, "exit 2: tar: /tmp/x: Cannot open")));
  }
  const auto exact = parts_of(**w, "exact.tar");
  REQUIRE(exact.size() == 3);
  CHECK(exact[2].size == 0);
  CHECK(exact[2].meta.exit_status == 2);
  CHECK(exact[2].meta.note == "exit 2: tar: /tmp/x: Cannot open; last part of exact.tar.*");
  {
    PartSink empty(**w, "empty.tar", k_meta, 1000);
    REQUIRE(empty.close(outcome(0)));
    CHECK(empty.parts() == 1);
  }
  const auto empty = parts_of(**w, "empty.tar");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].path == "empty.tar.000");
  CHECK(empty[0].size == 0);
  CHECK(empty[0].meta.note.empty());
  REQUIRE((*w)->finish());
}

TEST_CASE("PartSink: a failed part stops the stream with its error, and nothing waits forever") {
  TempDir dir;
  auto clock = make_clock();
  auto w = create_bundle(dir.file("case.tar.gz"), clock);
  REQUIRE(w);
  CheckedBundle bundle(**w, 2);  // the second part's add fails
  PartSink sink(bundle, "fs/archive.tar", k_meta, 100);
  const std::string chunk = random_bytes(100, 3);
  Result<void> r;
  int writes = 0;
  // The failure happens on the worker while the producer fills the next part: it surfaces at the
  // next hand-off, which waits for the failed add (writes 1 and 2 hand off parts 0 and 1).
  while (writes < 10 && (r = sink.write(chunk))) ++writes;
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("No space left on device") != std::string::npos);
  CHECK(writes == 2);
  const auto c = sink.close(outcome(0));
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("No space left on device") != std::string::npos);
  const auto parts = parts_of(bundle, "fs/archive.tar");
  REQUIRE(parts.size() == 1);  // the first part is kept; nothing after the failure is added
  CHECK(parts[0].sha256 == util::sha256_hex(chunk));
  CHECK_FALSE(bundle.overlapped());
}

TEST_CASE("PartSink: dropped without close, it keeps the full parts and adds nothing more") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("case.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  {
    PartSink sink(**w, "fs/archive.tar", k_meta, 1000);
    REQUIRE(sink.write(random_bytes(2500, 4)));
  }  // the stream failed before it ended: the caller drops the sink
  const auto parts = parts_of(**w, "fs/archive.tar");
  REQUIRE(parts.size() == 2);
  CHECK(parts[1].path == "fs/archive.tar.001");
  REQUIRE((*w)->add("after.txt", "the bundle is usable again", k_meta));
  REQUIRE((*w)->finish());
  const auto report = verify_bundle(path);
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE("PartSink: writing after close fails") {
  TempDir dir;
  auto clock = make_clock();
  auto w = create_bundle(dir.file("case.tar.gz"), clock);
  REQUIRE(w);
  PartSink sink(**w, "x.tar", k_meta, 1000);
  REQUIRE(sink.close(outcome(0)));
  CHECK_FALSE(sink.write("late"));
  CHECK_FALSE(sink.close(outcome(0)));
  REQUIRE((*w)->finish());
}
