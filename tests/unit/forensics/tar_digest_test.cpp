#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "forensics/tar_digest.hpp"
#include "support/temp_dir.hpp"
#include "util/crypto.hpp"
#include "util/files.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

using namespace ir::forensics;
using ir::testing::TempDir;
namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

// Feeds `tar` in random-sized chunks of 1..max_chunk bytes (0: one write), then finishes.
struct Digest {
  std::vector<TarMember> members;
  std::vector<std::string> problems;
  std::size_t dropped = 0;

  [[nodiscard]] const TarMember* find(const std::string& escaped_name) const {
    for (const auto& m : members) {
      if (m.name == escaped_name) return &m;
    }
    return nullptr;
  }
  [[nodiscard]] bool has_problem(const std::string& text) const {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  }
};

Digest digest(std::string_view tar, std::size_t max_chunk = 0, TarDigestLimits limits = {}, unsigned seed = 1) {
  TarDigestSink sink(limits);
  std::mt19937 rng(seed);
  for (std::size_t pos = 0; pos < tar.size();) {
    const std::size_t n = max_chunk == 0 ? tar.size() : 1 + rng() % max_chunk;
    REQUIRE(sink.write(tar.substr(pos, n)));
    pos += n;
  }
  REQUIRE(sink.finish());
  return {sink.members(), sink.problems(), sink.dropped()};
}

// ---- hand-made tar members (POSIX ustar, IEEE Std 1003.1-2017 pax "ustar Interchange Format") ----

// One 512-byte ustar header block.
class Header {
 public:
  explicit Header(std::string name) : m_name(std::move(name)) {}
  Header& size(std::uint64_t n) {
    m_size = n;
    return *this;
  }
  Header& type(char t) {
    m_type = t;
    return *this;
  }
  Header& link(std::string target) {
    m_link = std::move(target);
    return *this;
  }
  // The 12 bytes of the size field as given (for sizes no octal number can say).
  Header& raw_size(std::string field) {
    m_raw_size = std::move(field);
    return *this;
  }
  Header& bad_checksum() {
    m_bad_checksum = true;
    return *this;
  }

