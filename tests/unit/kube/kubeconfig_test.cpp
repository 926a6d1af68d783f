#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "kube/kubeconfig.hpp"

using namespace ir;
using namespace ir::kube;

namespace {

const std::string k_dir = std::string(IR_TESTDATA_DIR) + "/kubeconfig";

std::string fixture(const std::string& name) {
  return k_dir + "/" + name;
}

// The PEM blocks encoded in the fixtures.
const std::string k_ca = "-----BEGIN CERTIFICATE-----\nZmFrZSBjYSBmb3IgdGVzdHM=\n-----END CERTIFICATE-----\n";
const std::string k_cert = "-----BEGIN CERTIFICATE-----\nZmFrZSBjbGllbnQgY2VydA==\n-----END CERTIFICATE-----\n";
const std::string k_key = "-----BEGIN EC PRIVATE KEY-----\nZmFrZSBjbGllbnQga2V5\n-----END EC PRIVATE KEY-----\n";
const std::string k_file_ca = "-----BEGIN CERTIFICATE-----\nZmlsZSBjYQ==\n-----END CERTIFICATE-----\n";
const std::string k_file_cert = "-----BEGIN CERTIFICATE-----\nZmlsZSBjZXJ0\n-----END CERTIFICATE-----\n";
const std::string k_file_key = "-----BEGIN RSA PRIVATE KEY-----\nZmlsZSBrZXk=\n-----END RSA PRIVATE KEY-----\n";

// No $KUBECONFIG, no home, not in a cluster: only what a test adds is seen.
Environment bare_env() {
  Environment env;
  env.service_account_dir = fixture("no-such-service-account");
  return env;
}

Environment in_cluster_env(const std::string& sa_dir, std::string host = "10.96.0.1") {
  Environment env = bare_env();
  env.service_host = std::move(host);
  env.service_port = "443";
  env.service_account_dir = fixture(sa_dir);
  return env;
}

Result<RestConfig> load(const std::string& file, Overrides o = {}) {
  o.kubeconfig = fixture(file);
  return load_rest_config(o, bare_env());
}

Result<RestConfig> load_env(const std::string& kubeconfig_env, Overrides o = {}, Environment env = bare_env()) {
  env.kubeconfig_env = kubeconfig_env;
  return load_rest_config(o, env);
}

Overrides context(const std::string& name) {
  Overrides o;
  o.context = name;
  return o;
}

// Context `name` with --user `user`.
Overrides context(const std::string& name, const std::string& user) {
  Overrides o = context(name);
  o.user = user;
  return o;
}

}  // namespace

