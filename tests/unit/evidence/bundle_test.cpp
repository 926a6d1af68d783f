#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "util/crypto.hpp"
#include "util/files.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

using namespace ir;
using namespace ir::evidence;
namespace fs = std::filesystem;

namespace {

using ir::testing::random_bytes;
using ir::testing::TempDir;

struct TarEntry {
  std::string name;
  std::string data;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::string uname;
  std::string gname;
  std::int64_t mtime = 0;
  std::string link;  // symlink target
};

TarEntry file_entry(std::string name, std::string data) {
  TarEntry t;
  t.name = std::move(name);
  t.data = std::move(data);
  return t;
}

// Reads every entry of a tar (gzip or none, as bundles are) into memory: test bundles are small.
// Only the gzip filter and the tar formats: the release build links libarchive statically, and
// the *_all readers would drag in zstd, lz4, xz, bzip2 and libxml2 (the arm64 unit tests link so).
std::vector<TarEntry> read_tar(const std::string& path) {
  std::vector<TarEntry> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  REQUIRE(archive_read_open_filename(a, path.c_str(), 65536) == ARCHIVE_OK);
  struct archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    TarEntry t;
    t.name = archive_entry_pathname(e);
    t.type = archive_entry_filetype(e);
    t.perm = archive_entry_perm(e);
    t.uid = archive_entry_uid(e);
    t.gid = archive_entry_gid(e);
    t.uname = archive_entry_uname(e) != nullptr ? archive_entry_uname(e) : "";
    t.gname = archive_entry_gname(e) != nullptr ? archive_entry_gname(e) : "";
    t.mtime = archive_entry_mtime(e);
    char buf[65536];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) t.data.append(buf, static_cast<std::size_t>(n));
    REQUIRE(n == 0);
    out.push_back(std::move(t));
  }
  archive_read_free(a);
  return out;
}

enum class Compression { gzip, none };

// Writes entries as a ustar archive (gzip-compressed unless told otherwise): how an attacker or a
// careless tool would re-pack a bundle.
void write_tar(const std::string& path, const std::vector<TarEntry>& entries, Compression c = Compression::gzip) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == Compression::gzip) archive_write_add_filter_gzip(a);
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& t : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_filetype(e, t.type);
    archive_entry_set_perm(e, t.perm);
    if (t.type == AE_IFLNK) archive_entry_set_symlink(e, t.link.c_str());
    archive_entry_set_size(e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size()) : 0);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (t.type == AE_IFREG && !t.data.empty()) {
      REQUIRE(archive_write_data(a, t.data.data(), t.data.size()) == static_cast<la_ssize_t>(t.data.size()));
    }
    archive_entry_free(e);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
}

std::string file_sha256(const std::string& path) {
  auto data = util::read_file(path, 1ULL << 32);
  REQUIRE(data);
  return util::sha256_hex(*data);
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777U;
}

util::FakeClock make_clock() { return util::FakeClock(*util::parse_rfc3339("2026-11-21T16:02:28Z")); }

ArtifactMeta api_meta(const std::string& source) { return {.source = source, .method = evidence::Method::api}; }

// A small finished bundle: pod/pod.json, containers/app/processes/ps.txt, logs/app.log.
std::string make_bundle(const TempDir& dir, util::Clock& clock, const std::string& name = "case.tar.gz") {
  const std::string path = dir.file(name);
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  REQUIRE((*w)->add("pod/pod.json", R"({"kind":"Pod"})", api_meta("GET /api/v1/namespaces/shop/pods/web-1")));
  auto sink = (*w)->open_entry("containers/app/processes/ps.txt", {.source = "exec: ps -ef", .method = evidence::Method::exec});
  REQUIRE(sink);
  REQUIRE((*sink)->write("PID CMD\n"));
  REQUIRE((*sink)->write("1 nginx\n"));
  REQUIRE((*sink)->commit({.source = "exec: ps -ef", .method = evidence::Method::exec, .exit_status = 0}));
  REQUIRE((*w)->add("logs/app.log", "line 1\nline 2\n", api_meta("GET .../log")));
  REQUIRE((*w)->finish());
  return path;
}

std::vector<TarEntry> without(std::vector<TarEntry> entries, const std::string& name) {
  entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const TarEntry& t) { return t.name == name; }),
                entries.end());
  return entries;
}

