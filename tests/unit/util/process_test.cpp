#include <doctest/doctest.h>

#include "util/process.hpp"

using namespace ir;
using namespace ir::util;

namespace {
ProcessSpec spec(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env = {}) {
  ProcessSpec s;
  s.argv = std::move(argv);
  s.env_add = std::move(env);
  return s;
}
}  // namespace

TEST_CASE("RealProcessRunner") {
  RealProcessRunner runner;
  SUBCASE("captures stdout, stderr and the exit code, with env added") {
    auto r = runner.run(spec({"sh", "-c", "echo out; echo err >&2; echo $IR_T; exit 3"}, {{"IR_T", "v"}}));
    REQUIRE(r);
    CHECK(r->out == "out\nv\n");
    CHECK(r->err == "err\n");
    CHECK(r->exit_code == 3);
  }
  SUBCASE("a missing program is not_found") {
    auto r = runner.run(spec({"/nonexistent/plugin"}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::not_found);
  }
  SUBCASE("a hung program is killed at the timeout") {
    auto s = spec({"sleep", "30"});
    s.timeout = std::chrono::milliseconds(200);
    auto r = runner.run(s);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
  }
  SUBCASE("output beyond the bound fails") {
    auto s = spec({"sh", "-c", "yes | head -c 100000"});
    s.max_output = 1000;
    auto r = runner.run(s);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("more than 1000 bytes") != std::string::npos);
  }
}