TEST_CASE("kubeconfig load_rest_config: every kubeconfig field") {
  const std::string file = fixture("full.yaml");

  SUBCASE("current-context: server, CA data, tls-server-name, proxy-url, client cert data, as, as-groups, namespace") {
    auto r = load("full.yaml");
    REQUIRE(r);
    CHECK(r->source == file);
    CHECK(r->context_name == "dev");
    CHECK(r->cluster_name == "dev");
    CHECK(r->user_name == "alice");
    CHECK(r->server == "https://dev.example.com:6443");  // trailing slash dropped
    CHECK(r->ca_pem == k_ca);
    CHECK_FALSE(r->insecure_skip_tls_verify);
    CHECK(r->tls_server_name == "api.dev.internal");
    CHECK(r->proxy_url == "http://proxy.example.com:3128");
    CHECK(r->client_cert_pem == k_cert);
    CHECK(r->client_key_pem == k_key);
    CHECK(r->impersonate_user == "admin");
    CHECK(r->impersonate_groups == std::vector<std::string>{"system:masters", "ops"});
    CHECK(r->namespace_name == "shop");
    CHECK(r->token.empty());
    CHECK_FALSE(r->exec);
  }
  SUBCASE("a server without a scheme gets https; insecure-skip-tls-verify; token; namespace defaults") {
    auto r = load("full.yaml", context("staging"));
    REQUIRE(r);
    CHECK(r->server == "https://staging.example.com:443");
    CHECK(r->insecure_skip_tls_verify);
    CHECK(r->ca_pem.empty());
    CHECK(r->token == "bob-token");
    CHECK(r->namespace_name == "default");
  }
  SUBCASE("files resolve against the kubeconfig's directory; a server path is kept") {
    auto r = load("full.yaml", context("files"));
    REQUIRE(r);
    CHECK(r->server == "https://files.example.com/k8s/clusters/c-1");
    CHECK(r->ca_pem == k_file_ca);
    CHECK(r->client_cert_pem == k_file_cert);
    CHECK(r->client_key_pem == k_file_key);
    CHECK(r->namespace_name == "ops");
  }
  SUBCASE("username and password") {
    auto r = load("full.yaml", context("staging", "carol"));
    REQUIRE(r);
    CHECK(r->user_name == "carol");
    CHECK(r->username == "carol");
    CHECK(r->password == "carol-pass");
    CHECK(r->token.empty());
  }
  SUBCASE("tokenFile becomes an absolute token_file, read later by the credential provider") {
    auto r = load("full.yaml", context("staging", "dave"));
    REQUIRE(r);
    CHECK(r->token_file == fixture("token"));
    CHECK(r->token.empty());
  }
  SUBCASE("token and tokenFile together: the file is not needed at load time") {
    auto r = load("full.yaml", context("staging", "token-and-file"));
    REQUIRE(r);
    CHECK(r->token == "static-token");
    CHECK(r->token_file == "/absolute/token");
  }
  SUBCASE("exec plugin, v1: every field; a command with '/' resolves against the kubeconfig") {
    auto r = load("full.yaml", context("staging", "exec-v1"));
    REQUIRE(r);
    REQUIRE(r->exec);
    CHECK(r->exec->api_version == "client.authentication.k8s.io/v1");
    CHECK(r->exec->command == fixture("exec/ok-token.sh"));
    CHECK(r->exec->args == std::vector<std::string>{"--region", "eu-1"});
    CHECK(r->exec->env == std::vector<std::pair<std::string, std::string>>{{"PLUGIN_MODE", "fast"}, {"EMPTY", ""}});
    CHECK(r->exec->install_hint == "Install the plugin:\n  apt-get install example-auth-plugin\n");
    CHECK(r->exec->provide_cluster_info);
    CHECK(r->exec->interactive_mode == "Never");
  }
  SUBCASE("exec plugin, v1beta1: a bare command stays a PATH lookup; interactiveMode defaults to IfAvailable") {
    auto r = load("full.yaml", context("staging", "exec-path"));
    REQUIRE(r);
    REQUIRE(r->exec);
    CHECK(r->exec->command == "example-auth-plugin");
    CHECK(r->exec->interactive_mode == "IfAvailable");
    CHECK_FALSE(r->exec->provide_cluster_info);
  }
  SUBCASE("a context without a user is anonymous") {
    auto r = load("full.yaml", context("anonymous"));
    REQUIRE(r);
    CHECK(r->user_name.empty());
    CHECK(r->token.empty());
    CHECK(r->client_cert_pem.empty());
    CHECK_FALSE(r->exec);
  }
  SUBCASE("a user with an empty body is anonymous too") {
    auto r = load("full.yaml", context("staging", "empty"));
    REQUIRE(r);
    CHECK(r->token.empty());
  }
  SUBCASE("no credentials are loaded for a plain-http server, as kubectl") {
    auto r = load("full.yaml", context("plain"));
    REQUIRE(r);
    CHECK(r->server == "http://127.0.0.1:8080");
    CHECK(r->token.empty());
  }
  SUBCASE("IPv6 server: query and fragment dropped; YAML 1.1 'yes' is true") {
    Overrides o = context("staging");
    o.cluster = "v6";
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->server == "https://[fd00::1]:6443");
    CHECK(r->insecure_skip_tls_verify);
  }
  SUBCASE("a context that names no cluster") {
    auto r = load("full.yaml", context("no-cluster"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(r.error().message == "kubeconfig " + file + ": contexts[\"no-cluster\"]: names no cluster");
    CHECK(r.error().hint == "set its cluster, or pass --cluster or --server");
  }
}

TEST_CASE("kubeconfig load_rest_config: command-line overrides") {
  const std::string file = fixture("full.yaml");

  SUBCASE("--cluster and --user replace the context's") {
    Overrides o = context("staging", "alice");
    o.cluster = "dev";
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->context_name == "staging");
    CHECK(r->cluster_name == "dev");
    CHECK(r->server == "https://dev.example.com:6443");
    CHECK(r->tls_server_name == "api.dev.internal");
    CHECK(r->client_cert_pem == k_cert);
  }
  SUBCASE("-n replaces the context namespace") {
    Overrides o;
    o.namespace_name = "other";
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->namespace_name == "other");
  }
  SUBCASE("-s replaces the server and clears tls-server-name") {
    Overrides o;
    o.server = "https://10.0.0.1:6443/";
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->server == "https://10.0.0.1:6443");
    CHECK(r->tls_server_name.empty());
    CHECK(r->ca_pem == k_ca);  // the cluster's CA still applies
  }
  SUBCASE("-s with an unsupported scheme") {
    Overrides o;
    o.server = "ftp://x";
    auto r = load("full.yaml", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "--server: unsupported scheme \"ftp\" in \"ftp://x\" (want https)");
  }
  SUBCASE("--token replaces token, tokenFile, basic auth and exec; a client certificate still applies") {
    struct Case {
      const char* user;
      bool keeps_cert;
    };
    for (const Case c : {Case{"alice", true}, Case{"bob", false}, Case{"carol", false}, Case{"dave", false},
                         Case{"exec-v1", false}, Case{"token-and-file", true}}) {
      CAPTURE(c.user);
      Overrides o = context("staging", c.user);
      o.token = "flag-token";
      auto r = load("full.yaml", o);
      REQUIRE(r);
      CHECK(r->token == "flag-token");
      CHECK(r->token_file.empty());
      CHECK(r->username.empty());
      CHECK(r->password.empty());
      CHECK_FALSE(r->exec);
      CHECK(r->client_cert_pem.empty() != c.keeps_cert);
    }
  }
  SUBCASE("--token on an anonymous context") {
    Overrides o = context("anonymous");
    o.token = "flag-token";
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->token == "flag-token");
  }
  SUBCASE("--as and --as-group replace the user's as and as-groups") {
    Overrides o;
    o.impersonate_user = "jane";
    o.impersonate_groups = {"g1"};
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->impersonate_user == "jane");
    CHECK(r->impersonate_groups == std::vector<std::string>{"g1"});
  }
  SUBCASE("--as-group without a user to impersonate") {
    Overrides o = context("staging");
    o.impersonate_groups = {"g1"};
    auto r = load("full.yaml", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "kubeconfig " + file + ": users[\"bob\"]: impersonation groups without a user to impersonate");
  }
  SUBCASE("--certificate-authority replaces CA data and turns insecure-skip-tls-verify off") {
    for (const char* ctx : {"dev", "staging"}) {
      CAPTURE(ctx);
      Overrides o = context(ctx);
      o.certificate_authority = fixture("certs/ca.crt");
      auto r = load("full.yaml", o);
      REQUIRE(r);
      CHECK(r->ca_pem == k_file_ca);
      CHECK_FALSE(r->insecure_skip_tls_verify);
    }
  }
  SUBCASE("--certificate-authority that cannot be read or is not PEM") {
    Overrides o;
    o.certificate_authority = fixture("certs/nope.crt");
    auto r = load("full.yaml", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "--certificate-authority: " + fixture("certs/nope.crt") + ": No such file or directory");
    o.certificate_authority = fixture("certs/not-pem.der");
    r = load("full.yaml", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "--certificate-authority: " + fixture("certs/not-pem.der") + ": not PEM (no \"-----BEGIN\" line)");
  }
  SUBCASE("--insecure-skip-tls-verify clears the CA, as kubectl") {
    Overrides o;
    o.insecure_skip_tls_verify = true;
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK(r->insecure_skip_tls_verify);
    CHECK(r->ca_pem.empty());
  }
  SUBCASE("--insecure-skip-tls-verify=false turns it off") {
    Overrides o = context("staging");
    o.insecure_skip_tls_verify = false;
    auto r = load("full.yaml", o);
    REQUIRE(r);
    CHECK_FALSE(r->insecure_skip_tls_verify);
  }
  SUBCASE("--insecure-skip-tls-verify with --certificate-authority") {
    Overrides o;
    o.insecure_skip_tls_verify = true;
    o.certificate_authority = fixture("certs/ca.crt");
    auto r = load("full.yaml", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::usage);
    CHECK(r.error().message == "--certificate-authority and --insecure-skip-tls-verify cannot be used together");
  }
  SUBCASE("unknown names from flags, with a hint when one is close") {
    struct Case {
      Overrides o;
      std::string message;
      std::string hint;
    };
    Overrides by_context = context("stagin");
    Overrides by_cluster;
    by_cluster.cluster = "nope";
    Overrides by_user;
    by_user.user = "bobb";
    const std::vector<Case> cases = {
        {by_context,
         "kubeconfig " + file +
             ": context \"stagin\" not found (have: anonymous, dev, files, no-cluster, plain, staging)",
         "did you mean \"staging\"?"},
        {by_cluster, "kubeconfig " + file + ": cluster \"nope\" not found (have: dev, files, plain, staging, v6)", ""},
        {by_user,
         "kubeconfig " + file +
             ": user \"bobb\" not found (have: alice, bob, carol, dave, empty, erin, exec-path, exec-v1, "
             "token-and-exec, token-and-file)",
         "did you mean \"bob\"?"},
    };
    for (const auto& c : cases) {
      auto r = load("full.yaml", c.o);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == Errc::config);
      CHECK(r.error().message == c.message);
      CHECK(r.error().hint == c.hint);
    }
  }
}