TarEntry& entry_named(std::vector<TarEntry>& entries, const std::string& name) {
  for (auto& t : entries) {
    if (t.name == name) return t;
  }
  FAIL("no entry " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("safe_component") {
  struct Case {
    std::string in;
    std::string want_prefix;  // before the "-<hash>" suffix; the whole result when unchanged
    bool changed;
  };
  const std::vector<Case> cases = {
      {"web-7d4b9", "web-7d4b9", false},
      {"app.log", "app.log", false},
      {"A_b-9.x", "A_b-9.x", false},
      {"_", "_", false},
      {"", "_", true},
      {".", "_.", true},
      {"..", "_..", true},
      {"../etc", "_.._etc", true},
      {".hidden", "_.hidden", true},
      {"/", "_", true},
      {"a/b", "a_b", true},
      {"a_b", "a_b", false},
      {std::string("a\0b", 3), "a_b", true},
      {"\x1b[31mred", "__31mred", true},
      {"line\nbreak", "line_break", true},
      {"caf\xc3\xa9", "caf__", true},
      {"\xff\xfe", "__", true},
      {"sp ace", "sp_ace", true},
      {std::string(100, 'a'), std::string(100, 'a'), false},
      {std::string(101, 'a'), std::string(91, 'a'), true},
      {std::string(300, 'b'), std::string(91, 'b'), true},
      {std::string(300, '/'), std::string(91, '_'), true},
  };
  std::set<std::string> outputs;
  for (const auto& c : cases) {
    CAPTURE(c.in);
    const std::string out = safe_component(c.in);
    CAPTURE(out);
    CHECK(out.size() <= 100);
    CHECK(out.front() != '.');
    CHECK(out.find('/') == std::string::npos);
    CHECK(check_entry_name(out));
    if (c.changed) {
      const std::string suffix = "-" + util::sha256_hex(c.in).substr(0, 8);
      CHECK(out == c.want_prefix + suffix);
    } else {
      CHECK(out == c.want_prefix);
    }
    outputs.insert(out);
  }
  CHECK(outputs.size() == cases.size());  // distinct inputs stay distinct
  CHECK(safe_component("x") == safe_component("x"));  // deterministic
}

TEST_CASE("bundle: check_entry_name") {
  for (const char* ok : {"a", "pod/pod.json", "containers/app/processes/ps.txt", "a.b/c-d_e", "...x", "x.."}) {
    CAPTURE(ok);
    CHECK(check_entry_name(ok));
  }
  const std::vector<std::string> bad = {"",          "/etc/passwd", "../evil",  "a/../b",      "a/..",  "..",
                                        ".",         "./a",         "a/./b",    "a//b",        "a/",    "/",
                                        "sp ace",    "tab\t",       "nl\n",     "esc\x1b",     "caf\xc3\xa9",
                                        "back\\sl", std::string("n\0ul", 4),    std::string(1025, 'a')};
  for (const auto& b : bad) {
    CAPTURE(b);
    const auto r = check_entry_name(b);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid);
  }
  CHECK(check_entry_name(std::string(1024, 'a')));
}

TEST_CASE("bundle: add, open_entry and finish, then verify_bundle") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("case-42.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  auto& writer = **w;

  // Written under the partial name only: the final path appears with finish().
  CHECK_FALSE(fs::exists(path));
  CHECK(fs::exists(path + ".partial"));
  CHECK(file_mode(path + ".partial") == 0600);

  const auto pod = writer.add("pod/pod.json", R"({"kind":"Pod"})", api_meta("GET /api/v1/namespaces/shop/pods/web-1"));
  REQUIRE(pod);
  CHECK(pod->path == "pod/pod.json");
  CHECK(pod->size == 14);
  CHECK(pod->sha256 == util::sha256_hex(R"({"kind":"Pod"})"));
  CHECK(pod->collected_at == "2026-11-21T16:02:28Z");

  clock.advance(std::chrono::seconds(5));
  auto sink = writer.open_entry("containers/app/processes/ps.txt", {.source = "exec: ps -ef", .method = evidence::Method::exec});
  REQUIRE(sink);
  REQUIRE((*sink)->write("PID CMD\n"));
  // add() while a streaming entry is open goes straight into the archive.
  REQUIRE(writer.add("logs/app.log", "line 1\n", api_meta("GET /api/v1/namespaces/shop/pods/web-1/log")));
  REQUIRE((*sink)->write("1 nginx\n"));
  clock.advance(std::chrono::seconds(2));
  const auto ps = (*sink)->commit({.source = "exec: ps -ef", .method = evidence::Method::exec, .exit_status = 0, .truncated = true, .note = "limit reached"});
  REQUIRE(ps);
  CHECK(ps->size == 16);
  CHECK(ps->sha256 == util::sha256_hex("PID CMD\n1 nginx\n"));
  CHECK(ps->collected_at == "2026-11-21T16:02:35Z");
  CHECK(ps->meta.exit_status == 0);
  CHECK(writer.artifacts().size() == 3);
  CHECK_FALSE(fs::exists(path));

  clock.advance(std::chrono::seconds(1));
  const auto digest = writer.finish();
  REQUIRE(digest);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".partial"));
  CHECK(dir.list() == std::vector<std::string>{"case-42.tar.gz"});  // no spool left behind
  CHECK(file_mode(path) == 0600);
  CHECK(*digest == file_sha256(path));

  const auto report = verify_bundle(path);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->entries_checked == 3);
  CHECK(report->problems.empty());
  CHECK(report->bundle_sha256 == *digest);

  SUBCASE("tar headers carry nothing of this host") {
    const auto entries = read_tar(path);
    REQUIRE(entries.size() == 4);
    CHECK(entries[0].name == "pod/pod.json");
    CHECK(entries[1].name == "logs/app.log");
    CHECK(entries[2].name == "containers/app/processes/ps.txt");
    CHECK(entries[3].name == "manifest.json");  // last: it lists everything before it
    CHECK(entries[2].data == "PID CMD\n1 nginx\n");
    for (const auto& e : entries) {
      CAPTURE(e.name);
      CHECK(e.type == AE_IFREG);
      CHECK(e.perm == 0644);
      CHECK(e.uid == 0);
      CHECK(e.gid == 0);
      CHECK(e.uname == "root");
      CHECK(e.gname == "root");
    }
    const auto t0 = std::chrono::system_clock::to_time_t(*util::parse_rfc3339("2026-11-21T16:02:28Z"));
    CHECK(entries[0].mtime == t0);
    CHECK(entries[2].mtime == t0 + 7);
    CHECK(entries[3].mtime == t0 + 8);
  }

  SUBCASE("manifest.json") {
    const auto entries = read_tar(path);
    const auto m = nlohmann::json::parse(entries.back().data);
    CHECK(m["format"] == "kubectl-ir-bundle/v1");
    CHECK(m["created"] == "2026-11-21T16:02:28Z");
    REQUIRE(m["artifacts"].size() == 3);
    const auto& a0 = m["artifacts"][0];
    CHECK(a0["path"] == "pod/pod.json");
    CHECK(a0["size"] == 14);
    CHECK(a0["sha256"] == util::sha256_hex(R"({"kind":"Pod"})"));
    CHECK(a0["collected_at"] == "2026-11-21T16:02:28Z");
    CHECK(a0["source"] == "GET /api/v1/namespaces/shop/pods/web-1");
    CHECK(a0["method"] == "api");
    CHECK(a0["exit_status"].is_null());
    CHECK(a0["truncated"] == false);
    CHECK(a0["note"] == "");
    const auto& a2 = m["artifacts"][2];
    CHECK(a2["path"] == "containers/app/processes/ps.txt");
    CHECK(a2["exit_status"] == 0);
    CHECK(a2["truncated"] == true);
    CHECK(a2["note"] == "limit reached");
    CHECK(a2["collected_at"] == "2026-11-21T16:02:35Z");
  }

  SUBCASE("one standard gzip member") {
    auto raw = util::read_file(path);
    REQUIRE(raw);
    REQUIRE(raw->size() > 18);
    // RFC 1952 §2.3: ID1 ID2 CM=8 (deflate), FLG=0 (no name, comment or extra field), MTIME.
    CHECK(static_cast<unsigned char>((*raw)[0]) == 0x1f);
    CHECK(static_cast<unsigned char>((*raw)[1]) == 0x8b);
    CHECK((*raw)[2] == 8);
    CHECK((*raw)[3] == 0);
    std::uint32_t mtime = 0;
    for (int i = 3; i >= 0; --i) mtime = (mtime << 8U) | static_cast<unsigned char>((*raw)[4 + static_cast<std::size_t>(i)]);
    CHECK(mtime == static_cast<std::uint32_t>(std::chrono::system_clock::to_time_t(*util::parse_rfc3339("2026-11-21T16:02:28Z"))));
    // The whole file inflates as one member, and the tar inside is whole 10240-byte records.
    z_stream z{};
    REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
    std::string tar(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(raw->data());
    z.avail_in = static_cast<uInt>(raw->size());
    z.next_out = reinterpret_cast<Bytef*>(tar.data());
    z.avail_out = static_cast<uInt>(tar.size());
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    CHECK(z.avail_in == 0);
    CHECK(z.total_out % 10240 == 0);
    inflateEnd(&z);
  }
}

