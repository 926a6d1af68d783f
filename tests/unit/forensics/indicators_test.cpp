#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "forensics/indicators.hpp"
#include "support/forensics_builders.hpp"
#include "util/files.hpp"

using namespace ir::forensics;
using namespace ir::testing;

namespace {

std::vector<Finding> of_rule(const Evaluation& ev, const std::string& rule) {
  std::vector<Finding> out;
  for (const auto& f : ev.findings) {
    if (f.rule == rule) out.push_back(f);
  }
  return out;
}

std::multiset<std::string> rules_of(const Evaluation& ev) {
  std::multiset<std::string> out;
  for (const auto& f : ev.findings) out.insert(f.rule);
  return out;
}

// The healthy pod with one more process (sorted in).
PodSnapshot with_process(Process p) {
  PodSnapshot pod = healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10");
  pod.containers[0].processes.push_back(std::move(p));
  sort_snapshot(pod);
  return pod;
}

bool has_gap(const Evaluation& ev, const std::string& part) {
  return std::any_of(ev.gaps.begin(), ev.gaps.end(),
                     [&](const std::string& g) { return g.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("indicator_rules: one table, unique ids, every rule documented in lib/forensics/README.md") {
  auto readme = ir::util::read_file(std::string(IR_TESTDATA_DIR) + "/../../lib/forensics/README.md");
  REQUIRE(readme);
  std::set<std::string> ids;
  for (const auto& r : indicator_rules()) {
    CHECK(ids.insert(r.id).second);
    CHECK(std::string(r.description).size() > 10);
    CHECK(readme->find(std::string("`") + r.id + "`") != std::string::npos);
  }
  CHECK(ids.size() == 11);
  for (const auto port : mining_pool_ports()) CHECK(readme->find(std::to_string(port)) != std::string::npos);
}

TEST_CASE("evaluate: a healthy pod gives no finding") {
  const auto ev = evaluate(healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10"), {});
  CHECK(ev.findings.empty());
  CHECK(ev.gaps.empty());
}

TEST_CASE("evaluate: exe-memfd") {
  SUBCASE("positive") {
    const auto ev = evaluate(with_process(make_process(40, "/memfd:x (deleted)", "x", {"x"})), {});
    const auto f = of_rule(ev, "exe-memfd");
    REQUIRE(f.size() == 1);
    CHECK(f[0].severity == Severity::critical);
    CHECK(f[0].subject["pid"] == 40);
    CHECK(f[0].artifact == "containers/web/processes/processes.json");
    CHECK(f[0].record["exe"] == "/memfd:x (deleted)");
    CHECK(of_rule(ev, "exe-deleted").empty());  // said once, as the stronger rule
  }
  SUBCASE("negative: a program with memfd in its name") {
    CHECK(of_rule(evaluate(with_process(make_process(40, "/usr/bin/memfd-tool", "memfd-tool", {"memfd-tool"})), {}),
                  "exe-memfd")
              .empty());
  }
}

TEST_CASE("evaluate: exe-deleted") {
  CHECK(of_rule(evaluate(with_process(make_process(40, "/usr/local/bin/agent (deleted)", "agent", {"agent"})), {}),
                "exe-deleted")
            .size() == 1);
  CHECK(of_rule(evaluate(with_process(make_process(40, "/usr/local/bin/agent", "agent", {"agent"})), {}), "exe-deleted")
            .empty());
}

TEST_CASE("evaluate: exe-in-tmp") {
  for (const std::string exe : {"/tmp/.x/kworkerds", "/var/tmp/a", "/dev/shm/b"}) {
    CAPTURE(exe);
    const auto f = of_rule(evaluate(with_process(make_process(40, exe, "a", {exe})), {}), "exe-in-tmp");
    REQUIRE(f.size() == 1);
    CHECK(f[0].severity == Severity::high);
    CHECK(f[0].summary.find("runs from") != std::string::npos);
  }
  for (const std::string exe : {"/tmpfs/a", "/usr/bin/tmp", "/opt/var/tmp/a"}) {
    CAPTURE(exe);
    CHECK(of_rule(evaluate(with_process(make_process(40, exe, "a", {exe})), {}), "exe-in-tmp").empty());
  }
}

TEST_CASE("evaluate: kernel-thread-name") {
  SUBCASE("positive: comm or first argument named like a kernel thread, with an executable") {
    for (const auto& [comm, argv0] : std::vector<std::pair<std::string, std::string>>{
             {"kworker/0:1", "/usr/bin/xm"}, {"xm", "[kthreadd]"}, {"ksoftirqd/0", "ksoftirqd/0"}}) {
      CAPTURE(comm);
      const auto f =
          of_rule(evaluate(with_process(make_process(40, "/usr/bin/xm", comm, {argv0})), {}), "kernel-thread-name");
      CHECK(f.size() == 1);
    }
  }
  SUBCASE("negative: ordinary names, and a real kernel thread (no exe) seen through hostPID") {
    CHECK(of_rule(evaluate(with_process(make_process(40, "/usr/bin/kubelet", "kubelet", {"kubelet"})), {}),
                  "kernel-thread-name")
              .empty());
    CHECK(of_rule(evaluate(with_process(make_process(40, "", "kworker/0:1", {})), {}), "kernel-thread-name").empty());
  }
}

TEST_CASE("evaluate: miner-cmdline") {
  for (const auto& argv : std::vector<std::vector<std::string>>{{"/opt/x", "-o", "stratum+tcp://pool.example:3333"},
                                                                {"/opt/x", "-a", "rx/0"},
                                                                {"/opt/x", "--donate-level", "1"}}) {
    CAPTURE(argv[1]);
    CHECK(of_rule(evaluate(with_process(make_process(40, "/opt/x", "x", argv)), {}), "miner-cmdline").size() == 1);
  }
  CHECK(
      of_rule(evaluate(with_process(make_process(40, "/opt/x", "x", {"/opt/x", "--level", "1", "--pool-size=4"})), {}),
              "miner-cmdline")
          .empty());
}

TEST_CASE("evaluate: comm-mismatch and its legitimate cases") {
  SUBCASE("positive: a program renamed") {
    const auto f =
        of_rule(evaluate(with_process(make_process(40, "/usr/local/bin/app", "nginx", {"/usr/local/bin/app"})), {}),
                "comm-mismatch");
    REQUIRE(f.size() == 1);
    CHECK(f[0].summary == "pid 40 /usr/local/bin/app calls itself nginx");
  }
  SUBCASE("positive: a busybox process whose name is none of its applet's") {
    CHECK(
        of_rule(evaluate(with_process(make_process(40, "/bin/busybox", "sshd", {"httpd", "-f"})), {}), "comm-mismatch")
            .size() == 1);
  }
  SUBCASE("negative") {
    struct Case {
      const char* what;
      Process p;
    };
    const std::vector<Case> cases = {
        {"python3 app.py through a symlink", make_process(40, "/usr/bin/python3.11", "python3", {"python3", "app.py"})},
        {"a shebang script (comm is the script)",
         make_process(40, "/usr/bin/python3.11", "run.py", {"/usr/bin/python3", "/app/run.py"})},
        {"a busybox applet", make_process(40, "/bin/busybox", "httpd", {"httpd", "-f", "-p", "8080"})},
        {"comm cut to 15 bytes",
         make_process(40, "/usr/bin/very-long-program-name", "very-long-progr", {"very-long-program-name"})},
        {"sh -c", make_process(40, "/bin/dash", "sh", {"sh", "-c", "sleep 1"})},
        {"a title set by the program (node)", make_process(40, "/usr/local/bin/node", "npm start", {"npm start"})},
        {"a renamed argv with the comm kept (postgres)",
         make_process(40, "/usr/lib/postgresql/15/bin/postgres", "postgres", {"postgres: checkpointer"})},
        {"no exe known", make_process(40, "", "anything", {"x"})},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      CHECK(of_rule(evaluate(with_process(c.p), {}), "comm-mismatch").empty());
    }
  }
}

TEST_CASE("evaluate: shell-socket-stdio (reverse shell)") {
  auto pod = with_process(make_process(40, "/bin/bash", "bash", {"bash", "-i"}));
  auto& c = pod.containers[0];
  c.sockets.push_back(make_socket("tcp", "10.244.0.10", 51000, "203.0.113.9", 9001, "ESTABLISHED", 900, {40}));
  SUBCASE("positive: stdin is a connection") {
    for (auto& p : c.processes) {
      if (p.pid == 40) p.sockets = {{0, 900}, {1, 900}};
    }
    const auto f = of_rule(evaluate(pod, {}), "shell-socket-stdio");
    REQUIRE(f.size() == 1);
    CHECK(f[0].severity == Severity::critical);
    CHECK(f[0].subject["remote"] == "203.0.113.9:9001");
    CHECK(f[0].summary == "pid 40 /bin/bash has its stdin connected to 203.0.113.9:9001");
  }
  SUBCASE("negative: the socket is not on fd 0-2") {
    for (auto& p : c.processes) {
      if (p.pid == 40) p.sockets = {{5, 900}};
    }
    CHECK(of_rule(evaluate(pod, {}), "shell-socket-stdio").empty());
  }
  SUBCASE("negative: not a shell (a server writing to its connection)") {
    for (auto& p : c.processes) {
      if (p.pid == 40) {
        p.exe = "/usr/local/bin/app";
        p.comm = "app";
        p.argv = {"app"};
        p.sockets = {{1, 900}};
      }
    }
    CHECK(of_rule(evaluate(pod, {}), "shell-socket-stdio").empty());
  }
}

TEST_CASE("evaluate: mining-pool-port") {
  auto pod = healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10");
  auto& c = pod.containers[0];
  SUBCASE("positive: an outbound connection to 3333, named when the caller knows the address") {
    c.sockets.push_back(make_socket("tcp", "10.244.0.10", 43844, "198.51.100.7", 3333, "ESTABLISHED", 700, {7}));
    IndicatorContext ctx;
    ctx.addresses["198.51.100.7"] = {"service shop/pool", ""};
    const auto f = of_rule(evaluate(pod, ctx), "mining-pool-port");
    REQUIRE(f.size() == 1);
    CHECK(f[0].kind == FindingKind::connection);
    CHECK(f[0].subject["remote"] == "198.51.100.7:3333");
    CHECK(f[0].subject["name"] == "service shop/pool");
    CHECK(f[0].subject["pid"] == 7);
    CHECK(f[0].summary ==
          "pid 7 /usr/local/bin/app → 198.51.100.7:3333 (service shop/pool), a mining pool port (ESTABLISHED)");
    CHECK(f[0].artifact == "containers/web/network/sockets.json");
  }
  SUBCASE("negative: other ports, and a client whose source port is 3333 connecting to the pod") {
    c.sockets.push_back(make_socket("tcp", "10.244.0.10", 8080, "10.244.3.3", 3333, "ESTABLISHED", 701, {7}));
    c.sockets.push_back(make_socket("tcp", "10.244.0.10", 43845, "198.51.100.7", 443, "ESTABLISHED", 702, {7}));
    CHECK(of_rule(evaluate(pod, {}), "mining-pool-port").empty());
  }
}

TEST_CASE("evaluate: ld-preload-env") {
  auto p = make_process(40, "/usr/local/bin/app2", "app2", {"app2"});
  SUBCASE("positive") {
    p.ld_preload = Preload::set;
    p.ld_preload_value = "/tmp/libhide.so";
    const auto f = of_rule(evaluate(with_process(p), {}), "ld-preload-env");
    REQUIRE(f.size() == 1);
    CHECK(f[0].kind == FindingKind::environment);
    CHECK(f[0].subject["ld_preload"] == "/tmp/libhide.so");
  }
  SUBCASE("negative: unset") {
    CHECK(of_rule(evaluate(with_process(p), {}), "ld-preload-env").empty());
  }
  SUBCASE("not read by the collector: a gap, not a clean bill") {
    auto pod = with_process(p);
    for (auto& q : pod.containers[0].processes) q.ld_preload = Preload::not_read;
    const auto ev = evaluate(pod, {});
    CHECK(of_rule(ev, "ld-preload-env").empty());
    CHECK(has_gap(ev, "ld-preload-env: not judged"));
  }
}

TEST_CASE("evaluate: ld-so-preload") {
  auto pod = healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10");
  SUBCASE("positive") {
    pod.containers[0].files.push_back(make_file("/etc/ld.so.preload", 'f', 22, 0644));
    sort_snapshot(pod);
    const auto f = of_rule(evaluate(pod, {}), "ld-so-preload");
    REQUIRE(f.size() == 1);
    CHECK(f[0].kind == FindingKind::config);
    CHECK(f[0].subject["path"] == "/etc/ld.so.preload");
    CHECK(f[0].artifact == "containers/web/filesystem/listing.jsonl");
  }
  SUBCASE("negative") {
    CHECK(of_rule(evaluate(pod, {}), "ld-so-preload").empty());
  }
  SUBCASE("no listing: a gap") {
    pod.containers[0].availability(Category::listing).coverage = Coverage::missing;
    CHECK(has_gap(evaluate(pod, {}), "ld-so-preload: not judged for container web"));
  }
}

TEST_CASE("evaluate: undeclared-listen") {
  auto pod = healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10");
  auto& c = pod.containers[0];
  SUBCASE("positive: medium on all addresses, low on loopback") {
    c.sockets.push_back(make_socket("tcp", "0.0.0.0", 4444, "0.0.0.0", 0, "LISTEN", 800, {7}));
    c.sockets.push_back(make_socket("tcp6", "::1", 9000, "::", 0, "LISTEN", 801, {}));
    c.sockets.push_back(make_socket("udp", "0.0.0.0", 5353, "0.0.0.0", 0, "UNCONN", 802, {}));
    const auto f = of_rule(evaluate(pod, {}), "undeclared-listen");
    REQUIRE(f.size() == 3);
    CHECK(f[0].severity == Severity::medium);
    CHECK(f[0].summary == "pid 7 /usr/local/bin/app listens on tcp 0.0.0.0:4444, not declared in the pod spec");
    CHECK(f[1].severity == Severity::low);
    CHECK(f[1].subject["port"] == 9000);
    CHECK(f[2].subject["proto"] == "udp");
  }
  SUBCASE("negative: declared ports (also given by the caller), and UDP client sockets") {
    c.sockets.push_back(make_socket("udp", "0.0.0.0", 40000, "0.0.0.0", 0, "UNCONN", 803, {}));
    c.sockets.push_back(make_socket("tcp", "0.0.0.0", 9090, "0.0.0.0", 0, "LISTEN", 804, {}));
    IndicatorContext ctx;
    ctx.declared_ports = std::vector<DeclaredPort>{{"TCP", 8080}, {"TCP", 9090}};
    CHECK(of_rule(evaluate(pod, ctx), "undeclared-listen").empty());
  }
  SUBCASE("ports unknown, or hostNetwork: not judged, with a gap") {
    pod.declared_ports.reset();
    CHECK(has_gap(evaluate(pod, {}), "undeclared-listen: not judged: the pod's declared ports are unknown"));
    pod.host_network = true;
    CHECK(has_gap(evaluate(pod, {}), "hostNetwork"));
  }
}

TEST_CASE("evaluate: kubectl-ir's own processes are never judged") {
  auto p = make_process(40, "/tmp/sh", "weird", {"sh", "-c", "B=..."});
  p.collector = true;
  CHECK(evaluate(with_process(p), {}).findings.empty());
}

TEST_CASE("evaluate: a socket every container sees is reported once, under the container holding it") {
  auto pod = healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10");
  ContainerSnapshot sidecar = pod.containers[0];
  sidecar.name = "sidecar";
  sidecar.dir = "containers/sidecar/";
  sidecar.processes = {make_process(1, "/tmp/m", "m", {"/tmp/m"})};
  pod.containers[0].sockets.push_back(
      make_socket("tcp", "10.244.0.10", 43844, "198.51.100.7", 3333, "ESTABLISHED", 700, {}));
  sidecar.sockets.push_back(make_socket("tcp", "10.244.0.10", 43844, "198.51.100.7", 3333, "ESTABLISHED", 700, {1}));
  pod.containers.push_back(sidecar);
  const auto f = of_rule(evaluate(pod, {}), "mining-pool-port");
  REQUIRE(f.size() == 1);
  CHECK(f[0].container == "sidecar");
  CHECK(f[0].subject["exe"] == "/tmp/m");
}

TEST_CASE("evaluate: the demo — the compromised replica's miner, nothing else; the healthy replicas, nothing") {
  const auto ev = evaluate(demo_pod(k_demo_compromised), {});
  CHECK(rules_of(ev) ==
        std::multiset<std::string>{"exe-in-tmp", "kernel-thread-name", "miner-cmdline", "mining-pool-port"});
  for (const auto& f : ev.findings) {
    CHECK(f.subject["pid"] == 3);
    CHECK(f.container == "web");
  }
  const auto pool = of_rule(ev, "mining-pool-port");
  REQUIRE(pool.size() == 1);
  CHECK(pool[0].subject["remote"] == "198.51.100.7:3333");
  for (const char* healthy : {k_demo_healthy_1, k_demo_healthy_2}) {
    CAPTURE(healthy);
    CHECK(evaluate(demo_pod(healthy), {}).findings.empty());
  }
}

TEST_CASE("indicators_document: rules, findings sorted and numbered, snapshot gaps") {
  auto pod = demo_pod(k_demo_compromised);
  pod.containers[0].gaps.push_back("file hashes of container web: partial (test)");
  const auto d = indicators_document(pod, {}, "2026-12-05T10:00:00Z");
  CHECK(d.kind == DocumentKind::indicators);
  CHECK(d.rules.size() == indicator_rules().size());
  REQUIRE(d.findings.size() == 4);
  CHECK(d.findings[0].id == "F1");
  CHECK(d.findings[0].kind == FindingKind::connection);  // all high: then by kind
  CHECK(d.findings[3].id == "F4");
  CHECK(std::find(d.gaps.begin(), d.gaps.end(), "file hashes of container web: partial (test)") != d.gaps.end());
  const auto lines = summary_lines(d.findings);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "pid 3 /tmp/.x/kworkerds → 198.51.100.7:3333 (high: mining-pool-port, kernel-thread-name, miner-cmdline, "
        "exe-in-tmp)");
}
