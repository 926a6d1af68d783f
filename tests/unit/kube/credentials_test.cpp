#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>
#include <nlohmann/json.hpp>

#include "kube/credentials.hpp"
#include "util/crypto.hpp"

using namespace ir;
using namespace ir::kube;
using namespace std::chrono_literals;

namespace {

const std::string k_dir = std::string(IR_TESTDATA_DIR) + "/kubeconfig";
std::string fixture(const std::string& name) {
  return k_dir + "/" + name;
}

constexpr const char* k_v1 = "client.authentication.k8s.io/v1";
constexpr const char* k_v1beta1 = "client.authentication.k8s.io/v1beta1";

RestConfig exec_config(const std::string& api_version = k_v1) {
  RestConfig c;
  c.server = "https://api.example.com:6443";
  ExecPluginConfig e;
  e.api_version = api_version;
  e.command = "/opt/bin/auth-plugin";
  e.args = {"token", "--cluster=prod"};
  e.env = {{"AWS_PROFILE", "ir"}};
  e.install_hint = "Install auth-plugin:\n  apt-get install auth-plugin";
  e.interactive_mode = "Never";
  c.exec = e;
  return c;
}

std::string credential_json(const std::string& status, const std::string& api_version = k_v1) {
  return R"({"kind":"ExecCredential","apiVersion":")" + api_version + R"(","status":)" + status + "}";
}

std::string env_value(const util::ProcessSpec& spec, const std::string& name) {
  for (const auto& [k, v] : spec.env_add)
    if (k == name) return v;
  return "<unset>";
}

// A scratch file under the system temp directory, removed at the end of the test.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name)
      : path((std::filesystem::temp_directory_path() / ("ir-cred-test-" + std::to_string(::getpid()) + "-" + name))
                 .string()) {}
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  void write(const std::string& text) const { std::ofstream(path, std::ios::trunc) << text; }
  void remove() const { std::filesystem::remove(path); }
};

util::FakeProcessRunner never_runs() {
  return util::FakeProcessRunner([](const util::ProcessSpec&) -> Result<util::ProcessResult> {
    FAIL("the exec plugin must not run");
    return fail(Errc::failure, "unreachable");
  });
}

}  // namespace

TEST_CASE("make_credential_provider: static credentials") {
  util::FakeClock clock;
  auto runner = never_runs();

  SUBCASE("bearer token") {
    RestConfig c;
    c.token = "tok";
    auto p = make_credential_provider(c, runner, clock);
    auto r = p->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token == "tok");
    CHECK_FALSE(p->can_refresh());
    CHECK(p->get(true)->bearer_token == "tok");
  }
  SUBCASE("basic auth") {
    RestConfig c;
    c.username = "carol";
    c.password = "pw";
    auto r = make_credential_provider(c, runner, clock)->get(false);
    REQUIRE(r);
    CHECK(r->basic_user == "carol");
    CHECK(r->basic_password == "pw");
    CHECK(r->bearer_token.empty());
  }
  SUBCASE("client certificate") {
    RestConfig c;
    c.client_cert_pem = "CERT";
    c.client_key_pem = "KEY";
    auto r = make_credential_provider(c, runner, clock)->get(false);
    REQUIRE(r);
    CHECK(r->client_cert_pem == "CERT");
    CHECK(r->client_key_pem == "KEY");
  }
  SUBCASE("anonymous") {
    auto p = make_credential_provider(RestConfig{}, runner, clock);
    auto r = p->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token.empty());
    CHECK(r->basic_user.empty());
    CHECK(r->client_cert_pem.empty());
  }
  SUBCASE("a token, basic auth or certificate means the exec plugin is not run (client-go)") {
    for (int which = 0; which < 3; ++which) {
      CAPTURE(which);
      RestConfig c = exec_config();
      if (which == 0) c.token = "flag-token";
      if (which == 1) c.username = "u";
      if (which == 2) {
        c.client_cert_pem = "CERT";
        c.client_key_pem = "KEY";
      }
      auto p = make_credential_provider(c, runner, clock);
      REQUIRE(p->get(false));
      CHECK(runner.calls.empty());
    }
  }
}