TEST_CASE("bundle: streamed entries of mixed data stay exact and compress what can be compressed") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("big.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  // Random, then zeros, then random again, in writes that do not line up with any window: the
  // gzip stream switches between deflate and stored blocks and back.
  const std::string random = random_bytes(3 << 20, 7);
  const std::string zeros(3 << 20, '\0');
  const std::string data = random + zeros + random;
  auto sink = (*w)->open_entry("node/dump.bin", {.source = "exec: cat /dev/mem", .method = evidence::Method::exec});
  REQUIRE(sink);
  for (std::size_t off = 0; off < data.size(); off += 100'003) REQUIRE((*sink)->write(std::string_view(data).substr(off, 100'003)));
  const auto art = (*sink)->commit({.source = "exec: cat /dev/mem", .method = evidence::Method::exec, .exit_status = 0});
  REQUIRE(art);
  CHECK(art->size == data.size());
  CHECK(art->sha256 == util::sha256_hex(data));
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "Nov 21 16:02:28 web-1 nginx[1]: GET /index.html 200\n";
  REQUIRE((*w)->add("logs/text.log", text, api_meta("log")));
  REQUIRE((*w)->finish());

  const auto size = fs::file_size(path);
  CHECK(size > 2 * random.size());                            // random bytes cannot shrink
  CHECK(size < 2 * random.size() + random.size() / 50 + 64 * 1024);  // stored, not inflated; zeros and text vanish
  const auto entries = read_tar(path);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].data == data);
  CHECK(entries[1].data == text);
  const auto report = verify_bundle(path);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->entries_checked == 2);
}

