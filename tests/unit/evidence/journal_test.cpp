#include <doctest/doctest.h>

#include <filesystem>
#include <sys/stat.h>

#include "evidence/journal.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

using namespace ir;
using namespace ir::evidence;

TEST_CASE("new_case_id and valid_case_id") {
  util::FakeClock clock(*util::parse_rfc3339("2026-11-21T16:32:29Z"));
  const auto id = new_case_id(clock.now());
  CHECK(id.rfind("case-20261121-163229-", 0) == 0);
  CHECK(id.size() == std::string("case-20261121-163229-7f3a").size());
  CHECK(valid_case_id(id));
  for (const char* bad : {"", "../x", "a/b", ".hidden", "-x", "x y", "case\n1"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_case_id(bad));
  }
  CHECK_FALSE(valid_case_id(std::string(64, 'a')));
}

TEST_CASE("Journal appends whole JSON lines") {
  const auto dir = std::filesystem::temp_directory_path() / ("ir-journal-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  util::FakeClock clock(*util::parse_rfc3339("2026-11-21T16:32:29Z"));
  auto j = Journal::open((dir / "case-1").string(), "case-1", clock);
  REQUIRE(j);
  REQUIRE(j->append("exec", {{"pod", "web-1"}, {"exit_code", 3}}));
  clock.advance(std::chrono::seconds(5));
  REQUIRE(j->append("isolate", {{"name", std::string("bad\xff\x1b")}}));
  auto text = util::read_file(j->path());
  REQUIRE(text);
  const auto lines = util::split(util::trim(*text), '\n');
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == R"({"action":"exec","case":"case-1","exit_code":3,"pod":"web-1","time":"2026-11-21T16:32:29Z"})");
  const auto second = nlohmann::json::parse(lines[1]);
  CHECK(second["time"] == "2026-11-21T16:32:34Z");
  CHECK(second["name"] == "bad\xef\xbf\xbd\x1b");  // invalid UTF-8 replaced, not thrown
  struct stat st {};
  REQUIRE(::stat(j->path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  SUBCASE("a bad case id is refused before touching the disk") {
    auto bad = Journal::open((dir / "x").string(), "../escape", clock);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == Errc::usage);
  }
  std::filesystem::remove_all(dir);
}
