#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "forensics/fslist.hpp"
#include "util/process.hpp"
#include "util/sink.hpp"
#include "util/strings.hpp"

using namespace ir::forensics::fslist;
using nlohmann::json;
using namespace std::string_literals;

namespace {

// The boundary the captured busybox sample was made with (tests/testdata/fslist/make_samples.sh).
const std::string k_boundary = "FSLISTSAMPLEBOUNDARY0001";
const std::string k_sample_root = "/tmp/fslist-sample/root";

std::string read_sample(const std::string& name) {
  std::ifstream in(std::string(IR_TESTDATA_DIR) + "/fslist/" + name, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What one parse produced.
struct Parse {
  std::string jsonl;
  std::vector<Entry> entries;  // as given to on_entry
  std::size_t written = 0;
  std::size_t unparsed = 0;
  std::size_t dropped = 0;
  std::vector<std::string> anomalies;

  [[nodiscard]] std::vector<json> lines() const {
    std::vector<json> out;
    std::size_t pos = 0;
    while (pos < jsonl.size()) {
      const auto nl = jsonl.find('\n', pos);
      REQUIRE(nl != std::string::npos);
      out.push_back(json::parse(jsonl.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return out;
  }
  [[nodiscard]] std::vector<json> of_kind(const std::string& kind) const {
    std::vector<json> out;
    for (auto& l : lines()) {
      if (l["kind"] == kind) out.push_back(l);
    }
    return out;
  }
  [[nodiscard]] bool has_anomaly(const std::string& text) const {
    return std::any_of(anomalies.begin(), anomalies.end(),
                       [&](const std::string& a) { return a.find(text) != std::string::npos; });
  }
};

// Feeds `input` in pieces of `chunk` bytes (0: in one write).
Parse parse(Dialect dialect, std::string_view input, std::size_t chunk = 0, ListingOptions options = {},
            const std::string& boundary = k_boundary) {
  Parse p;
  ir::util::MemorySink out(256 * 1024 * 1024);
  ListingParser parser(
      dialect, boundary, out, [&](const Entry& e) { p.entries.push_back(e); }, options);
  if (chunk == 0) chunk = std::max<std::size_t>(input.size(), 1);
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) REQUIRE(parser.write(input.substr(pos, chunk)));
  REQUIRE(parser.finish());
  p.jsonl = out.data();
  p.written = parser.entries();
  p.unparsed = parser.unparsed();
  p.dropped = parser.dropped();
  p.anomalies = parser.anomalies();
  return p;
}

// Every line is one JSON object whose strings are printable, valid UTF-8 (strict dump).
void check_safe(const Parse& p) {
  for (const auto& line : p.lines()) {
    CHECK(line.is_object());
    CHECK_NOTHROW((void)line.dump(-1, ' ', false, json::error_handler_t::strict));
    bool printable = true;
    for (const auto& [key, value] : line.items()) {
      if (!value.is_string()) continue;
      for (const char c : value.get_ref<const std::string&>()) {
        printable = printable && static_cast<unsigned char>(c) >= 0x20 && c != 0x7F;
      }
    }
    CHECK(printable);
  }
  CHECK(p.of_kind("entry").size() == p.written);
}

// What busybox stat prints for one file with the listing format (see listing_command).
std::string bb_record(const std::string& header, const std::string& name, const std::string& n_field,
                      const std::string& boundary = k_boundary) {
  return "\n" + boundary + " e " + header + "\n" + name + "\n" + boundary + " l\n" + n_field + "\n";
}
std::string gnu_record(const std::string& header, const std::string& path, const std::string& target = "") {
  return header + '\0' + path + '\0' + target + '\0';
}

struct Expected {
  std::string path;  // exact bytes, relative to the sample root
  char type;
  std::uint32_t mode;
  std::uint64_t size;
  std::string target;
  std::int64_t mtime = 1'700'000'000;
};

// The tree make_samples.sh builds.
const std::vector<Expected>& sample_tree() {
  static const std::vector<Expected> tree = {
      {"/", 'd', 0755, 4096, ""},
      {"/bad\xff\xfeutf", 'f', 0644, 0, ""},
      {"/sgid", 'f', 02710, 4, ""},
      {"/weird\nlink", 'l', 0777, 8, "t' -> 'u"},
      {"/nllink", 'l', 0777, 11, "tgt\nwith\nnl"},
      {"/quo'te", 'f', 0644, 0, ""},
      {"/fifo", 'p', 0644, 0, ""},
      {"/up", 'l', 0777, 16, "../../etc/shadow"},
      {"/suid", 'f', 04755, 4, ""},
      {"/x' -> 'y", 'f', 0644, 0, ""},
      {"/esc\x1b[31mred", 'f', 0644, 0, ""},
      {"/empty", 'f', 0644, 0, "", -315'619'200},
      {"/link", 'l', 0777, 5, "plain"},
      {"/sub", 'd', 01777, 4096, ""},
      {"/sub/inner", 'f', 0644, 0, ""},
      {"/-leading", 'f', 0644, 0, ""},
      {"/new\nline", 'f', 0644, 0, ""},
      {"/a -> b", 'f', 0644, 0, ""},
      {"/plain", 'f', 0644, 5, ""},
      {"/...", 'f', 0644, 0, ""},
      {"/back\\slash", 'f', 0644, 0, ""},
  };
  return tree;
}

void check_tree(const Parse& p) {
  const auto& tree = sample_tree();
  REQUIRE(p.entries.size() == tree.size());
  CHECK(p.unparsed == 0);
  CHECK(p.anomalies.empty());
  for (const auto& want : tree) {
    CAPTURE(want.path);
    const auto it =
        std::find_if(p.entries.begin(), p.entries.end(), [&](const Entry& e) { return e.path == want.path; });
    REQUIRE(it != p.entries.end());
    CHECK(it->type == want.type);
    CHECK(it->mode == want.mode);
    CHECK(it->size == want.size);
    CHECK(it->target == want.target);
    CHECK(it->mtime == want.mtime);
    CHECK(it->clean());
  }
}

}  // namespace

TEST_CASE("fslist: listing_command") {
  SUBCASE("gnu find: NUL-framed -printf, root entered even when it is a symlink") {
    const auto argv = listing_command(Dialect::gnu_find, "/proc/1/root", "");
    REQUIRE(argv);
    CHECK(*argv ==
          std::vector<std::string>{"find", "/proc/1/root/", "-xdev", "-printf", "%y %m %U %G %s %T@\\0%p\\0%l\\0"});
    CHECK((*listing_command(Dialect::gnu_find, "/", ""))[1] == "/");
  }
  SUBCASE("busybox: stat -c with the boundary and real newlines") {
    const auto argv = listing_command(Dialect::busybox_stat, "/", k_boundary);
    REQUIRE(argv);
    CHECK(*argv == std::vector<std::string>{"find", "/", "-xdev", "-exec", "stat", "-c",
                                            "\n" + k_boundary + " e %f %u %g %s %Y\n%n\n" + k_boundary + " l\n%N", "{}",
                                            "+"});
  }
  SUBCASE("refused: relative or '-' roots, NUL, bad boundary") {
    for (const auto& root : {""s, "-delete"s, "etc"s, "/a\0b"s, "/" + std::string(5000, 'a')}) {
      const auto argv = listing_command(Dialect::gnu_find, root, k_boundary);
      REQUIRE_FALSE(argv);
      CHECK(argv.error().code == ir::Errc::invalid);
    }
    for (const auto& b : {""s, "short"s, "has space in it 0123"s, std::string(65, 'a')}) {
      CHECK_FALSE(listing_command(Dialect::busybox_stat, "/", b));
    }
  }
}

TEST_CASE("fslist: ListingParser: captured GNU find and busybox listings of hostile names") {
  ListingOptions options;
  options.strip_prefix = k_sample_root;
  const auto gnu = parse(Dialect::gnu_find, read_sample("gnu_find.out"), 0, options);
  const auto bb = parse(Dialect::busybox_stat, read_sample("busybox_stat.out"), 0, options);
  for (const auto* p : {&gnu, &bb}) {
    check_tree(*p);
    check_safe(*p);
  }
  // Same tree, same stat data: the two dialects give byte-identical JSON.
  CHECK(gnu.jsonl == bb.jsonl);

  std::map<std::string, json> by_path;
  for (const auto& line : gnu.lines()) by_path[line["path"].get<std::string>()] = line;
  CHECK(by_path.at("/") == json::parse(R"({"kind":"entry","path":"/","type":"dir","size":4096,"mode":"0755",
                                           "uid":0,"gid":0,"mtime":"2023-11-14T22:13:20Z"})"));
  CHECK(by_path.at("/new\\nline")["type"] == "file");
  CHECK(by_path.at("/esc\\x1b[31mred")["mode"] == "0644");
  CHECK(by_path.at("/bad\\xff\\xfeutf")["size"] == 0);
  CHECK(by_path.at("/back\\\\slash")["type"] == "file");
  CHECK(by_path.at("/suid")["mode"] == "4755");
  CHECK(by_path.at("/sgid")["mode"] == "2710");
  CHECK(by_path.at("/sub")["mode"] == "1777");
  CHECK(by_path.at("/fifo")["type"] == "fifo");
  CHECK(by_path.at("/empty")["mtime"] == "1960-01-01T00:00:00Z");
  CHECK(by_path.at("/weird\\nlink")["target"] == "t' -> 'u");
  CHECK(by_path.at("/nllink")["target"] == "tgt\\nwith\\nnl");
  CHECK(by_path.at("/up")["target"] == "../../etc/shadow");
  CHECK_FALSE(by_path.at("/plain").contains("target"));
  CHECK_FALSE(by_path.at("/plain").contains("flags"));

  SUBCASE("without a strip prefix the paths are the listed ones") {
    const auto raw = parse(Dialect::gnu_find, read_sample("gnu_find.out"));
    REQUIRE(!raw.entries.empty());
    CHECK(raw.entries[0].path == k_sample_root + "/");
    CHECK(raw.entries[1].path == k_sample_root + "/bad\xff\xfeutf");
  }
}

TEST_CASE("fslist: ListingParser: any split of the input gives identical output") {
  ListingOptions options;
  options.strip_prefix = k_sample_root;
  for (const auto dialect : {Dialect::gnu_find, Dialect::busybox_stat}) {
    const std::string input = read_sample(dialect == Dialect::gnu_find ? "gnu_find.out" : "busybox_stat.out");
    const auto whole = parse(dialect, input, 0, options);
    REQUIRE(whole.entries.size() == sample_tree().size());
    // Two writes, split at every byte.
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      CAPTURE(cut);
      ir::util::MemorySink out(1 << 20);
      std::size_t n = 0;
      ListingParser parser(
          dialect, k_boundary, out, [&](const Entry&) { ++n; }, options);
      REQUIRE(parser.write(std::string_view(input).substr(0, cut)));
      REQUIRE(parser.write(std::string_view(input).substr(cut)));
      REQUIRE(parser.finish());
      CHECK(out.data() == whole.jsonl);
      CHECK(n == whole.entries.size());
    }
    // One byte at a time, and a few odd chunk sizes.
    for (const std::size_t chunk : std::vector<std::size_t>{1, 2, 3, 7, 64, 1000}) {
      CAPTURE(chunk);
      CHECK(parse(dialect, input, chunk, options).jsonl == whole.jsonl);
    }
  }
}

TEST_CASE("fslist: ListingParser: output cut anywhere is reported, never crashes") {
  SUBCASE("the captured listings cut at every byte: whole records are entries, a cut one is truncated") {
    for (const auto dialect : {Dialect::gnu_find, Dialect::busybox_stat}) {
      const std::string input = read_sample(dialect == Dialect::gnu_find ? "gnu_find.out" : "busybox_stat.out");
      // Where records end: after every third NUL (GNU), where the next record starts (busybox).
      std::vector<std::size_t> ends;
      if (dialect == Dialect::gnu_find) {
        std::size_t nuls = 0;
        for (std::size_t i = 0; i < input.size(); ++i) {
          if (input[i] == '\0' && ++nuls % 3 == 0) ends.push_back(i + 1);
        }
      } else {
        for (auto at = input.find("\n" + k_boundary + " e ", 1); at != std::string::npos;
             at = input.find("\n" + k_boundary + " e ", at + 1)) {
          ends.push_back(at);
        }
        ends.push_back(input.size());
      }
      REQUIRE(ends.size() == sample_tree().size());
      for (std::size_t cut = 1; cut < input.size(); ++cut) {
        CAPTURE(cut);
        const auto p = parse(dialect, std::string_view(input).substr(0, cut));
        if (cut % 17 == 0) check_safe(p);  // (JSON parsing in a debug build is slow)
        const auto whole = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
        CHECK(p.written == whole);
        const bool at_end = std::binary_search(ends.begin(), ends.end(), cut);
        CHECK(p.unparsed == (at_end ? 0 : 1));
        if (!at_end) {
          CHECK(p.jsonl.find(R"("kind":"unparsed","reason":"truncated")") != std::string::npos);
          CHECK(p.has_anomaly("ends inside a record"));
        }
        CHECK_FALSE(p.has_anomaly("tampering"));
      }
    }
  }
  SUBCASE("gnu: a cut path is truncated, not an entry") {
    const std::string input =
        gnu_record("f 644 0 0 5 1700000000.5", "/a") + "f 644 0 0 5 17000000.0" + '\0' + "/partial";
    const auto p = parse(Dialect::gnu_find, input);
    CHECK(p.written == 1);
    REQUIRE(p.of_kind("unparsed").size() == 1);
    const auto u = p.of_kind("unparsed")[0];
    CHECK(u["reason"] == "truncated");
    CHECK(u["offset"] == gnu_record("f 644 0 0 5 1700000000.5", "/a").size());
    CHECK(u["raw"] == "f 644 0 0 5 17000000.0\\x00/partial");
    CHECK(p.has_anomaly("ends inside a record"));
  }
  SUBCASE("gnu: a cut header is truncated") {
    const auto p = parse(Dialect::gnu_find, gnu_record("f 644 0 0 5 1", "/a") + "f 64");
    CHECK(p.written == 1);
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "truncated");
  }
  SUBCASE("busybox: a record without stat's final newline is truncated") {
    const std::string whole =
        bb_record("81a4 0 0 5 1700000000", "/a", "/a") + bb_record("81a4 0 0 5 1700000000", "/b", "/b");
    const auto p = parse(Dialect::busybox_stat, std::string_view(whole).substr(0, whole.size() - 1));
    CHECK(p.written == 1);
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "truncated");
    CHECK(p.has_anomaly("ends inside a record"));
    const auto q = parse(Dialect::busybox_stat, std::string_view(whole).substr(0, whole.size() - 6));
    CHECK(q.written == 1);
    CHECK(q.of_kind("unparsed").at(0)["reason"] == "truncated");
  }
  SUBCASE("empty output") {
    const auto p = parse(Dialect::gnu_find, "");
    CHECK(p.written == 0);
    CHECK(p.has_anomaly("empty listing"));
  }
}

TEST_CASE("fslist: ListingParser: garbage between records is one unparsed run; the rest parses") {
  SUBCASE("busybox") {
    const std::string garbage = "stat: can't stat 'x'\n\x1b[2Jjunk\n" + std::string(3000, 'z');
    const std::string input =
        bb_record("81a4 0 0 5 1700000000", "/a", "/a") + garbage + bb_record("41ed 0 0 4096 1700000000", "/d", "/d");
    const auto p = parse(Dialect::busybox_stat, input, 100);
    check_safe(p);
    // The first record absorbs the garbage (a record ends where the next one starts) and so is
    // malformed: it no longer ends in stat's '\n'. Garbage before the first record is a run.
    CHECK(p.written == 1);
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "malformed record");
    const auto q = parse(Dialect::busybox_stat, garbage + input, 100);
    const auto u = q.of_kind("unparsed");
    REQUIRE(!u.empty());
    CHECK(u[0]["reason"] == "bytes outside any record");
    CHECK(u[0]["offset"] == 0);
    CHECK(u[0]["bytes"] == garbage.size());
    CHECK(u[0]["raw"].get<std::string>().find("\\x1b[2J") != std::string::npos);
    CHECK(u[0]["raw"].get<std::string>().find("more bytes)") != std::string::npos);
  }
  SUBCASE("busybox: garbage glued to a record's end makes that record malformed or inconsistent") {
    const std::string input =
        bb_record("81a4 0 0 5 1700000000", "/a", "/a") + "junk" + bb_record("41ed 0 0 4096 1700000000", "/d", "/d");
    const auto p = parse(Dialect::busybox_stat, input);
    CHECK(p.written == 1);
    REQUIRE(p.of_kind("unparsed").size() == 1);
    CHECK(p.of_kind("unparsed")[0]["reason"] == "malformed record");
    const auto q = parse(Dialect::busybox_stat, bb_record("81a4 0 0 5 1700000000", "/a", "/a") + "junk\n" +
                                                    bb_record("41ed 0 0 4096 1700000000", "/d", "/d"));
    REQUIRE(q.entries.size() == 2);
    CHECK(q.entries[0].has(Flag::inconsistent));  // %N became "/a\njunk"
    CHECK(q.entries[1].clean());
    CHECK(q.anomalies.at(0).rfind("tampering suspected", 0) == 0);
  }
  SUBCASE("gnu: NUL-terminated junk fields resynchronise on the next header") {
    const std::string junk = "junk"s + '\0' + "more junk\n" + '\0' + std::string(500, 'x') + '\0';
    const std::string input =
        gnu_record("f 644 0 0 5 1700000000.0", "/a") + junk + gnu_record("d 755 0 0 4096 1.0", "/d");
    const auto p = parse(Dialect::gnu_find, input, 3);
    check_safe(p);
    CHECK(p.written == 2);
    REQUIRE(p.of_kind("unparsed").size() == 1);
    const auto u = p.of_kind("unparsed")[0];
    CHECK(u["reason"] == "bytes outside any record");
    CHECK(u["offset"] == gnu_record("f 644 0 0 5 1700000000.0", "/a").size());
    CHECK(u["bytes"] == junk.size());
  }
}