TEST_CASE("bundle: an entry of text after incompressible entries is compressed from its start") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("parts.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  // Incompressible entries one after another (an archive's parts): the gzip stream stores them.
  // The text entry that follows is shorter than one 256 KiB window, so only the sample taken at
  // its start can switch deflate back on in time.
  std::size_t random_total = 0;
  for (std::uint64_t i = 0; i < 6; ++i) {
    const std::string part = random_bytes(1 << 20, 20 + i);
    random_total += part.size();
    REQUIRE((*w)->add(fmt::format("fs/archive.tar.{:03}", i), part, api_meta("tar")));
  }
  std::string text;
  while (text.size() < 200 * 1024) text += "Nov 21 16:02:28 web-1 sshd[812]: Accepted publickey for root from 10.0.0.7\n";
  REQUIRE((*w)->add("logs/auth.log", text, api_meta("log")));
  REQUIRE((*w)->finish());
  const auto size = fs::file_size(path);
  CHECK(size > random_total);
  CHECK(size < random_total + random_total / 100 + 32 * 1024);  // the text shrank to almost nothing
  const auto entries = read_tar(path);
  REQUIRE(entries.size() == 8);
  CHECK(entries[6].data == text);
}

TEST_CASE("bundle: a bundle larger than several writeback windows is whole") {
  // The file is pushed to disk and dropped from the page cache 32 MiB at a time while it grows.
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("large.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  const std::string block = random_bytes(12 << 20, 40);
  for (int i = 0; i < 9; ++i) REQUIRE((*w)->add(fmt::format("fs/archive.tar.{:03}", i), block, api_meta("tar")));
  const auto sha = (*w)->finish();
  REQUIRE(sha);
  CHECK(*sha == file_sha256(path));
  CHECK(fs::file_size(path) > 9 * block.size());
  const auto report = verify_bundle(path);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->entries_checked == 9);
}

TEST_CASE("bundle: a writer destroyed without finish leaves only the .partial") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("case.tar.gz");
  std::unique_ptr<EntrySink> orphan;
  {
    auto w = create_bundle(path, clock);
    REQUIRE(w);
    REQUIRE((*w)->add("pod/pod.json", "{}", api_meta("GET pod")));
    auto sink = (*w)->open_entry("containers/app/processes/ps.txt", {});
    REQUIRE(sink);
    REQUIRE((*sink)->write("partial output"));
    // While streaming, the spool is already unlinked: only the partial bundle is visible.
    CHECK(dir.list() == std::vector<std::string>{"case.tar.gz.partial"});
    orphan = std::move(*sink);
  }
  // The sink outlived its writer: it must fail cleanly, not touch freed memory.
  const auto late = orphan->commit({});
  REQUIRE_FALSE(late);
  CHECK(late.error().message.find("finished or closed") != std::string::npos);
  orphan.reset();

  CHECK(dir.list() == std::vector<std::string>{"case.tar.gz.partial"});
  CHECK(file_mode(path + ".partial") == 0600);
  // The partial is a readable tar.gz of what was committed, without a manifest.
  const auto entries = read_tar(path + ".partial");
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].name == "pod/pod.json");
  const auto report = verify_bundle(path + ".partial");
  REQUIRE_FALSE(report);
  CHECK(report.error().code == Errc::invalid);
  CHECK(report.error().message.find("no manifest.json") != std::string::npos);
}