TEST_CASE("kubeconfig load_rest_config: one fixture per failure mode") {
  struct Case {
    std::string file;
    std::string message;  // after "kubeconfig <path>: "
    std::string hint;
  };
  const std::vector<Case> cases = {
      {"malformed.yaml", "line 6, column 4: malformed YAML: end of map not found", ""},
      {"not-a-mapping.yaml", "line 1, column 1: expected a mapping (a kubeconfig), found a list", ""},
      {"wrong-type.yaml", "line 3, column 11: clusters: expected a list, found a scalar", ""},
      {"wrong-bool.yaml", "line 6, column 31: clusters[\"dev\"].insecure-skip-tls-verify: expected true or false", ""},
      {"duplicate-name.yaml", "line 5, column 3: clusters[\"c\"]: defined twice in this file (lines 3 and 5)", ""},
      {"unknown-context.yaml", "context \"prod\" not found (have: dev, staging)", ""},
      {"unknown-user.yaml", "contexts[\"dev\"].user: user \"bob\" not found (have: alice)", ""},
      {"unknown-cluster.yaml", "contexts[\"dev\"].cluster: cluster \"prd\" not found (have: prod)",
       "did you mean \"prod\"?"},
      {"no-current-context.yaml",
       "no context selected: current-context is not set and --context is not given (have: dev, staging)",
       "choose one with --context dev"},
      {"missing-cert-file.yaml",
       "users[\"bob\"].client-certificate: " + fixture("certs/missing.crt") + ": No such file or directory", ""},
      {"bad-base64.yaml", "users[\"bob\"].client-certificate-data: illegal base64 data: unexpected character", ""},
      {"not-pem.yaml", "clusters[\"c\"].certificate-authority-data: not PEM (no \"-----BEGIN\" line)", ""},
      {"cert-without-key.yaml", "users[\"bob\"].client-certificate-data: set without client-key or client-key-data",
       ""},
      {"key-without-cert.yaml", "users[\"bob\"].client-key: set without client-certificate or client-certificate-data",
       ""},
      {"insecure-with-ca.yaml",
       "clusters[\"c\"].insecure-skip-tls-verify: cannot be combined with a certificate authority (kubectl refuses "
       "this too)",
       "remove insecure-skip-tls-verify, or the certificate-authority(-data)"},
      {"ca-file-and-data.yaml",
       "clusters[\"c\"]: certificate-authority and certificate-authority-data are both set (kubectl refuses this too: "
       "keep one)",
       ""},
      {"auth-provider.yaml", "users[\"gke\"].auth-provider: the \"gcp\" auth provider is not supported",
       "kubectl removed its built-in auth providers (v1.26): switch this user to an exec credential plugin (e.g. "
       "gke-gcloud-auth-plugin, kubelogin)"},
      {"no-server.yaml", "clusters[\"c\"].server: not set", ""},
      {"token-and-basic.yaml",
       "users[\"bob\"]: more than one authentication method (token and username/password); only one is allowed", ""},
      {"groups-without-user.yaml", "users[\"bob\"]: impersonation groups without a user to impersonate",
       "add --as USER (or `as:` in the kubeconfig user)"},
      {"bad-proxy.yaml",
       "clusters[\"c\"].proxy-url: unsupported proxy \"ftp://proxy.example.com\" (want an http, https or socks5 URL)",
       ""},
      {"exec-no-interactive-mode.yaml",
       "users[\"bob\"].exec.interactiveMode: not set (required with client.authentication.k8s.io/v1)", ""},
      {"exec-bad-api-version.yaml",
       "users[\"bob\"].exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported (want "
       "client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1)",
       "client.authentication.k8s.io/v1alpha1 was removed in Kubernetes 1.24: update the plugin and its kubeconfig "
       "entry"},
      {"no-such-file.yaml", "no such file", "--kubeconfig must name an existing file"},
  };
  SUBCASE("each fixture: the file, the key and why") {
    for (const auto& c : cases) {
      CAPTURE(c.file);
      auto r = load(c.file);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == Errc::config);
      CHECK(r.error().message == "kubeconfig " + fixture(c.file) + ": " + c.message);
      CHECK(r.error().hint == c.hint);
    }
  }

  SUBCASE("a directory instead of a file") {
    auto r = load("certs");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "kubeconfig " + fixture("certs") + ": is a directory");
  }
  SUBCASE("an empty file is no configuration") {
    auto r = load("empty.yaml");
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "no configuration: " + fixture("empty.yaml") + " defines no contexts, and not running in a cluster");
    CHECK(r.error().hint == "pass --kubeconfig FILE or set $KUBECONFIG (or -s/--server with --token)");
  }
  SUBCASE("a user's tokenFile that cannot be read fails at load, naming the key (client-go reads it there)") {
    auto r = load("missing-token-file.yaml");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "kubeconfig " + fixture("missing-token-file.yaml") + ": users[\"bob\"].tokenFile: " +
                                   fixture("secrets/no-such-token") + ": No such file or directory");
  }
}