TEST_CASE("fslist: ListingParser: bad headers are unparsed, the next record parses") {
  const std::vector<std::string> gnu_bad = {"f 644 -1 0 5 1",
                                            "f 644 0 0 -5 1",
                                            "f 8644 0 0 5 1",
                                            "f 17777 0 0 5 1",
                                            "ff 644 0 0 5 1",
                                            "7 644 0 0 5 1",
                                            "f 644 0 0 5",
                                            "f 644 0 0 5 1 x",
                                            "f  644 0 0 5 1",
                                            "f 644 0 0 5 1 ",
                                            "f 644 0 0 5 1.",
                                            "f 644 0 0 5 .5",
                                            "f 644 0 0 5 1.5x",
                                            "f 644 4294967296 0 5 1",
                                            "f 644 0 0 18446744073709551616 1",
                                            "f 644 0 0 5 99999999999999999999",
                                            "f 644 0 0 5 +1"};
  for (const auto& h : gnu_bad) {
    CAPTURE(h);
    const auto p = parse(Dialect::gnu_find, gnu_record(h, "/bad") + gnu_record("f 644 0 0 5 1", "/good"));
    CHECK(p.written == 1);
    CHECK(p.entries.at(0).path == "/good");
    CHECK(p.unparsed == 1);
  }
  const std::vector<std::string> bb_bad = {"81a4 0 0 5",    "81a4 0 0 5 1 2",  "g1a4 0 0 5 1",  "81a4 -1 0 5 1",
                                           "81a4 0 0 -5 1", "1000000 0 0 5 1", "81a4  0 0 5 1", "",
                                           "81a4 0 0 5 +1"};
  for (const auto& h : bb_bad) {
    CAPTURE(h);
    const auto p =
        parse(Dialect::busybox_stat, bb_record(h, "/bad", "/bad") + bb_record("81a4 0 0 5 1", "/good", "/good"));
    CHECK(p.written == 1);
    CHECK(p.entries.at(0).path == "/good");
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "bad header");
  }
  SUBCASE("numbers at their limits, negative and fractional times") {
    const auto p =
        parse(Dialect::gnu_find, gnu_record("c 7777 4294967295 4294967295 18446744073709551615 -1.5", "/dev/x") +
                                     gnu_record("D 0 0 0 0 9223372036854775807.0", "/door"));
    REQUIRE(p.entries.size() == 2);
    CHECK(p.entries[0].type == 'c');
    CHECK(p.entries[0].mode == 07777);
    CHECK(p.entries[0].uid == 4294967295U);
    CHECK(p.entries[0].size == UINT64_MAX);
    CHECK(p.entries[0].mtime == -2);
    CHECK(p.entries[1].type == '?');
    const auto lines = p.of_kind("entry");
    CHECK(lines[0]["mtime"] == "1969-12-31T23:59:58Z");
    CHECK(lines[1]["type"] == "unknown");
    CHECK(lines[1]["mtime"].is_null());
    CHECK(lines[1]["mtime_epoch"] == INT64_MAX);
  }
  SUBCASE("busybox mode bits give the type; unknown type bits are 'unknown'") {
    const auto p =
        parse(Dialect::busybox_stat, bb_record("c1ed 0 0 0 1", "/s", "/s") + bb_record("61b0 0 6 0 1", "/b", "/b") +
                                         bb_record("21b6 0 0 0 1", "/c", "/c") + bb_record("f1ff 0 0 0 1", "/u", "/u"));
    REQUIRE(p.entries.size() == 4);
    CHECK(p.entries[0].type == 's');
    CHECK(p.entries[0].mode == 0755);
    CHECK(p.entries[1].type == 'b');
    CHECK(p.entries[1].gid == 6);
    CHECK(p.entries[2].type == 'c');
    CHECK(p.entries[3].type == '?');
  }
}