TEST_CASE("bundle: entry names are checked and unique") {
  TempDir dir;
  auto clock = make_clock();
  auto w = create_bundle(dir.file("case.tar.gz"), clock);
  REQUIRE(w);
  auto& writer = **w;
  REQUIRE(writer.add("pod/pod.json", "{}", api_meta("GET pod")));

  SUBCASE("duplicates") {
    const auto again = writer.add("pod/pod.json", "{}", api_meta("GET pod"));
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::conflict);
    const auto stream = writer.open_entry("pod/pod.json", {});
    REQUIRE_FALSE(stream);
    CHECK(stream.error().code == Errc::conflict);
    auto open = writer.open_entry("pod/events.json", {});
    REQUIRE(open);
    const auto same_as_open = writer.add("pod/events.json", "[]", api_meta("GET events"));
    REQUIRE_FALSE(same_as_open);
    CHECK(same_as_open.error().code == Errc::conflict);
    REQUIRE((*open)->commit(api_meta("GET events")));
    CHECK_FALSE(writer.add("pod/events.json", "[]", api_meta("GET events")));
  }
  SUBCASE("a name cannot be a file and a directory") {
    CHECK(writer.add("pod", "x", {}).error().code == Errc::conflict);
    CHECK(writer.add("pod/pod.json/x", "x", {}).error().code == Errc::conflict);
    auto open = writer.open_entry("node/info", {});
    REQUIRE(open);
    CHECK(writer.add("node/info/x", "x", {}).error().code == Errc::conflict);
    CHECK(writer.add("node", "x", {}).error().code == Errc::conflict);
  }
  SUBCASE("unsafe and reserved names") {
    for (const char* bad : {"../evil", "/etc/passwd", "a//b", "a/./b", "bad name", "", "x\x1b"}) {
      CAPTURE(bad);
      const auto r = writer.add(bad, "x", {});
      REQUIRE_FALSE(r);
      CHECK(r.error().code == Errc::invalid);
      const auto s = writer.open_entry(bad, {});
      REQUIRE_FALSE(s);
      CHECK(s.error().code == Errc::invalid);
    }
    const auto manifest = writer.add("manifest.json", "{}", {});
    REQUIRE_FALSE(manifest);
    CHECK(manifest.error().code == Errc::invalid);
  }
  // Refused names leave the writer usable.
  REQUIRE(writer.finish());
  const auto report = verify_bundle(dir.file("case.tar.gz"));
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE("bundle: one open entry at a time") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("case.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  auto& writer = **w;

  auto a = writer.open_entry("a.txt", {});
  REQUIRE(a);
  const auto b = writer.open_entry("b.txt", {});
  REQUIRE_FALSE(b);
  CHECK(b.error().message.find("\"a.txt\" is still open") != std::string::npos);
  REQUIRE((*a)->write("aaa"));
  REQUIRE((*a)->commit({}));
  const auto twice = (*a)->commit({});
  REQUIRE_FALSE(twice);
  CHECK_FALSE((*a)->write("more"));

  {
    auto dropped = writer.open_entry("b.txt", {});
    REQUIRE(dropped);
    REQUIRE((*dropped)->write("discarded"));
  }  // destroyed without commit: adds nothing and frees the name and the slot
  auto b2 = writer.open_entry("b.txt", {});
  REQUIRE(b2);
  REQUIRE((*b2)->write("bbb"));
  REQUIRE((*b2)->commit({}));

  auto open_at_finish = writer.open_entry("c.txt", {});
  REQUIRE(open_at_finish);
  REQUIRE((*open_at_finish)->write("never committed"));
  REQUIRE(writer.finish());
  CHECK_FALSE((*open_at_finish)->commit({}));  // dropped by finish

  const auto entries = read_tar(path);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].name == "a.txt");
  CHECK(entries[1].name == "b.txt");
  CHECK(entries[1].data == "bbb");
  CHECK(entries[2].name == "manifest.json");
  CHECK(writer.artifacts().size() == 2);
}

TEST_CASE("bundle: finish happens once") {
  TempDir dir;
  auto clock = make_clock();
  auto w = create_bundle(dir.file("case.tar.gz"), clock);
  REQUIRE(w);
  REQUIRE((*w)->finish());
  CHECK_FALSE((*w)->finish());
  CHECK_FALSE((*w)->add("late.txt", "x", {}));
  CHECK_FALSE((*w)->open_entry("late.txt", {}));
  // An empty bundle is still a valid one.
  const auto report = verify_bundle(dir.file("case.tar.gz"));
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->entries_checked == 0);
}

TEST_CASE("bundle: finish never replaces a file that appeared meanwhile") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("case.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  REQUIRE((*w)->add("pod/pod.json", "{}", api_meta("GET pod")));
  REQUIRE(util::write_file_atomic(path, "someone else's file"));
  const auto r = (*w)->finish();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::io);
  CHECK(r.error().hint.find(".partial") != std::string::npos);
  CHECK(*util::read_file(path) == "someone else's file");
  // The evidence is whole in the partial file.
  const auto report = verify_bundle(path + ".partial");
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE("bundle: create_bundle refuses to overwrite") {
  TempDir dir;
  auto clock = make_clock();
  SUBCASE("the bundle exists") {
    REQUIRE(util::write_file_atomic(dir.file("case.tar.gz"), "old"));
    const auto w = create_bundle(dir.file("case.tar.gz"), clock);
    REQUIRE_FALSE(w);
    CHECK(w.error().code == Errc::io);
    CHECK(*util::read_file(dir.file("case.tar.gz")) == "old");
  }
  SUBCASE("a partial bundle exists") {
    REQUIRE(util::write_file_atomic(dir.file("case.tar.gz.partial"), "earlier evidence"));
    const auto w = create_bundle(dir.file("case.tar.gz"), clock);
    REQUIRE_FALSE(w);
    CHECK(w.error().code == Errc::io);
    CHECK(w.error().message.find("already exists") != std::string::npos);
    CHECK(*util::read_file(dir.file("case.tar.gz.partial")) == "earlier evidence");
  }
  SUBCASE("the directory does not exist") {
    const auto w = create_bundle(dir.file("missing/case.tar.gz"), clock);
    REQUIRE_FALSE(w);
    CHECK(w.error().code == Errc::io);
  }
  SUBCASE("the directory is not writable") {
    if (::geteuid() == 0) return;  // root writes anywhere
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
    const auto w = create_bundle(dir.file("case.tar.gz"), clock);
    REQUIRE_FALSE(w);
    CHECK(w.error().code == Errc::io);
  }
}