TEST_CASE("kubeconfig load_rest_config: which files are read and how they merge") {
  const std::string a = fixture("merge/a.yaml");
  const std::string b = fixture("merge/b.yaml");
  const std::string c = fixture("merge/c.yaml");

  SUBCASE("$KUBECONFIG a:b — a's entries win whole, a's current-context wins") {
    auto r = load_env(a + ":" + b);
    REQUIRE(r);
    CHECK(r->source == a + ":" + b);
    CHECK(r->context_name == "shared");
    CHECK(r->namespace_name == "from-a");
    CHECK(r->server == "https://a.example.com");
    CHECK(r->insecure_skip_tls_verify);
    CHECK(r->tls_server_name.empty());  // b's shared cluster is not mixed in
    CHECK(r->token == "a-token");
    CHECK(r->username.empty());  // nor b's shared user
  }
  SUBCASE("$KUBECONFIG b:a — the order decides") {
    auto r = load_env(b + ":" + a);
    REQUIRE(r);
    CHECK(r->context_name == "only-b");
    CHECK(r->server == "https://only-b.example.com");
    CHECK(r->token == "b-token");
    CHECK(r->namespace_name == "from-b");
    Overrides o;
    o.cluster = "shared";
    o.user = "shared";
    r = load_env(b + ":" + a, o);
    REQUIRE(r);
    CHECK(r->server == "https://b.example.com");
    CHECK(r->tls_server_name == "b.internal");
    CHECK_FALSE(r->insecure_skip_tls_verify);
    CHECK(r->username == "b-user");
    CHECK(r->token.empty());
  }
  SUBCASE("entries only in the second file are used; a context may name a cluster from another file") {
    auto r = load_env(a + ":" + b, context("only-b"));
    REQUIRE(r);
    CHECK(r->server == "https://only-b.example.com");
    r = load_env(c + ":" + a, context("c-only"));
    REQUIRE(r);
    CHECK(r->server == "https://only-a.example.com");
  }
  SUBCASE("current-context comes from the first file that sets it") {
    auto r = load_env(c + ":" + b + ":" + a);
    REQUIRE(r);
    CHECK(r->context_name == "only-b");
  }
  SUBCASE("missing files and empty entries are skipped; a repeated file is read once") {
    auto r = load_env(fixture("merge/none.yaml") + "::" + a + ":" + b + ":" + a);
    REQUIRE(r);
    CHECK(r->context_name == "shared");
    CHECK(r->source == a + ":" + b);
  }
  SUBCASE("a malformed file in the list is an error, not skipped") {
    auto r = load_env(a + ":" + fixture("malformed.yaml"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "kubeconfig " + fixture("malformed.yaml") + ": line 6, column 4: malformed YAML: end of map not found");
  }
  SUBCASE("errors about the merged configuration name every file") {
    auto r = load_env(a + ":" + b, context("prod"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "kubeconfig " + a + ":" + b + ": context \"prod\" not found (have: only-b, shared)");
  }
  SUBCASE("an entry's relative paths resolve against the file that defined it") {
    const std::string list = fixture("relative/config") + ":" + fixture("relative/nested/config");
    auto r = load_env(list);
    REQUIRE(r);
    CHECK(r->token_file == fixture("relative/token"));
    CHECK(r->ca_pem == "-----BEGIN CERTIFICATE-----\ncmVsYXRpdmUgY2E=\n-----END CERTIFICATE-----\n");
    r = load_env(list, context("nested"));
    REQUIRE(r);
    CHECK(r->token_file == fixture("relative/nested/token"));
    CHECK(r->ca_pem == "-----BEGIN CERTIFICATE-----\nbmVzdGVkIGNh\n-----END CERTIFICATE-----\n");
  }
  SUBCASE("--kubeconfig wins over $KUBECONFIG") {
    Overrides o;
    o.kubeconfig = b;
    auto r = load_env(a, o);
    REQUIRE(r);
    CHECK(r->context_name == "only-b");
    CHECK(r->source == b);
  }
  SUBCASE("~/.kube/config when $KUBECONFIG is unset or empty") {
    Environment env = bare_env();
    env.home = fixture("home");
    auto r = load_rest_config({}, env);
    REQUIRE(r);
    CHECK(r->source == fixture("home/.kube/config"));
    CHECK(r->namespace_name == "from-home");
    env.kubeconfig_env = "";
    r = load_rest_config({}, env);
    REQUIRE(r);
    CHECK(r->context_name == "home");
  }
  SUBCASE("$KUBECONFIG replaces ~/.kube/config") {
    Environment env = bare_env();
    env.home = fixture("home");
    auto r = load_env(a, {}, env);
    REQUIRE(r);
    CHECK(r->source == a);
    Overrides o = context("home");
    r = load_env(a, o, env);
    REQUIRE_FALSE(r);
  }
  SUBCASE("nothing found and not in a cluster") {
    auto r = load_rest_config({}, bare_env());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(r.error().message ==
          "no configuration: no kubeconfig at ~/.kube/config, $KUBECONFIG unset, and not running in a cluster");
    CHECK(r.error().hint == "pass --kubeconfig FILE or set $KUBECONFIG (or -s/--server with --token)");

    Environment home = bare_env();
    home.home = fixture("no-such-home");
    r = load_rest_config({}, home);
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "no configuration: no kubeconfig at ~/.kube/config, $KUBECONFIG unset, and not running in a cluster");

    r = load_env("/nonexistent/a:/nonexistent/b");
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "no configuration: none of the files in $KUBECONFIG exist (/nonexistent/a, /nonexistent/b), and not "
          "running in a cluster");

    Environment half = bare_env();
    half.service_host = "10.96.0.1";
    half.service_port = "443";
    r = load_rest_config({}, half);
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "no configuration: no kubeconfig at ~/.kube/config, $KUBECONFIG unset, and not "
          "running in a cluster ($KUBERNETES_SERVICE_HOST is set but " +
              fixture("no-such-service-account") + "/token is missing)");
  }
  SUBCASE("-s alone is a configuration") {
    Overrides o;
    o.server = "10.0.0.1:6443";
    o.token = "t";
    o.namespace_name = "shop";
    auto r = load_rest_config(o, bare_env());
    REQUIRE(r);
    CHECK(r->source == "command-line flags");
    CHECK(r->server == "https://10.0.0.1:6443");
    CHECK(r->token == "t");
    CHECK(r->namespace_name == "shop");
  }
  SUBCASE("--context with no kubeconfig at all") {
    auto r = load_rest_config(context("dev"), bare_env());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "kubeconfig command-line flags: context \"dev\" not found (have: none)");
  }
}