TEST_CASE("make_credential_provider: token file") {
  util::FakeClock clock;
  auto runner = never_runs();
  TempFile file("token");
  RestConfig c;
  c.token_file = file.path;
  c.client_cert_pem = "CERT";
  c.client_key_pem = "KEY";

  SUBCASE("read on first use, trimmed, re-read after 60 s or on force_refresh") {
    file.write("one\n");
    auto p = make_credential_provider(c, runner, clock);
    CHECK(p->can_refresh());
    auto r = p->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token == "one");
    CHECK(r->client_cert_pem == "CERT");  // the static certificate travels along

    file.write("two\n");
    clock.advance(59s);
    CHECK(p->get(false)->bearer_token == "one");
    clock.advance(1s);
    CHECK(p->get(false)->bearer_token == "two");

    file.write("three");
    CHECK(p->get(false)->bearer_token == "two");
    CHECK(p->get(true)->bearer_token == "three");
  }
  SUBCASE("a failed periodic re-read keeps the last good token; after a 401 it is an error") {
    file.write("one");
    auto p = make_credential_provider(c, runner, clock);
    REQUIRE(p->get(false));
    file.remove();
    clock.advance(2min);
    auto r = p->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token == "one");
    r = p->get(true);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(r.error().message == "read token file " + file.path + ": No such file or directory");
  }
  SUBCASE("missing on first use") {
    auto r = make_credential_provider(c, runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "read token file " + file.path + ": No such file or directory");
  }
  SUBCASE("empty") {
    file.write(" \n");
    auto r = make_credential_provider(c, runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "token file " + file.path + " is empty");
  }
  SUBCASE("the static token is the fallback while the file cannot be read") {
    c.token = "static";
    auto p = make_credential_provider(c, runner, clock);
    CHECK(p->get(false)->bearer_token == "static");
    file.write("from-file");
    CHECK(p->get(true)->bearer_token == "from-file");
  }
  SUBCASE("the in-cluster service account token") {
    RestConfig sa;
    sa.token_file = fixture("in-cluster/token");
    CHECK(make_credential_provider(sa, runner, clock)->get(false)->bearer_token == "in-cluster-token");
  }
}