TEST_CASE("bundle: the manifest survives non-UTF-8 bytes in metadata") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("case.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  REQUIRE((*w)->add("out.txt", "x", {.source = "exec: cat \xff\xfe", .method = evidence::Method::exec, .exit_status = 1, .truncated = true, .note = "stream lost: \x80"}));
  REQUIRE((*w)->finish());
  const auto m = nlohmann::json::parse(read_tar(path).back().data);
  CHECK(m["artifacts"][0]["exit_status"] == 1);
  CHECK(m["artifacts"][0]["source"].get<std::string>().find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
  CHECK(verify_bundle(path)->ok());
}

TEST_CASE("verify_bundle: tampering is reported per entry") {
  TempDir dir;
  auto clock = make_clock();
  const std::string good = make_bundle(dir, clock);
  auto entries = read_tar(good);
  REQUIRE(entries.size() == 4);
  const std::string bad = dir.file("bad.tar.gz");

  struct Want {
    std::string entry;
    std::string problem;
  };
  std::vector<Want> want;
  std::size_t checked = 3;

  SUBCASE("an entry's content changed") {
    entry_named(entries, "logs/app.log").data = "line 1\nline X\n";  // same size
    want = {{"logs/app.log", "sha256 mismatch: manifest " + util::sha256_hex("line 1\nline 2\n") + ", actual " +
                                 util::sha256_hex("line 1\nline X\n")}};
  }
  SUBCASE("an entry's size changed") {
    entry_named(entries, "logs/app.log").data += "line 3\n";
    want = {{"logs/app.log", "(size: manifest 14, actual 21)"}};
  }
  SUBCASE("an extra entry") {
    entries.insert(entries.begin() + 1, file_entry("pod/extra.json", "{}"));
    want = {{"pod/extra.json", "not in the manifest"}};
  }
  SUBCASE("a missing entry") {
    entries = without(entries, "pod/pod.json");
    want = {{"pod/pod.json", "listed in the manifest but missing from the bundle"}};
    checked = 2;
  }
  SUBCASE("a duplicate entry") {
    entries.insert(entries.begin() + 1, entry_named(entries, "pod/pod.json"));
    want = {{"pod/pod.json", "duplicate entry"}};
  }
  SUBCASE("a duplicate manifest") {
    entries.insert(entries.begin(), entries.back());
    want = {{"manifest.json", "duplicate entry"}};
  }
  SUBCASE("unsafe names") {
    entries.insert(entries.begin(), file_entry("../evil", "x"));
    entries.insert(entries.begin(), file_entry("/etc/cron.d/x", "x"));
    want = {{"/etc/cron.d/x", "unsafe entry name"}, {"../evil", "unsafe entry name"}};
  }
  SUBCASE("a symbolic link") {
    TarEntry link = file_entry("pod/link", "");
    link.type = AE_IFLNK;
    link.link = "/etc/passwd";
    entries.insert(entries.begin(), link);
    want = {{"pod/link", "not a regular file: a symbolic link"}};
  }
  SUBCASE("the manifest was edited") {
    auto m = nlohmann::json::parse(entries.back().data);
    m["artifacts"][0]["sha256"] = std::string(64, '0');
    m["artifacts"].push_back(m["artifacts"][1]);
    entries.back().data = m.dump();
    // Problems in the manifest itself come first, then the entries in archive order.
    want = {{"containers/app/processes/ps.txt", "listed more than once in the manifest"},
            {"pod/pod.json", "sha256 mismatch: manifest " + std::string(64, '0')}};
  }
  SUBCASE("the manifest lists an unsafe name") {
    auto m = nlohmann::json::parse(entries.back().data);
    m["artifacts"].push_back({{"path", "../../root/.ssh/authorized_keys"}, {"size", 1}, {"sha256", "x"}});
    entries.back().data = m.dump();
    want = {{"../../root/.ssh/authorized_keys", "unsafe name in the manifest"}};
  }

  write_tar(bad, entries);
  const auto report = verify_bundle(bad);
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  CHECK(report->entries_checked == checked);
  CHECK(report->bundle_sha256 == file_sha256(bad));
  REQUIRE(report->problems.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(report->problems[i].problem);
    CHECK(report->problems[i].entry == want[i].entry);
    CHECK(report->problems[i].problem.find(want[i].problem) != std::string::npos);
  }
}

TEST_CASE("verify_bundle: a re-packed but unchanged bundle verifies") {
  TempDir dir;
  auto clock = make_clock();
  const std::string good = make_bundle(dir, clock);
  const std::string repacked = dir.file("repacked.tar.gz");
  write_tar(repacked, read_tar(good));
  const auto report = verify_bundle(repacked);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->entries_checked == 3);
  CHECK(report->bundle_sha256 != file_sha256(good));  // different bytes, same evidence
}