TEST_CASE("fslist: ListingParser: busybox %N is checked against %n") {
  const std::string link_header = "a1ff 0 0 5 1700000000";
  SUBCASE("link target parsed exactly, quotes and arrows included") {
    const auto p =
        parse(Dialect::busybox_stat, bb_record("a1ff 0 0 8 1700000000", "/l' -> 'x", "'/l' -> 'x' -> '' -> 'y''"));
    REQUIRE(p.entries.size() == 1);
    CHECK(p.entries[0].target == "' -> 'y'");
    CHECK(p.entries[0].clean());
  }
  SUBCASE("unreadable link: %N empty") {
    const auto p = parse(Dialect::busybox_stat, bb_record(link_header, "/l", ""));
    REQUIRE(p.entries.size() == 1);
    CHECK(p.entries[0].has(Flag::target_unknown));
    CHECK_FALSE(p.entries[0].has(Flag::inconsistent));
    CHECK_FALSE(p.of_kind("entry")[0].contains("target"));
    CHECK(p.of_kind("entry")[0]["flags"] == json::array({"target_unknown"}));
  }
  SUBCASE("link whose %N names another file") {
    const auto p = parse(Dialect::busybox_stat,
                         bb_record(link_header, "/l", "'/other' -> 'x'") + bb_record("81a4 0 0 5 1", "/z", "/z"));
    REQUIRE(p.entries.size() == 2);
    CHECK(p.entries[0].has(Flag::target_unknown));
    CHECK(p.entries[0].has(Flag::inconsistent));
    CHECK(p.anomalies.at(0).rfind("tampering suspected", 0) == 0);
  }
  SUBCASE("non-link: %N quoted as coreutils stat does is accepted; anything else is inconsistent") {
    const auto p = parse(Dialect::busybox_stat,
                         bb_record("81a4 0 0 5 1", "/a", "'/a'") + bb_record("81a4 0 0 5 1", "/b\"", "\"/b\"\"") +
                             bb_record("81a4 0 0 5 1", "/c", "/d") + bb_record("81a4 0 0 5 1", "/z", "/z"));
    REQUIRE(p.entries.size() == 4);
    CHECK(p.entries[0].clean());
    CHECK(p.entries[1].clean());
    CHECK(p.entries[2].has(Flag::inconsistent));
    CHECK(p.entries[3].clean());
  }
  SUBCASE("the last record, inconsistent, is taken as cut (it may end after any '\\n')") {
    const auto p = parse(Dialect::busybox_stat,
                         bb_record("81a4 0 0 5 1", "/a\nb", "/a\nb") + bb_record("81a4 0 0 5 1", "/c\nd", "/c\n"));
    REQUIRE(p.entries.size() == 1);
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "truncated");
    CHECK_FALSE(p.has_anomaly("tampering"));
  }
  SUBCASE("a last name ending in a newline is not mistaken for a cut") {
    const auto p = parse(Dialect::busybox_stat, bb_record("81a4 0 0 5 1", "/a\n", "/a\n"));
    REQUIRE(p.entries.size() == 1);
    CHECK(p.entries[0].path == "/a\n");
    CHECK(p.unparsed == 0);
  }
  SUBCASE("a record without the link marker") {
    const auto p = parse(Dialect::busybox_stat,
                         "\n" + k_boundary + " e 81a4 0 0 5 1\n/a\n" + bb_record("81a4 0 0 5 1", "/b", "/b"));
    CHECK(p.written == 1);
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "no link marker");
  }
}