TEST_CASE("make_credential_provider: exec plugin with a fake runner") {
  util::FakeClock clock;
  std::string reply = credential_json(R"({"token":"exec-token"})");
  int exit_code = 0;
  std::string err;
  util::FakeProcessRunner runner([&](const util::ProcessSpec&) -> Result<util::ProcessResult> {
    util::ProcessResult r;
    r.out = reply;
    r.err = err;
    r.exit_code = exit_code;
    return r;
  });

  SUBCASE("argv, env, KUBERNETES_EXEC_INFO without cluster info, 60 s timeout") {
    auto p = make_credential_provider(exec_config(), runner, clock);
    CHECK(p->can_refresh());
    auto r = p->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token == "exec-token");
    REQUIRE(runner.calls.size() == 1);
    const auto& spec = runner.calls[0];
    CHECK(spec.argv == std::vector<std::string>{"/opt/bin/auth-plugin", "token", "--cluster=prod"});
    CHECK(spec.timeout == 60s);
    REQUIRE(spec.env_add.size() == 2);
    CHECK(spec.env_add[0] == std::pair<std::string, std::string>{"AWS_PROFILE", "ir"});
    CHECK(spec.env_add[1].first == "KUBERNETES_EXEC_INFO");
    CHECK(spec.env_add[1].second ==
          R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}})");
  }
  SUBCASE("provideClusterInfo: spec.cluster with the CA as base64; empty fields left out") {
    RestConfig c = exec_config(k_v1beta1);
    c.exec->provide_cluster_info = true;
    c.ca_pem = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n";
    c.tls_server_name = "api.internal";
    c.proxy_url = "http://proxy:3128";
    reply = credential_json(R"({"token":"t"})", k_v1beta1);
    REQUIRE(make_credential_provider(c, runner, clock)->get(false));
    const auto info = nlohmann::json::parse(env_value(runner.calls.at(0), "KUBERNETES_EXEC_INFO"));
    CHECK(info["kind"] == "ExecCredential");
    CHECK(info["apiVersion"] == k_v1beta1);
    CHECK(info["spec"]["interactive"] == false);
    const auto& cluster = info["spec"]["cluster"];
    CHECK(cluster["server"] == "https://api.example.com:6443");
    CHECK(cluster["certificate-authority-data"] == util::base64_encode(c.ca_pem));
    CHECK(cluster["tls-server-name"] == "api.internal");
    CHECK(cluster["proxy-url"] == "http://proxy:3128");
    CHECK_FALSE(cluster.contains("insecure-skip-tls-verify"));

    RestConfig bare = exec_config();
    bare.exec->provide_cluster_info = true;
    bare.insecure_skip_tls_verify = true;
    reply = credential_json(R"({"token":"t"})");
    REQUIRE(make_credential_provider(bare, runner, clock)->get(false));
    CHECK(env_value(runner.calls.at(1), "KUBERNETES_EXEC_INFO") ==
          R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"cluster":{"server":)"
          R"("https://api.example.com:6443","insecure-skip-tls-verify":true},"interactive":false}})");
  }
  SUBCASE("a custom timeout reaches the runner") {
    REQUIRE(make_credential_provider(exec_config(), runner, clock, 250ms)->get(false));
    CHECK(runner.calls.at(0).timeout == 250ms);
  }
  SUBCASE("v1beta1 with IfAvailable runs non-interactively") {
    RestConfig c = exec_config(k_v1beta1);
    c.exec->interactive_mode = "IfAvailable";
    reply = credential_json(R"({"token":"beta"})", k_v1beta1);
    CHECK(make_credential_provider(c, runner, clock)->get(false)->bearer_token == "beta");
  }
  SUBCASE("no expirationTimestamp: cached for the provider's life; force_refresh runs it again") {
    auto p = make_credential_provider(exec_config(), runner, clock);
    REQUIRE(p->get(false));
    clock.advance(std::chrono::hours(24 * 365));
    reply = credential_json(R"({"token":"second"})");
    CHECK(p->get(false)->bearer_token == "exec-token");
    CHECK(runner.calls.size() == 1);
    CHECK(p->get(true)->bearer_token == "second");
    CHECK(runner.calls.size() == 2);
  }
  SUBCASE("expirationTimestamp: cached until then, run again after") {
    const std::string expiry = util::format_rfc3339(clock.now() + 10min);
    reply = credential_json(R"({"token":"first","expirationTimestamp":")" + expiry + R"("})");
    auto p = make_credential_provider(exec_config(), runner, clock);
    CHECK(p->get(false)->bearer_token == "first");
    reply = credential_json(R"({"token":"second"})");
    clock.advance(9min + 59s);
    CHECK(p->get(false)->bearer_token == "first");
    CHECK(runner.calls.size() == 1);
    clock.advance(1s);
    CHECK(p->get(false)->bearer_token == "second");
    CHECK(runner.calls.size() == 2);
  }
  SUBCASE("an expiry with fractional seconds and an offset") {
    reply = credential_json(R"({"token":"t","expirationTimestamp":"2099-01-01T01:00:00.123+01:00"})");
    auto p = make_credential_provider(exec_config(), runner, clock);
    REQUIRE(p->get(false));
    REQUIRE(p->get(false));
    CHECK(runner.calls.size() == 1);
  }
  SUBCASE("a client certificate and key, with or without a token") {
    reply = credential_json(R"({"clientCertificateData":"CERT","clientKeyData":"KEY"})");
    auto r = make_credential_provider(exec_config(), runner, clock)->get(false);
    REQUIRE(r);
    CHECK(r->client_cert_pem == "CERT");
    CHECK(r->client_key_pem == "KEY");
    CHECK(r->bearer_token.empty());
    reply = credential_json(R"({"token":"t","clientCertificateData":"CERT","clientKeyData":"KEY"})");
    r = make_credential_provider(exec_config(), runner, clock)->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token == "t");
    CHECK(r->client_key_pem == "KEY");
  }
  SUBCASE("errors are not cached: the next call runs the plugin again") {
    exit_code = 1;
    auto p = make_credential_provider(exec_config(), runner, clock);
    REQUIRE_FALSE(p->get(false));
    exit_code = 0;
    CHECK(p->get(false)->bearer_token == "exec-token");
    CHECK(runner.calls.size() == 2);
  }
  SUBCASE("a failed refresh drops the cached credentials") {
    auto p = make_credential_provider(exec_config(), runner, clock);
    REQUIRE(p->get(false));
    exit_code = 2;
    REQUIRE_FALSE(p->get(true));
    REQUIRE_FALSE(p->get(false));
    CHECK(runner.calls.size() == 3);
  }
  SUBCASE("interactiveMode Always fails without running the plugin") {
    RestConfig c = exec_config();
    c.exec->interactive_mode = "Always";
    auto r = make_credential_provider(c, runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(r.error().message ==
          "exec plugin /opt/bin/auth-plugin: interactiveMode is Always, but kubectl-ir cannot give the plugin a "
          "terminal");
    CHECK(runner.calls.empty());
  }

  SUBCASE("a bad ExecCredential: the message says what is wrong and never echoes a secret") {
    struct Case {
      std::string out;
      std::string why;  // after "exec plugin /opt/bin/auth-plugin: invalid ExecCredential: "
    };
    const std::vector<Case> cases = {
        {"", "the plugin wrote nothing to standard output"},
        {"token: sekrit-123", "parse error at line 1, column 2: syntax error while parsing value - invalid literal"},
        {R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"sekrit-123"})",
         "parse error at line 1, column 104: syntax error while parsing object - unexpected end of input; expected "
         "'}'"},
        {R"(["sekrit-123"])", "not a JSON object"},
        {R"({"apiVersion":"client.authentication.k8s.io/v1","status":{"token":"sekrit-123"}})",
         R"(kind is "", want "ExecCredential")"},
        {R"({"kind":"Status","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"sekrit-123"}})",
         R"(kind is "Status", want "ExecCredential")"},
        {credential_json(R"({"token":"sekrit-123"})", k_v1beta1),
         R"(apiVersion is "client.authentication.k8s.io/v1beta1", but the kubeconfig asks for "client.authentication.k8s.io/v1")"},
        {R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"})", "no status"},
        {credential_json("{}"), "status has neither a token nor clientCertificateData and clientKeyData"},
        {credential_json(R"({"token":""})"), "status has neither a token nor clientCertificateData and clientKeyData"},
        {credential_json(R"({"token":42})"), "status.token is not a string"},
        {credential_json(R"({"clientCertificateData":"sekrit-123"})"),
         "status.clientCertificateData without status.clientKeyData (both are required)"},
        {credential_json(R"({"clientKeyData":"sekrit-123"})"),
         "status.clientKeyData without status.clientCertificateData (both are required)"},
        {credential_json(R"({"token":"sekrit-123","expirationTimestamp":"tomorrow"})"),
         R"(status.expirationTimestamp "tomorrow" is not an RFC 3339 time)"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.out);
      reply = c.out;
      auto r = make_credential_provider(exec_config(), runner, clock)->get(false);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == Errc::config);
      CHECK(r.error().message == "exec plugin /opt/bin/auth-plugin: invalid ExecCredential: " + c.why);
      CHECK(r.error().message.find("sekrit") == std::string::npos);
    }
  }
  SUBCASE("non-zero exit: the code and the first stderr line, escaped") {
    exit_code = 1;
    err = "\n  error: \x1b[31mnot logged in\x1b[0m  \nsecond line\n";
    auto r = make_credential_provider(exec_config(), runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(r.error().message ==
          "exec plugin /opt/bin/auth-plugin: exited with 1: error: \\x1b[31mnot logged in\\x1b[0m");
    err.clear();
    exit_code = 137;
    r = make_credential_provider(exec_config(), runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "exec plugin /opt/bin/auth-plugin: exited with 137");
  }
  SUBCASE("runner failures: not found (with the install hint), timeout, other") {
    struct Case {
      Error from_runner;
      Errc code;
      std::string message;
      std::string hint;
    };
    const std::vector<Case> cases = {
        {Error(Errc::not_found, "cannot run /opt/bin/auth-plugin: No such file or directory"), Errc::config,
         "exec plugin /opt/bin/auth-plugin: executable not found",
         "Install auth-plugin:\n  apt-get install auth-plugin"},
        {Error(Errc::timeout, "/opt/bin/auth-plugin did not finish within 60s and was killed"), Errc::timeout,
         "exec plugin /opt/bin/auth-plugin: did not finish within 60s and was killed", ""},
        {Error(Errc::failure, "/opt/bin/auth-plugin wrote more than 1048576 bytes to standard output"), Errc::config,
         "exec plugin /opt/bin/auth-plugin: /opt/bin/auth-plugin wrote more than 1048576 bytes to standard output", ""},
    };
    for (const auto& c : cases) {
      CAPTURE(c.message);
      util::FakeProcessRunner failing(
          [&](const util::ProcessSpec&) -> Result<util::ProcessResult> { return unexpected(c.from_runner); });
      auto r = make_credential_provider(exec_config(), failing, clock)->get(false);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == c.code);
      CHECK(r.error().message == c.message);
      CHECK(r.error().hint == c.hint);
    }
  }
}