TEST_CASE("verify_bundle: unreadable bundles are errors, not reports") {
  TempDir dir;
  auto clock = make_clock();
  const std::string good = make_bundle(dir, clock);
  auto entries = read_tar(good);
  const std::string bad = dir.file("bad.tar.gz");
  Errc code = Errc::invalid;
  std::string message;

  SUBCASE("missing file") {
    code = Errc::io;
    message = "No such file or directory";
  }
  SUBCASE("a directory") {
    fs::create_directory(bad);
    code = Errc::io;
    message = "not a regular file";
  }
  SUBCASE("empty file") {
    REQUIRE(util::write_file_atomic(bad, ""));
    message = "not a tar.gz archive";
  }
  SUBCASE("random bytes") {
    REQUIRE(util::write_file_atomic(bad, random_bytes(100'000, 3)));
    message = "not a tar.gz archive";
  }
  SUBCASE("text") {
    REQUIRE(util::write_file_atomic(bad, "this is not a bundle\n"));
    message = "not a tar.gz archive";
  }
  SUBCASE("a tar that is not compressed") {
    write_tar(bad, entries, Compression::none);
    message = "not gzip-compressed";
  }
  SUBCASE("truncated") {
    const std::string big = dir.file("big.tar.gz");
    {
      auto w = create_bundle(big, clock);
      REQUIRE(w);
      REQUIRE((*w)->add("node/dump.bin", random_bytes(1 << 20, 9), api_meta("x")));
      REQUIRE((*w)->finish());
    }
    auto bytes = util::read_file(big);
    REQUIRE(util::write_file_atomic(bad, bytes->substr(0, bytes->size() / 2)));
    message = "corrupt or truncated";
  }
  SUBCASE("no manifest") {
    write_tar(bad, without(entries, "manifest.json"));
    message = "no manifest.json";
  }
  SUBCASE("manifest is not JSON") {
    entries.back().data = "{not json";
    write_tar(bad, entries);
    message = "not a JSON object";
  }
  SUBCASE("manifest of another format") {
    entries.back().data = R"({"format":"something/v9","artifacts":[]})";
    write_tar(bad, entries);
    message = "format is not \"kubectl-ir-bundle/v1\"";
  }
  SUBCASE("manifest with a malformed artifact") {
    entries.back().data = R"({"format":"kubectl-ir-bundle/v1","artifacts":[{"path":"a","size":-1,"sha256":"x"}]})";
    write_tar(bad, entries);
    message = "artifact 0 needs";
  }
  SUBCASE("manifest larger than 64 MiB") {
    entries.back().data = std::string((64 << 20) + 1, ' ');
    write_tar(bad, entries);
    message = "larger than 64 MiB";
  }
  const auto report = verify_bundle(bad);
  REQUIRE_FALSE(report);
  CHECK(report.error().code == code);
  CAPTURE(report.error().message);
  CHECK(report.error().message.find(message) != std::string::npos);
  CHECK(report.error().message.find('\n') == std::string::npos);  // one clear line
}

TEST_CASE("verify_bundle: the problem list is bounded") {
  TempDir dir;
  auto clock = make_clock();
  const std::string good = make_bundle(dir, clock);
  auto entries = read_tar(good);
  for (int i = 0; i < 1100; ++i) entries.insert(entries.begin(), file_entry("extra/" + std::to_string(i), "x"));
  const std::string bad = dir.file("bad.tar.gz");
  write_tar(bad, entries);
  const auto report = verify_bundle(bad);
  REQUIRE(report);
  REQUIRE(report->problems.size() == 1001);
  CHECK(report->problems.back().entry.empty());
  CHECK(report->problems.back().problem == "... 100 more problems not listed");
}

// Throughput of one streamed entry, open_entry → write → commit → finish (fsync and rename
// included). Not run by default; run with:
//   ir_unit_tests -tc='bundle throughput*' --no-skip    (IR_BENCH_MIB=1024 by default)
TEST_CASE("bundle throughput" * doctest::skip()) {
  const char* env = std::getenv("IR_BENCH_MIB");
  const std::size_t mib = env != nullptr ? std::stoul(env) : 1024;
  TempDir dir;
  util::RealClock clock;
  const std::string random = random_bytes(4 << 20, 11);
  std::string mostly_zero(4 << 20, '\0');
  for (std::size_t i = 0; i < mostly_zero.size(); i += 4096) mostly_zero[i] = static_cast<char>(i / 4096);
  for (const auto& [label, block] : {std::pair<const char*, const std::string*>{"mostly-zero", &mostly_zero}, {"random", &random}}) {
    const std::string path = dir.file(std::string(label) + ".tar.gz");
    const auto t0 = std::chrono::steady_clock::now();
    auto w = create_bundle(path, clock);
    REQUIRE(w);
    auto sink = (*w)->open_entry("data.bin", {});
    REQUIRE(sink);
    const std::size_t writes = (mib << 20) / (64 * 1024);
    for (std::size_t i = 0; i < writes; ++i) {
      // 64 KiB writes (an exec stream's frame size), from varying offsets of a 4 MiB block.
      const std::size_t off = (i * 64 * 1024 + (i % 7) * 8) % (block->size() - 64 * 1024);
      REQUIRE((*sink)->write(std::string_view(*block).substr(off, 64 * 1024)));
    }
    const auto t_spooled = std::chrono::steady_clock::now();
    REQUIRE((*sink)->commit({}));
    const auto t_committed = std::chrono::steady_clock::now();
    REQUIRE((*w)->finish());
    const auto t_finished = std::chrono::steady_clock::now();
    const double write_s = std::chrono::duration<double>(t_finished - t0).count();
    const auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
    const auto t1 = std::chrono::steady_clock::now();
    const auto report = verify_bundle(path);
    const double verify_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    REQUIRE(report);
    CHECK(report->ok());
    const double mb = static_cast<double>(mib << 20) / 1e6;
    MESSAGE(std::string(label) << ": " << mib << " MiB in " << write_s << " s = " << mb / write_s
                               << " MB/s (spool " << secs(t_spooled - t0) << " s, commit " << secs(t_committed - t_spooled)
                               << " s, finish+fsync " << secs(t_finished - t_committed) << " s), bundle "
                               << fs::file_size(path) / (1 << 20) << " MiB; verify " << mb / verify_s << " MB/s");
    fs::remove(path);
  }
}

TEST_CASE("verify_bundle: an EntryVisitor reads chosen entries in the same pass") {
  TempDir dir;
  auto clock = make_clock();
  const std::string path = dir.file("b.tar.gz");
  auto w = create_bundle(path, clock);
  REQUIRE(w);
  REQUIRE((*w)->add("pod/pod.json", R"({"kind":"Pod"})", api_meta("GET pod")));
  const std::string big = random_bytes(600 * 1024, 7);  // more than one read chunk
  REQUIRE((*w)->add("logs/app.log", big, api_meta("GET log")));
  REQUIRE((*w)->add("acquisition.json", R"({"case":"c"})", api_meta("local")));
  REQUIRE((*w)->finish());

  SUBCASE("named entries are kept, others not; the manifest too when asked") {
    EntryCollector keep({"acquisition.json", "logs/app.log", "manifest.json", "absent"}, 1 << 20);
    const auto report = verify_bundle(path, &keep);
    REQUIRE(report);
    CHECK(report->ok());
    REQUIRE(keep.find("acquisition.json") != nullptr);
    CHECK(keep.find("acquisition.json")->data == R"({"case":"c"})");
    REQUIRE(keep.find("logs/app.log") != nullptr);
    CHECK(keep.find("logs/app.log")->data == big);
    CHECK_FALSE(keep.find("logs/app.log")->cut);
    REQUIRE(keep.find("manifest.json") != nullptr);
    CHECK(nlohmann::json::parse(keep.find("manifest.json")->data)["artifacts"].size() == 3);
    CHECK(keep.find("pod/pod.json") == nullptr);
    CHECK(keep.find("absent") == nullptr);
  }
  SUBCASE("an entry longer than the bound is cut, verification still complete") {
    EntryCollector keep({"logs/app.log"}, 1000);
    const auto report = verify_bundle(path, &keep);
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(report->entries_checked == 3);
    REQUIRE(keep.find("logs/app.log") != nullptr);
    CHECK(keep.find("logs/app.log")->data == big.substr(0, 1000));
    CHECK(keep.find("logs/app.log")->cut);
  }
  SUBCASE("a visitor's error stops verification and is returned") {
    struct Refuse final : EntryVisitor {
      bool wants(std::string_view name, std::uint64_t) override { return name == "logs/app.log"; }
      Result<void> data(std::string_view, std::string_view) override { return fail(Errc::io, "disk full"); }
    } refuse;
    const auto report = verify_bundle(path, &refuse);
    REQUIRE_FALSE(report);
    CHECK(report.error().message == "disk full");
  }
}
