#include <doctest/doctest.h>

#include <cctype>
#include <fstream>
#include <set>
#include <map>
#include <sstream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cmd/cli.hpp"
#include "cmd/exit_codes.hpp"
#include "cmd/connect.hpp"
#include "support/run_cli.hpp"

using namespace ir::cli;

using ir::testing::run_cli;

TEST_CASE("cli: --help shows kubectl ir usage and exits 0") {
  auto r = run_cli({"--help"});
  CHECK(r.code == k_exit_ok);
  CHECK(r.out.find("kubectl ir") != std::string::npos);
  CHECK(r.out.find("doctor") != std::string::npos);
  CHECK(r.out.find("--kubeconfig") != std::string::npos);
  auto sub = run_cli({"doctor", "--help"});
  CHECK(sub.code == k_exit_ok);
  CHECK(sub.out.find("Examples:") != std::string::npos);
}

TEST_CASE("cli: a mistyped command gets a hint and exit 2") {
  auto r = run_cli({"doctr"});
  CHECK(r.code == k_exit_usage);
  CHECK(r.err == "kubectl-ir: error: unknown command \"doctr\"\nhint: did you mean \"doctor\"? (kubectl ir --help lists the commands)\n");
  CHECK(r.out.empty());
}

TEST_CASE("cli: no command is a usage error") {
  auto r = run_cli({});
  CHECK(r.code == k_exit_usage);
  CHECK(r.err.rfind("kubectl-ir: error: ", 0) == 0);
}

TEST_CASE("cli: bad flag values are usage errors") {
  CHECK(run_cli({"version", "--client", "-o", "yaml"}).code == k_exit_usage);
  CHECK(run_cli({"version", "--bogus"}).code == k_exit_usage);
}

TEST_CASE("cli: version --client needs no cluster") {
  auto r = run_cli({"version", "--client"});
  CHECK(r.code == k_exit_ok);
  CHECK(r.out.rfind("Client Version: v", 0) == 0);
  CHECK(r.err.empty());
  auto j = run_cli({"version", "--client", "-o", "json"});
  CHECK(j.code == k_exit_ok);
  CHECK(j.out.find("\"clientVersion\"") != std::string::npos);
}

TEST_CASE("cli: version -o json names the build") {
  auto r = run_cli({"version", "--client", "-o", "json"});
  REQUIRE(r.code == k_exit_ok);
  const auto doc = nlohmann::json::parse(r.out);
  const auto& client = doc.at("clientVersion");
  CHECK(client.at("version").get<std::string>().rfind("v", 0) == 0);
#if defined(__x86_64__)
  CHECK(client.at("platform") == "linux/amd64");
#elif defined(__aarch64__)
  CHECK(client.at("platform") == "linux/arm64");
#endif
  CHECK(client.at("compiler").get<std::string>().find_first_of("0123456789") != std::string::npos);
  CHECK(client.at("gitTreeState").is_string());
  // The commit's time (or SOURCE_DATE_EPOCH), never the clock: RFC 3339 in UTC, or unknown.
  const auto date = client.at("buildDate").get<std::string>();
  CHECK((date == "unknown" || (date.size() == 20 && date.back() == 'Z' && date[10] == 'T')));
  const auto& deps = client.at("dependencies");
  for (const char* name : {"CLI11", "curl", "fmt", "libarchive", "nlohmann-json", "OpenSSL", "simdjson", "yaml-cpp", "zlib"}) {
    INFO(name);
    REQUIRE(deps.contains(name));
    const auto v = deps.at(name).get<std::string>();
    CHECK(!v.empty());
    CHECK(std::isdigit(static_cast<unsigned char>(v.front())));
    CHECK(v.find('.') != std::string::npos);
  }
  CHECK(deps.at("fmt") == std::to_string(FMT_VERSION / 10000) + "." + std::to_string(FMT_VERSION / 100 % 100) + "." +
                              std::to_string(FMT_VERSION % 100));
}

TEST_CASE("cli: global flags are accepted after the command") {
  auto r = run_cli({"version", "--client", "-n", "shop", "--context", "x", "-v", "6"});
  CHECK(r.code == k_exit_ok);
}

TEST_CASE("cli: doctor without any configuration fails with one clear line") {
  auto r = run_cli({"doctor"}, {{"HOME", "/nonexistent-home"}});
  CHECK(r.code == k_exit_failure);
  CHECK(r.err.rfind("kubectl-ir: error: ", 0) == 0);
  CHECK(r.out.empty());
}

TEST_CASE("cli: a bad --request-timeout is a usage error") {
  // Checked before the kubeconfig is even read (this one does not exist).
  auto r = run_cli({"doctor", "--request-timeout", "soon", "--kubeconfig", IR_TESTDATA_DIR "/kubeconfig/none"});
  CHECK(r.code == k_exit_usage);
  CHECK(r.err == "kubectl-ir: error: invalid --request-timeout \"soon\": want a duration like 30s or 2m\n");
  CHECK(r.out.empty());
}