TEST_CASE("fslist: ListingParser: forged markers") {
  SUBCASE("markers with another boundary are just bytes of a name") {
    const std::string forged_name = "/x\nAAAAAAAAAAAAAAAAAAAA l\n/x\n\nAAAAAAAAAAAAAAAAAAAA e 81a4 0 0 0 0\n/etc/evil";
    const auto p = parse(Dialect::busybox_stat, bb_record("81a4 0 0 0 1", forged_name, forged_name));
    REQUIRE(p.entries.size() == 1);
    CHECK(p.entries[0].path == forged_name);
    CHECK(p.entries[0].clean());
    CHECK(p.unparsed == 0);
    CHECK(p.anomalies.empty());
  }
  SUBCASE("a name carrying the run's boundary (read from find's argv) is flagged, whatever it forges") {
    // A file named to end its own record and forge one for /etc/evil, as busybox stat prints it:
    // the name appears twice (%n and %N), so the forgery cannot be consistent on both copies.
    const std::string b = k_boundary;
    const std::string forged_name = "/x\n" + b + " l\n/x\n\n" + b + " e 81a4 0 0 0 0\n/etc/evil";
    const std::string input = bb_record("81a4 0 0 0 1", "/first", "/first") +
                              bb_record("81a4 0 0 0 1", forged_name, forged_name) +
                              bb_record("81a4 0 0 0 1", "/last", "/last");
    const auto p = parse(Dialect::busybox_stat, input);
    check_safe(p);
    REQUIRE(!p.anomalies.empty());
    CHECK(p.anomalies[0].rfind("tampering suspected", 0) == 0);
    bool flagged = false;
    for (const auto& e : p.entries) {
      if (e.path == "/first" || e.path == "/last") {
        CHECK(e.clean());
      } else {
        flagged = flagged || !e.clean();
      }
    }
    CHECK(flagged);
    // The forged /etc/evil entry exists but is not clean.
    for (const auto& e : p.entries) {
      if (e.path == "/etc/evil") CHECK_FALSE(e.clean());
    }
  }
  SUBCASE("a link target carrying markers (printed once) is caught by the link's size") {
    // The target ends its own record with a plausible %N and forges a consistent link record.
    const std::string b = k_boundary;
    const std::string target = "t'\n\n" + b + " e a1ff 0 0 1 0\n/etc/evil\n" + b + " l\n'/etc/evil' -> 'x";
    const std::string input =
        bb_record("a1ff 0 0 " + std::to_string(target.size()) + " 1", "/l", "'/l' -> '" + target + "'") +
        bb_record("81a4 0 0 0 1", "/last", "/last");
    const auto p = parse(Dialect::busybox_stat, input);
    REQUIRE(p.entries.size() == 3);
    CHECK(p.entries[0].path == "/l");
    CHECK(p.entries[0].target == "t");
    CHECK(p.entries[0].has(Flag::inconsistent));
    CHECK(p.entries[1].path == "/etc/evil");                        // the forged record itself looks clean...
    CHECK(p.anomalies.at(0).rfind("tampering suspected", 0) == 0);  // ...but the listing is suspect
  }
  SUBCASE("gnu find: names cannot hold NUL, so nothing in a name is a marker") {
    const std::string name = "/x\nf 644 0 0 5 1.0";
    const auto p = parse(Dialect::gnu_find, gnu_record("f 644 0 0 0 1.0", name) + gnu_record("f 644 0 0 0 1.0", "/y"));
    REQUIRE(p.entries.size() == 2);
    CHECK(p.entries[0].path == name);
  }
  SUBCASE("gnu find: a target on a non-link is inconsistent") {
    const auto p =
        parse(Dialect::gnu_find, gnu_record("f 644 0 0 0 1.0", "/x", "t") + gnu_record("l 777 0 0 0 1.0", "/l"));
    REQUIRE(p.entries.size() == 2);
    CHECK(p.entries[0].has(Flag::inconsistent));
    CHECK(p.entries[1].has(Flag::target_unknown));
  }
  SUBCASE("an invalid boundary parses nothing") {
    const auto p = parse(Dialect::busybox_stat, bb_record("81a4 0 0 0 1", "/a", "/a", "short"), 0, {}, "short");
    CHECK(p.written == 0);
    CHECK(p.of_kind("unparsed").at(0)["reason"] == "invalid boundary");
    CHECK(p.has_anomaly("invalid boundary"));
  }
}