TEST_CASE("make_credential_provider: exec plugin fixtures with the real runner") {
  util::RealProcessRunner runner;
  util::FakeClock clock;
  auto config_for = [](const std::string& context) {
    Overrides o;
    o.kubeconfig = fixture("exec-plugins.yaml");
    o.context = context;
    Environment env;
    env.service_account_dir = fixture("no-such-service-account");
    auto r = load_rest_config(o, env);
    REQUIRE(r);
    return *r;
  };

  SUBCASE("a working plugin sees its args, env and KUBERNETES_EXEC_INFO") {
    auto r = make_credential_provider(config_for("ok"), runner, clock)->get(false);
    REQUIRE(r);
    CHECK(r->bearer_token == "exec-eu-1-fast-with-cluster");
  }
  SUBCASE("exits 1 with a message on stderr") {
    auto r = make_credential_provider(config_for("fail"), runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "exec plugin " + fixture("exec/fail.sh") +
                                   ": exited with 1: error: you must log in first (run: example-auth login)");
  }
  SUBCASE("prints garbage") {
    auto r = make_credential_provider(config_for("garbage"), runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "exec plugin " + fixture("exec/garbage.sh") +
                                   ": invalid ExecCredential: parse error at line 1, column 1: syntax error while "
                                   "parsing value - invalid literal");
    CHECK(r.error().message.find("secret-looking") == std::string::npos);
  }
  SUBCASE("hangs past the timeout and is killed") {
    const auto start = std::chrono::steady_clock::now();
    auto r = make_credential_provider(config_for("hang"), runner, clock, 300ms)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message ==
          "exec plugin " + fixture("exec/hang.sh") + ": did not finish within 300ms and was killed");
    CHECK(std::chrono::steady_clock::now() - start < 10s);
  }
  SUBCASE("returns a certificate without a key") {
    auto r = make_credential_provider(config_for("cert-only"), runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "exec plugin " + fixture("exec/cert-only.sh") +
                                   ": invalid ExecCredential: status.clientCertificateData without "
                                   "status.clientKeyData (both are required)");
  }
  SUBCASE("is not installed") {
    auto r = make_credential_provider(config_for("missing"), runner, clock)->get(false);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "exec plugin kubectl-ir-test-no-such-plugin: executable not found");
    CHECK(r.error().hint == "See https://example.com/install");
  }
}