TEST_CASE("cli: every command's --help has a summary, its flags and at least two real examples") {
  const auto root = run_cli({"--help"});
  const auto subs = root.out.substr(root.out.find("Subcommands:"));
  for (const char* cmd : {"version", "doctor", "drill", "exec", "collect", "run", "playbooks", "completion", "isolate", "release",
                          "siblings", "verify", "sign", "upload"}) {
    CAPTURE(cmd);
    // the root help lists it with a one-line summary
    const auto line = subs.substr(subs.find(std::string("\n  ") + cmd + " "));
    CHECK(line.find_first_not_of(' ', 3 + std::string(cmd).size()) < line.find('\n', 1));
    const auto r = run_cli({cmd, "--help"});
    CHECK(r.code == k_exit_ok);
    CHECK(r.out.find("Options:") != std::string::npos);
    const auto examples = r.out.find("Examples:");
    REQUIRE(examples != std::string::npos);
    std::size_t n = 0;
    for (auto p = r.out.find(std::string("kubectl ir ") + cmd, examples); p != std::string::npos;
         p = r.out.find(std::string("kubectl ir ") + cmd, p + 1)) {
      ++n;
    }
    CHECK(n >= 2);
  }
}

TEST_CASE("cli: __complete answers in Cobra's protocol without a cluster") {
  auto r = run_cli({"__complete", "is"});
  CHECK(r.code == k_exit_ok);
  CHECK(r.out == "isolate\tContain a pod with a deny-egress NetworkPolicy (reversible with release)\n:4\n");
  r = run_cli({"__complete", "verify", ""});
  CHECK(r.out == ":0\n");  // bundle files: the shell completes file names
}

TEST_CASE("cli: choose_case: --case, else the case isolate recorded on the pod, else a new one") {
  const ir::util::TimePoint now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 21} + std::chrono::hours(16);
  const nlohmann::json isolated = {{"metadata", {{"annotations", {{"kubectl-ir/case", "case-7"}}}}}};
  const nlohmann::json hostile = {{"metadata", {{"annotations", {{"kubectl-ir/case", "../../etc"}}}}}};
  CHECK(choose_case("case-42", &isolated, now).value() == "case-42");
  CHECK(choose_case("", &isolated, now).value() == "case-7");
  CHECK(choose_case("", &hostile, now).value().rfind("case-20261121-160000-", 0) == 0);  // never a path from the pod
  CHECK(choose_case("", nullptr, now).value().rfind("case-20261121-160000-", 0) == 0);
  const auto bad = choose_case("../x", nullptr, now);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ir::Errc::usage);
}

namespace {
// The commands the root help lists.
std::vector<std::string> listed_commands() {
  const auto root = run_cli({"--help"});
  std::vector<std::string> names;
  std::istringstream in(root.out.substr(root.out.find("Subcommands:")));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line) && line.rfind("  ", 0) == 0) {
    const auto start = line.find_first_not_of(' ');
    names.push_back(line.substr(start, line.find(' ', start) - start));
  }
  return names;
}
}  // namespace

TEST_CASE("cli: usage lines read `kubectl ir <command> [OPTIONS] ARGS`, once") {
  const auto r = run_cli({"isolate", "--help"});
  CHECK(r.out.find("Usage: kubectl ir isolate [OPTIONS] POD") != std::string::npos);
  CHECK(r.out.find("Usage: isolate") == std::string::npos);
  const auto c = run_cli({"collect", "--help"});
  CHECK(c.out.find("Usage: kubectl ir collect [OPTIONS] POD") != std::string::npos);
}

TEST_CASE("cli: an unknown command says so, with a suggestion or the way to the list") {
  const auto far = run_cli({"bogus"});
  CHECK(far.code == k_exit_usage);
  CHECK(far.err == "kubectl-ir: error: unknown command \"bogus\"\nhint: kubectl ir --help lists the commands\n");
  const auto flags_first = run_cli({"--kubeconfig", "/nonexistent", "-n", "shop", "isolat", "web-1"});
  CHECK(flags_first.code == k_exit_usage);
  CHECK(flags_first.err.find("unknown command \"isolat\"") != std::string::npos);
  CHECK(flags_first.err.find("did you mean \"isolate\"?") != std::string::npos);
}

TEST_CASE("cli: the krew manifest's description names every command") {
  std::ifstream in(IR_KREW_MANIFEST);
  REQUIRE(in);
  const std::string manifest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto description = manifest.substr(manifest.find("  description: |"), manifest.find("  caveats:") - manifest.find("  description: |"));
  const auto commands = listed_commands();
  REQUIRE(commands.size() >= 10);
  std::set<std::string> words;  // the description's words (letters, digits and '-')
  std::string word;
  for (const char c : description + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-') {
      word += c;
    } else if (!word.empty()) {
      words.insert(word);
      word.clear();
    }
  }
  for (const auto& cmd : commands) {
    CAPTURE(cmd);
    CHECK(words.count(cmd) == 1);
  }
}