TEST_CASE("fslist: ListingParser: limits") {
  SUBCASE("long paths are cut and flagged; overlong records are skipped to the next record") {
    ListingOptions options;
    options.limits.max_path_bytes = 100;
    options.limits.max_record_bytes = 1000;
    const std::string longish = "/" + std::string(300, 'a');
    const std::string overlong = "/" + std::string(5000, 'b');
    for (const auto dialect : {Dialect::gnu_find, Dialect::busybox_stat}) {
      CAPTURE(static_cast<int>(dialect));
      const std::string input =
          dialect == Dialect::gnu_find
              ? gnu_record("f 644 0 0 0 1", longish) + gnu_record("l 777 0 0 0 1", overlong, "t") +
                    gnu_record("l 777 0 0 0 1", "/l", longish) + gnu_record("f 644 0 0 0 1", "/ok")
              : bb_record("81a4 0 0 0 1", longish, longish) +
                    bb_record("a1ff 0 0 0 1", overlong, "'" + overlong + "' -> 't'") +
                    bb_record("a1ff 0 0 301 1", "/l", "'/l' -> '" + longish + "'") +
                    bb_record("81a4 0 0 0 1", "/ok", "/ok");
      for (const std::size_t chunk : std::vector<std::size_t>{0, 1, 7, 333}) {
        const auto p = parse(dialect, input, chunk, options);
        check_safe(p);
        REQUIRE(p.entries.size() == 3);
        CHECK(p.entries[0].path == longish.substr(0, 100));
        CHECK(p.entries[0].has(Flag::path_cut));
        CHECK(p.entries[1].target == longish.substr(0, 100));
        CHECK(p.entries[1].has(Flag::target_cut));
        CHECK(p.entries[2].clean());
        CHECK(p.of_kind("entry")[0]["path"] == "/" + std::string(99, 'a') + "...(201 more bytes)");
        const auto u = p.of_kind("unparsed");
        REQUIRE(u.size() == 1);
        CHECK(u[0]["reason"] == "overlong record");
        CHECK(u[0]["raw"].get<std::string>().size() < 600);
      }
    }
  }
  SUBCASE("entries past max_entries are counted, not kept; unparsed past max_unparsed_kept likewise") {
    ListingOptions options;
    options.limits.max_entries = 3;
    options.limits.max_unparsed_kept = 2;
    std::string input;
    for (int i = 0; i < 10; ++i) input += gnu_record("f 644 0 0 0 1", "/f" + std::to_string(i));
    for (int i = 0; i < 5; ++i) input += gnu_record("bad", "") + gnu_record("f 644 0 0 0 1", "/g");
    const auto p = parse(Dialect::gnu_find, input, 0, options);
    CHECK(p.written == 3);
    CHECK(p.entries.size() == 3);
    CHECK(p.dropped == 12);
    CHECK(p.unparsed == 5);
    CHECK(p.of_kind("unparsed").size() == 2);
    CHECK(p.has_anomaly("more than 3 entries"));
    CHECK(p.has_anomaly("more than 2 unparsed records"));
  }
  SUBCASE("strip prefix: the prefix itself is '/', paths outside it are flagged and kept whole") {
    ListingOptions options;
    options.strip_prefix = "/proc/1/root/";
    const auto p =
        parse(Dialect::gnu_find,
              gnu_record("d 755 0 0 0 1", "/proc/1/root/") + gnu_record("d 755 0 0 0 1", "/proc/1/root") +
                  gnu_record("f 644 0 0 0 1", "/proc/1/root/etc/passwd") +
                  gnu_record("f 644 0 0 0 1", "/proc/1/rootkit") + gnu_record("f 644 0 0 0 1", "/etc/shadow"),
              0, options);
    REQUIRE(p.entries.size() == 5);
    CHECK(p.entries[0].path == "/");
    CHECK(p.entries[1].path == "/");
    CHECK(p.entries[2].path == "/etc/passwd");
    CHECK(p.entries[2].clean());
    CHECK(p.entries[3].path == "/proc/1/rootkit");
    CHECK(p.entries[3].has(Flag::outside_prefix));
    CHECK(p.entries[4].has(Flag::outside_prefix));
  }
}