  [[nodiscard]] std::string block() const {
    std::string b(512, '\0');
    put(b, 0, m_name.substr(0, 100));
    put(b, 100, "0000644");
    put(b, 108, "0000000");
    put(b, 116, "0000000");
    put(b, 124, m_raw_size.empty() ? fmt::format("{:011o}", m_size) : m_raw_size);
    put(b, 136, fmt::format("{:011o}", 1'700'000'000));
    b[156] = m_type;
    put(b, 157, m_link.substr(0, 100));
    put(b, 257, "ustar");
    put(b, 263, "00");
    // Checksum: the sum of all bytes with the checksum field taken as eight spaces.
    put(b, 148, "        ");
    unsigned sum = 0;
    for (const char c : b) sum += static_cast<unsigned char>(c);
    if (m_bad_checksum) ++sum;
    put(b, 148, fmt::format("{:06o}", sum));
    b[154] = '\0';
    return b;
  }

 private:
  static void put(std::string& block, std::size_t offset, std::string_view value) {
    block.replace(offset, value.size(), value);
  }

  std::string m_name;
  std::uint64_t m_size = 0;
  char m_type = '0';
  std::string m_link;
  std::string m_raw_size;
  bool m_bad_checksum = false;
};

std::string padded(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

std::string member(const std::string& name, const std::string& content) {
  return Header(name).size(content.size()).block() + padded(content);
}

const std::string k_end(1024, '\0');

// ---- real tars ----------------------------------------------------------------------------------

struct Tree {
  TempDir dir;
  std::map<std::string, std::string> files;  // name (relative, as tar writes it after "./") -> content

  Tree() {
    std::mt19937 rng(7);
    std::string big(5 * 1024 * 1024 + 123, '\0');
    for (auto& c : big) c = static_cast<char>(rng());
    add("big", big);
    add("empty", "");
    add(std::string(150, 'n'), "long name");
    add("deep/" + std::string(120, 'd') + "/" + std::string(120, 'e'), "long path");
    add("nl\nname\x1b[31mred", "escapes");
    add("bad\xff\xfe", "not utf-8");
    fs::create_directories(root() + "/subdir");
    fs::create_symlink("big", root() + "/link");
  }
  void add(const std::string& name, const std::string& content) {
    const auto path = root() + "/" + name;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
    files[name] = content;
  }
  [[nodiscard]] std::string root() const { return dir.path() + "/root"; }
};

ir::Result<std::string> run_tar(const std::vector<std::string>& argv) {
  ir::util::RealProcessRunner runner;
  ir::util::ProcessSpec spec;
  spec.argv = argv;
  spec.max_output = 64 * 1024 * 1024;
  auto r = runner.run(spec);
  if (!r) return ir::unexpected(r.error());
  if (r->exit_code != 0) return ir::fail(ir::Errc::failure, r->err);
  return r->out;
}

// `problems`: what libarchive is expected to say (GNU tar --format=pax writes a non-UTF-8 name as
// is in the pax "path" record, which POSIX says is UTF-8).
void check_tree(const Tree& tree, const Digest& d, const std::vector<std::string>& problems = {}) {
  CHECK(d.problems == problems);
  for (const auto& [name, content] : tree.files) {
    const auto escaped = "./" + ir::util::escape_for_terminal(name);
    CAPTURE(escaped);
    const auto* m = d.find(escaped);
    REQUIRE(m != nullptr);
    CHECK(m->type == "file");
    CHECK(m->size == content.size());
    CHECK(m->bytes_read == content.size());
    CHECK(m->complete);
    CHECK(m->sha256 == ir::util::sha256_hex(content));
    CHECK(m->mode == "0644");
    CHECK(m->note.empty());
  }
  const auto* link = d.find("./link");
  REQUIRE(link != nullptr);
  CHECK(link->type == "symlink");
  CHECK(link->link_target == "big");
  CHECK(link->sha256 == ir::util::sha256_hex(""));
  CHECK(link->complete);
  const auto* dir = d.find("./subdir/");
  REQUIRE(dir != nullptr);
  CHECK(dir->type == "dir");
}

}  // namespace

TEST_CASE("tar_digest: GNU tar and busybox tar streams, fed in random chunks, hash every member") {
  Tree tree;
  std::vector<std::pair<std::string, std::vector<std::string>>> tars = {
      {"gnu", {"tar", "cf", "-", "-C", tree.root(), "."}},
      {"gnu pax", {"tar", "--format=pax", "-cf", "-", "-C", tree.root(), "."}},
      {"busybox", {"busybox", "tar", "cf", "-", "-C", tree.root(), "."}},
  };
  for (const auto& [what, argv] : tars) {
    CAPTURE(what);
    const auto tar = run_tar(argv);
    if (!tar) {
      MESSAGE("skipped: " << what << ": " << tar.error().message);
      continue;
    }
    for (const std::size_t chunk : std::vector<std::size_t>{0, 100'000, 4096, 511}) {
      CAPTURE(chunk);
      const auto d = digest(*tar, chunk);
      check_tree(tree, d,
                 what == "gnu pax" ? std::vector<std::string>{"member \"./bad\\xff\\xfe\": Pathname can't be "
                                                              "converted from UTF-8 to current locale."}
                                   : std::vector<std::string>{});
      CHECK(d.members.size() == tree.files.size() + 5);  // + "./", "./deep/", "./deep/ddd.../", "./subdir/", "./link"
    }
  }
}

TEST_CASE("tar_digest: byte-sized chunks of a small tar give the same digests") {
  const std::string tar = member("a", "hello") + member("b", std::string(1000, 'x')) + k_end;
  const auto whole = digest(tar);
  for (const unsigned seed : {1U, 2U, 3U}) {
    const auto d = digest(tar, 3, {}, seed);
    REQUIRE(d.members.size() == 2);
    CHECK(d.members[0].sha256 == whole.members[0].sha256);
    CHECK(d.members[1].sha256 == ir::util::sha256_hex(std::string(1000, 'x')));
    CHECK(d.problems.empty());
  }
  CHECK(to_json(whole.members[0]) == nlohmann::json::parse(R"({"name":"a","type":"file","size":5,
      "sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","bytes_read":5,"complete":true,
      "mtime":"2023-11-14T22:13:20Z","mode":"0644"})"));
}

TEST_CASE("tar_digest: a stream cut short") {
  const std::string content(100'000, 'c');
  const std::string tar = member("first", "1") + member("cut", content) + member("last", "3") + k_end;
  SUBCASE("inside a member: that member is incomplete (truncated), earlier ones complete") {
    const auto cut_at = 512 + 512 + 512 + 50'000;
    const auto d = digest(std::string_view(tar).substr(0, cut_at), 7000);
    REQUIRE(d.members.size() == 2);
    CHECK(d.members[0].complete);
    CHECK_FALSE(d.members[1].complete);
    CHECK(d.members[1].note == "truncated");
    CHECK(d.members[1].bytes_read <= 50'000);
    CHECK(d.members[1].size == content.size());
    CHECK(d.has_problem("ends inside member \"cut\" (truncated)"));
  }
  SUBCASE("inside a header") {
    const auto d = digest(std::string_view(tar).substr(0, 1024 + 512 + 100'352 + 100));
    REQUIRE(d.members.size() == 2);
    CHECK(d.members[1].complete);
    CHECK(d.has_problem("ends inside a header after member \"cut\""));
  }
  SUBCASE("between members: no end-of-archive marker") {
    const auto d = digest(std::string_view(tar).substr(0, 1024 + 512 + 100'352));
    REQUIRE(d.members.size() == 2);
    CHECK(d.members[1].complete);
    CHECK(d.has_problem("no complete end-of-archive marker"));
  }
  SUBCASE("half an end-of-archive marker") {
    const auto d = digest(std::string_view(tar).substr(0, tar.size() - 512));
    CHECK(d.members.size() == 3);
    CHECK(d.has_problem("no complete end-of-archive marker"));
  }
  SUBCASE("the whole stream, with record padding after the marker, has no problem") {
    const auto d = digest(tar + std::string(8192, '\0'), 1000);
    CHECK(d.members.size() == 3);
    CHECK(d.problems.empty());
  }
}

TEST_CASE("tar_digest: hostile tars are described, never extracted") {
  TempDir cwd;
  const auto saved = fs::current_path();
  fs::current_path(cwd.path());
  const std::string tar = member("../../etc/x", "owned") + member("/abs", "abs") + member("a/../../b", "b") +
                          member("esc\x1b]0;title\x07\n", "t") +
                          Header("evil-link").type('2').link("/etc/shadow").block() +
                          Header("evil-hard").type('1').link("../../etc/passwd").block() + k_end;
  const auto d = digest(tar, 333);
  fs::current_path(saved);
  CHECK(cwd.list().empty());  // nothing was written where we ran
  CHECK_FALSE(fs::exists(fs::path(cwd.path()).parent_path() / "etc" / "x"));
  REQUIRE(d.members.size() == 6);
  CHECK(d.members[0].name == "../../etc/x");
  CHECK(d.members[0].sha256 == ir::util::sha256_hex("owned"));
  CHECK(d.members[1].name == "/abs");
  CHECK(d.members[3].name == "esc\\x1b]0;title\\x07\\n");
  CHECK(d.members[4].type == "symlink");
  CHECK(d.members[4].link_target == "/etc/shadow");
  CHECK(d.members[5].type == "hardlink");
  CHECK(d.members[5].link_target == "../../etc/passwd");
  CHECK(d.has_problem("member \"../../etc/x\" has an absolute or \"..\" name"));
  CHECK(d.has_problem("member \"/abs\" has an absolute or \"..\" name"));
  CHECK(d.has_problem("member \"a/../../b\" has an absolute or \"..\" name"));
  for (const auto& m : d.members)
    CHECK_NOTHROW((void)to_json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict));
}

TEST_CASE("tar_digest: damaged and lying headers") {
  SUBCASE("a bad checksum: skipped to the next valid header, reported") {
    const std::string tar = member("a", "1") + Header("damaged").size(5).bad_checksum().block() + padded("12345") +
                            member("b", "2") + k_end;
    const auto d = digest(tar, 100);
    REQUIRE(d.members.size() == 2);
    CHECK(d.members[1].name == "b");
    CHECK(d.members[1].complete);
    CHECK(d.has_problem("damaged tar header after member \"a\": 2 blocks"));
  }
  SUBCASE("a huge size with little data: truncated") {
    const auto d = digest(Header("huge").size(077777777777ULL).block() + padded("tiny") + k_end);
    REQUIRE(d.members.size() == 1);
    CHECK(d.members[0].size == 077777777777ULL);
    CHECK_FALSE(d.members[0].complete);
    CHECK(d.members[0].note == "truncated");
  }
  SUBCASE("a negative size (base-256): fatal, reported, the rest discarded") {
    const auto d = digest(member("ok", "1") + Header("neg").raw_size(std::string(12, '\xff')).block() +
                          member("after", "2") + k_end);
    CHECK(d.members.size() <= 2);
    CHECK(d.members.at(0).complete);
    CHECK(d.find("after") == nullptr);
    CHECK(d.has_problem("unreadable tar stream after member \"ok\": Tar entry has negative size"));
    const auto first = digest(Header("neg").raw_size(std::string(12, '\xff')).block() + k_end);
    CHECK(first.has_problem("unreadable tar stream at its start: Tar entry has negative size"));
  }
  SUBCASE("garbage: not a tar stream; further writes are discarded at once") {
    std::mt19937 rng(3);
    std::string garbage(3 * 1024 * 1024, '\0');
    for (auto& c : garbage) c = static_cast<char>(rng());
    const auto d = digest(garbage, 65536);
    CHECK(d.members.empty());
    CHECK(d.has_problem("not a tar stream"));
    CHECK(d.has_problem("were not parsed"));
  }
  SUBCASE("empty input") {
    const auto d = digest("");
    CHECK(d.members.empty());
    CHECK(d.has_problem("empty tar stream"));
  }
  SUBCASE("non-zero data after the end-of-archive marker is reported") {
    const auto d = digest(member("a", "1") + k_end + std::string(600, '\0') + "hidden" + std::string(5000, 'h'), 1000);
    CHECK(d.members.size() == 1);
    CHECK(d.has_problem("follow the end-of-archive marker and they are not all zero"));
  }
}

TEST_CASE("tar_digest: sparse members hash as the file they stand for") {
  TempDir dir;
  const auto file = dir.file("holey");
  {
    std::ofstream out(file, std::ios::binary);
    out.seekp(10'000'000);
    out << "middle";
    out.seekp(20'000'000);
    out << "end";
  }
  const auto content = ir::util::read_file(file, 64 * 1024 * 1024);
  REQUIRE(content);
  const auto tar = run_tar({"tar", "-S", "-cf", "-", "-C", dir.path(), "holey"});
  if (!tar) {
    MESSAGE("skipped: GNU tar: " << tar.error().message);
    return;
  }
  CHECK(tar->size() < 100'000);
  const auto d = digest(*tar, 1000);
  REQUIRE(d.members.size() == 1);
  CHECK(d.members[0].complete);
  CHECK(d.members[0].sha256 == ir::util::sha256_hex(*content));
  TarDigestLimits small;
  small.max_sparse_fill_bytes = 1'000'000;
  const auto capped = digest(*tar, 0, small);
  REQUIRE(capped.members.size() == 1);
  CHECK_FALSE(capped.members[0].complete);
  CHECK(capped.members[0].note.find("sparse hole") != std::string::npos);
}

TEST_CASE("tar_digest: limits") {
  TarDigestLimits limits;
  SUBCASE("members past max_members are counted, not hashed") {
    std::string tar;
    for (int i = 0; i < 10; ++i) tar += member("m" + std::to_string(i), std::to_string(i));
    limits.max_members = 3;
    const auto d = digest(tar + k_end, 0, limits);
    CHECK(d.members.size() == 3);
    CHECK(d.dropped == 7);
    CHECK(d.has_problem("7 members beyond the limit of 3"));
  }
  SUBCASE("a member past the limit, cut short, is still reported as the point of truncation") {
    limits.max_members = 1;
    const auto d = digest(member("a", "1") + member("b", std::string(5000, 'b')).substr(0, 2000), 0, limits);
    CHECK(d.members.size() == 1);
    CHECK(d.dropped == 1);
    CHECK(d.has_problem("the tar stream ends inside member \"b\" (truncated)"));
  }
  SUBCASE("problems and names are capped") {
    std::string tar;
    for (int i = 0; i < 5; ++i) tar += member("/abs" + std::to_string(i), "x");
    tar += member(std::string(90, 'n'), "x");
    limits.max_problems = 2;
    limits.max_name_bytes = 10;
    const auto d = digest(tar + k_end, 0, limits);
    CHECK(d.problems.size() == 3);
    CHECK(d.problems.back() == "... 3 more problems");
    CHECK(d.members.back().name == "nnnnnnnnnn...(80 more bytes)");
  }
}

TEST_CASE("tar_digest: a 300 MB member streams in bounded memory") {
  constexpr std::uint64_t size = 300ULL * 1024 * 1024;
  const std::string zeros(64 * 1024, '\0');
  ir::util::Sha256 expected;
  TarDigestSink sink;
  const auto before = ir::testing::resident_bytes();
  std::size_t peak = before;
  REQUIRE(sink.write(Header("zeros").size(size).block()));
  for (std::uint64_t sent = 0; sent < size; sent += zeros.size()) {
    REQUIRE(sink.write(zeros));
    expected.update(zeros);
    if (sent % (16 * 1024 * 1024) == 0) peak = std::max(peak, ir::testing::resident_bytes());
  }
  REQUIRE(sink.write(k_end));
  REQUIRE(sink.finish());
  REQUIRE(sink.members().size() == 1);
  const auto& m = sink.members()[0];
  CHECK(m.complete);
  CHECK(m.bytes_read == size);
  CHECK(m.sha256 == expected.hex_digest());
  CHECK(peak < before + 64 * 1024 * 1024);
}

TEST_CASE("tar_digest: lifecycle") {
  SUBCASE("destroyed without finish, mid-member, with the worker waiting for input") {
    TarDigestSink sink;
    REQUIRE(sink.write(Header("never-ends").size(1'000'000).block()));
    REQUIRE(sink.write(std::string(1000, 'x')));
    CHECK(sink.members().empty());  // only valid after finish
  }
  SUBCASE("destroyed with nothing written") {
    TarDigestSink sink;
  }
  SUBCASE("destroyed right after a large write") {
    TarDigestSink sink;
    REQUIRE(sink.write(std::string(10 * 1024 * 1024, '\0')));
  }
  SUBCASE("write after finish fails; finish twice is harmless") {
    TarDigestSink sink;
    REQUIRE(sink.write(member("a", "1") + k_end));
    REQUIRE(sink.finish());
    CHECK(sink.finish());
    const auto r = sink.write("more");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ir::Errc::failure);
    CHECK(sink.members().size() == 1);
  }
}