TEST_CASE("kubeconfig load_rest_config: in-cluster") {
  const std::string sa = fixture("in-cluster");

  SUBCASE("server from the service env, CA, token file and namespace from the service account directory") {
    auto r = load_rest_config({}, in_cluster_env("in-cluster"));
    REQUIRE(r);
    CHECK(r->source == "in-cluster");
    CHECK(r->server == "https://10.96.0.1:443");
    CHECK(r->ca_pem == "-----BEGIN CERTIFICATE-----\naW4tY2x1c3RlciBjYQ==\n-----END CERTIFICATE-----\n");
    CHECK(r->token_file == sa + "/token");
    CHECK(r->token.empty());
    CHECK(r->namespace_name == "kube-system");
    CHECK(r->context_name.empty());
  }
  SUBCASE("an IPv6 service host is bracketed") {
    auto r = load_rest_config({}, in_cluster_env("in-cluster", "fd00:10:96::1"));
    REQUIRE(r);
    CHECK(r->server == "https://[fd00:10:96::1]:443");
  }
  SUBCASE("no namespace file and no ca.crt: default namespace, system CAs") {
    auto r = load_rest_config({}, in_cluster_env("in-cluster-minimal"));
    REQUIRE(r);
    CHECK(r->namespace_name == "default");
    CHECK(r->ca_pem.empty());
  }
  SUBCASE("flags: -n, -s, --token, --as, --insecure-skip-tls-verify") {
    Overrides o;
    o.namespace_name = "shop";
    o.server = "https://kubernetes.default.svc";
    o.token = "flag-token";
    o.impersonate_user = "jane";
    o.insecure_skip_tls_verify = true;
    auto r = load_rest_config(o, in_cluster_env("in-cluster"));
    REQUIRE(r);
    CHECK(r->namespace_name == "shop");
    CHECK(r->server == "https://kubernetes.default.svc");
    CHECK(r->token == "flag-token");
    CHECK(r->token_file.empty());
    CHECK(r->impersonate_user == "jane");
    CHECK(r->insecure_skip_tls_verify);
    CHECK(r->ca_pem.empty());
  }
  SUBCASE("--certificate-authority") {
    Overrides o;
    o.certificate_authority = fixture("certs/ca.crt");
    auto r = load_rest_config(o, in_cluster_env("in-cluster"));
    REQUIRE(r);
    CHECK(r->ca_pem == k_file_ca);
  }
  SUBCASE("a kubeconfig with a current-context wins over in-cluster") {
    Environment env = in_cluster_env("in-cluster");
    env.kubeconfig_env = fixture("full.yaml");
    auto r = load_rest_config({}, env);
    REQUIRE(r);
    CHECK(r->source == fixture("full.yaml"));
  }
  SUBCASE("a kubeconfig that selects no context falls back to in-cluster, as client-go") {
    Environment env = in_cluster_env("in-cluster");
    env.kubeconfig_env = fixture("no-current-context.yaml");
    auto r = load_rest_config({}, env);
    REQUIRE(r);
    CHECK(r->source == "in-cluster");
    // ... unless a context is asked for.
    r = load_rest_config(context("dev"), env);
    REQUIRE(r);
    CHECK(r->source == fixture("no-current-context.yaml"));
  }
  SUBCASE("not in a cluster without KUBERNETES_SERVICE_PORT") {
    Environment env = in_cluster_env("in-cluster");
    env.service_port.reset();
    auto r = load_rest_config({}, env);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.rfind("no configuration: ", 0) == 0);
  }
}

