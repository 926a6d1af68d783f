#include <doctest/doctest.h>

#include <sstream>

#include "cmd/cli.hpp"
#include "cmd/exit_codes.hpp"
#include "cmd/report_cmd.hpp"
#include "evidence/bundle.hpp"
#include "report/report.hpp"
#include "support/temp_dir.hpp"
#include "util/clock.hpp"

using namespace ir::cli;

namespace {
struct Run {
  int code = 0;
  std::string out;
  std::string err;
};
Run report_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  Io io{out, err, [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
  std::vector<std::string> all{"report"};
  all.insert(all.end(), args.begin(), args.end());
  const int code = run(all, io);
  return {code, out.str(), err.str()};
}
}  // namespace

TEST_CASE("page_path_for") {
  CHECK(ir::report::page_path_for("dir/case.tar.gz") == "dir/case.html");
  CHECK(ir::report::page_path_for("case.tgz") == "case.html");
  CHECK(ir::report::page_path_for("case.bin") == "case.bin.html");
  CHECK(ir::report::page_path_for(".tar.gz") == ".tar.gz.html");
}

TEST_CASE("cli: report") {
  ir::testing::TempDir dir;
  const std::string bundle = dir.file("b.tar.gz");
  {
    ir::util::FakeClock clock;
    auto w = ir::evidence::create_bundle(bundle, clock);
    REQUIRE(w);
    REQUIRE((*w)->add("pod/pod.json", R"({"metadata":{"name":"web-1","namespace":"shop"}})",
                      {.source = "t", .method = ir::evidence::Method::api}));
    REQUIRE((*w)->finish());
  }
  SUBCASE("html beside the bundle, its path on stdout") {
    const auto r = report_cli({bundle});
    CHECK(r.code == k_exit_ok);
    CHECK(r.out == dir.file("b.html") + "\n");
    CHECK(r.err.find("bundle sha256: ") != std::string::npos);
  }
  SUBCASE("md and timesketch to stdout") {
    const auto md = report_cli({bundle, "--format", "md"});
    CHECK(md.code == k_exit_ok);
    CHECK(md.out.find("### kubectl-ir report: shop/web-1") == 0);
    const auto ts = report_cli({bundle, "--format", "timesketch", "-o", dir.file("t.jsonl")});
    CHECK(ts.code == k_exit_ok);
    CHECK(ts.out.empty());
  }
  SUBCASE("usage and failures") {
    CHECK(report_cli({bundle, "--format", "pdf"}).code == k_exit_usage);
    CHECK(report_cli({bundle, "-o", bundle}).code == k_exit_usage);
    const auto missing = report_cli({dir.file("nope.tar.gz")});
    CHECK(missing.code == k_exit_failure);
    CHECK(missing.err.rfind("kubectl-ir: error: report " + dir.file("nope.tar.gz") + ": ", 0) == 0);
  }
}