TEST_CASE("fslist: ListingParser: a failing output sink stops the parser") {
  struct FailingSink final : ir::util::Sink {
    ir::Result<void> write(std::string_view) override { return ir::fail(ir::Errc::io, "disk full"); }
  } sink;
  ListingParser parser(Dialect::gnu_find, "", sink, nullptr);
  const auto r = parser.write(gnu_record("f 644 0 0 0 1", "/a"));
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "disk full");
  CHECK_FALSE(parser.write(gnu_record("f 644 0 0 0 1", "/b")));
  CHECK_FALSE(parser.finish());
}

TEST_CASE("fslist: ListingParser: 200 MB of garbage in 64 KiB chunks stays in bounded memory") {
  std::mt19937 rng(42);
  std::string chunk(64 * 1024, '\0');
  for (auto& c : chunk) c = static_cast<char>(rng() % 7 == 0 ? '\n' : rng() % 256);
  const std::size_t chunks = 200 * 1024 * 1024 / chunk.size();
  for (const auto dialect : {Dialect::gnu_find, Dialect::busybox_stat}) {
    const auto rss_before = ir::testing::resident_bytes();
    ir::util::NullSink out;
    std::size_t entries = 0;
    ListingParser parser(dialect, k_boundary, out, [&](const Entry&) { ++entries; });
    for (std::size_t i = 0; i < chunks; ++i) {
      chunk[i % chunk.size()] = static_cast<char>(i);  // not the same bytes every time
      REQUIRE(parser.write(chunk));
    }
    REQUIRE(parser.finish());
    CHECK(entries == 0);
    CHECK(parser.entries() == 0);
    CHECK(parser.unparsed() >= 1);
    CHECK(parser.unparsed() <= 1000);  // kept records are bounded; runs merge
    CHECK(out.bytes < 1024 * 1024);
    CHECK(parser.anomalies().size() <= 65);
    // The parse keeps at most a record and a slice: far below the 200 MB that went through.
    CHECK(ir::testing::resident_bytes() < rss_before + 64 * 1024 * 1024);
  }
}