TEST_CASE("kubeconfig list_contexts") {
  SUBCASE("sorted names from one file") {
    Overrides o;
    o.kubeconfig = fixture("full.yaml");
    auto r = list_contexts(o, bare_env());
    REQUIRE(r);
    CHECK(*r == std::vector<std::string>{"anonymous", "dev", "files", "no-cluster", "plain", "staging"});
  }
  SUBCASE("the union over $KUBECONFIG") {
    Environment env = bare_env();
    env.kubeconfig_env = fixture("merge/a.yaml") + ":" + fixture("merge/b.yaml") + ":" + fixture("merge/c.yaml");
    auto r = list_contexts({}, env);
    REQUIRE(r);
    CHECK(*r == std::vector<std::string>{"c-only", "only-b", "shared"});
  }
  SUBCASE("no kubeconfig: an empty list") {
    auto r = list_contexts({}, bare_env());
    REQUIRE(r);
    CHECK(r->empty());
  }
  SUBCASE("file errors as load_rest_config") {
    Overrides o;
    o.kubeconfig = fixture("no-such-file.yaml");
    auto r = list_contexts(o, bare_env());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "kubeconfig " + fixture("no-such-file.yaml") + ": no such file");
    o.kubeconfig = fixture("malformed.yaml");
    r = list_contexts(o, bare_env());
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "kubeconfig " + fixture("malformed.yaml") + ": line 6, column 4: malformed YAML: end of map not found");
  }
}
