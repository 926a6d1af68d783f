#include <doctest/doctest.h>

#include "cmd/flags.hpp"
#include "run/verbs.hpp"

using namespace ir;
using namespace ir::cli;

namespace {

// Parses `args` (after the subcommand) with the collect verb's flags bound.
struct Parsed {
  Result<void> applied;
  triage::CollectOptions options;
};

Parsed parse_collect(std::vector<std::string> args) {
  CLI::App app{"t"};
  BoundFlags<triage::CollectOptions> flags(app, run::collect_options());
  std::reverse(args.begin(), args.end());
  app.parse(args);
  Parsed p{{}, {}};
  p.applied = flags.apply(p.options);
  return p;
}

}  // namespace

TEST_CASE("BoundFlags: the verb table's options become the command's flags") {
  auto p = parse_collect({"-c", "web", "--container", "side", "--fs", "archive", "--path", "/tmp", "--path", "/srv",
                          "--max-log-bytes", "1Mi", "--timeout", "5m", "--ephemeral", "--debug-image", "busybox:1.36"});
  REQUIRE(p.applied);
  CHECK(p.options.containers == std::vector<std::string>{"web", "side"});
  CHECK(p.options.fs == triage::FsMode::archive);
  CHECK(p.options.paths == std::vector<std::string>{"/tmp", "/srv"});
  CHECK(p.options.max_log_bytes == 1024 * 1024);
  CHECK(p.options.command_timeout == std::chrono::minutes(5));
  CHECK(p.options.ephemeral);
  CHECK(p.options.debug_image == "busybox:1.36");
  CHECK_FALSE(p.options.ptrace);
}

TEST_CASE("BoundFlags: flags not given keep the struct's defaults") {
  auto p = parse_collect({});
  REQUIRE(p.applied);
  const triage::CollectOptions defaults;
  CHECK(p.options.fs == defaults.fs);
  CHECK(p.options.paths == defaults.paths);
  CHECK(p.options.max_file_bytes == defaults.max_file_bytes);
}

TEST_CASE("BoundFlags: a bad value is a usage error naming the flag") {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"--fs", "tar"}, "invalid --fs \"tar\": option \"fs\" must be one of listing, archive, none"},
      {{"--max-log-bytes", "lots"}, "invalid --max-log-bytes \"lots\": option \"max_log_bytes\": \"lots\" is not a size > 0 (e.g. 16Mi, 1Gi)"},
      {{"--path", "tmp"}, "invalid --path \"tmp\": \"tmp\" is not an absolute path without \"..\""},
      {{"--path", "/tmp/../etc"}, "invalid --path \"/tmp/../etc\": \"/tmp/../etc\" is not an absolute path without \"..\""},
      {{"--debug-image", ""}, "invalid --debug-image \"\": the debug image must not be empty"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.message);
    auto p = parse_collect(c.args);
    REQUIRE_FALSE(p.applied);
    CHECK(p.applied.error().code == Errc::usage);
    CHECK(p.applied.error().message == c.message);
  }
}

TEST_CASE("BoundFlags: isolate's flags are its verb options") {
  CLI::App app{"t"};
  BoundFlags<triage::IsolateOptions> flags(app, run::isolate_options());
  std::vector<std::string> args{"--ingress", "--allow-dns", "--allow-egress", "10.0.0.0/8:443", "--exclusive", "--probe", "1.2.3.4:80"};
  std::reverse(args.begin(), args.end());
  app.parse(args);
  triage::IsolateOptions o;
  REQUIRE(flags.apply(o));
  CHECK(o.ingress);
  CHECK(o.allow_dns);
  CHECK(o.allow_egress == std::vector<std::string>{"10.0.0.0/8:443"});
  CHECK(o.exclusive);
  CHECK_FALSE(o.detach);
  CHECK(o.probe == "1.2.3.4:80");
  CHECK(app.get_option_no_throw("--pod") == nullptr);  // the pod is the command's argument, not a flag
}