TEST_CASE("fslist: listing_command runs: GNU find and busybox find + stat on a hostile tree") {
  namespace fs = std::filesystem;
  ir::util::RealProcessRunner runner;
  ir::util::ProcessSpec probe;
  probe.argv = {"busybox", "true"};
  if (!runner.run(probe)) {
    MESSAGE("busybox not installed: skipped");
    return;
  }
  ir::testing::TempDir dir;
  const std::string top = dir.path();
  const std::string root = top + "/root";
  fs::create_directories(root + "/sub");
  for (const auto& name : {"new\nline"s, "esc\x1b[31mred"s, "quo'te"s, "a -> b"s, "bad\xff\xfeutf"s, "-leading"s,
                           "x' -> 'y"s, "sub/inner"s}) {
    std::ofstream(root + "/" + name) << "data";
  }
  fs::create_symlink("../../etc/shadow", root + "/up");
  fs::create_symlink("t' -> 'u", root + "/weird\nlink");
  REQUIRE(mkfifo((root + "/fifo").c_str(), 0644) == 0);
  REQUIRE(chmod((root + "/quo'te").c_str(), 04755) == 0);
  fs::create_directories(top + "/bin");
  probe.argv = {"sh", "-c", "command -v busybox"};
  const auto busybox = runner.run(probe);
  REQUIRE(busybox);
  const std::string busybox_path(ir::util::trim(busybox->out));
  fs::create_symlink(busybox_path, top + "/bin/find");
  fs::create_symlink(busybox_path, top + "/bin/stat");

  ListingOptions options;
  options.strip_prefix = root;
  std::vector<std::string> outputs;
  for (const auto dialect : {Dialect::gnu_find, Dialect::busybox_stat}) {
    auto argv = listing_command(dialect, root, k_boundary);
    REQUIRE(argv);
    ir::util::ProcessSpec spec;
    spec.argv = *argv;
    if (dialect == Dialect::busybox_stat) {
      spec.argv[0] = top + "/bin/find";
      spec.env_add = {{"PATH", top + "/bin"}};  // find's -exec stat finds busybox stat
    }
    const auto result = runner.run(spec);
    REQUIRE(result);
    CHECK(result->exit_code == 0);
    const auto p = parse(dialect, result->out, 4096, options);
    check_safe(p);
    CHECK(p.unparsed == 0);
    CHECK(p.anomalies.empty());
    CHECK(p.entries.size() == 13);
    for (const auto& e : p.entries) {
      CAPTURE(e.path);
      CHECK(e.clean());
      if (e.path == "/up") CHECK(e.target == "../../etc/shadow");
      if (e.path == "/weird\nlink") CHECK(e.target == "t' -> 'u");
      if (e.path == "/quo'te") CHECK(e.mode == 04755);
      if (e.path == "/fifo") CHECK(e.type == 'p');
    }
    std::vector<std::string> lines;
    for (const auto& l : p.lines()) lines.push_back(l.dump());
    std::sort(lines.begin(), lines.end());
    outputs.push_back(ir::util::join(lines, "\n"));
  }
  // Both dialects describe the same tree identically (except sub-second mtimes, floored by both).
  CHECK(outputs[0] == outputs[1]);
}
