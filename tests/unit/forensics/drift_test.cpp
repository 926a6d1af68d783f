#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "forensics/drift.hpp"
#include "support/forensics_builders.hpp"

using namespace ir::forensics;
using namespace ir::testing;

namespace {

// The suspect compared with `members` (all same-workload, all collected).
DriftResult drift(const PodSnapshot& suspect, const std::vector<PodSnapshot>& members, const DriftOptions& options = {},
                  const AddressNames& member_names = {}) {
  std::vector<std::pair<Member, const PodSnapshot*>> m;
  for (const auto& p : members) m.emplace_back(member_of(p), &p);
  return compare(suspect, profile_of_members(suspect, m, member_names), options);
}

std::set<std::pair<std::string, std::string>> rules_and_keys(const DriftResult& r) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& f : r.findings) {
    const auto& s = f.subject;
    std::string key = s.contains("path")     ? s["path"].get<std::string>()
                      : s.contains("remote") ? s["remote"].get<std::string>()
                      : s.contains("exe")    ? s["exe"].get<std::string>()
                                             : s.dump();
    out.emplace(f.rule, key);
  }
  return out;
}

std::string dump_findings(const DriftResult& r) {
  std::string out;
  for (const auto& f : r.findings) out += f.rule + ": " + f.summary + "\n";
  return out;
}

bool has_gap(const std::vector<std::string>& gaps, const std::string& part) {
  return std::any_of(gaps.begin(), gaps.end(), [&](const std::string& g) { return g.find(part) != std::string::npos; });
}

PodSnapshot pod_a() {
  return healthy_pod("web-7d4b9c8f6-aaaaa", "10.244.0.10", 0);
}
PodSnapshot pod_b() {
  return healthy_pod("web-7d4b9c8f6-bbbbb", "10.244.0.11", 1);
}
PodSnapshot pod_c() {
  return healthy_pod("web-7d4b9c8f6-ccccc", "10.244.0.12", 2);
}

ContainerSnapshot& web(PodSnapshot& p) {
  return p.containers[0];
}

}  // namespace

// ---- the demo ----------------------------------------------------------------------------------

TEST_CASE("compare: demo — each healthy replica against the other two gives zero findings") {
  const auto x = demo_pod(k_demo_compromised);
  const auto a = demo_pod(k_demo_healthy_1);
  const auto b = demo_pod(k_demo_healthy_2);
  const auto ra = drift(a, {b, x});
  CHECK_MESSAGE(ra.findings.empty(), dump_findings(ra));
  CHECK(ra.gaps.empty());
  const auto rb = drift(b, {a});
  CHECK_MESSAGE(rb.findings.empty(), dump_findings(rb));
}

TEST_CASE("compare: demo — the compromised replica against the two healthy ones gives exactly the planted items") {
  const auto r = drift(demo_pod(k_demo_compromised), {demo_pod(k_demo_healthy_1), demo_pod(k_demo_healthy_2)});
  const std::set<std::pair<std::string, std::string>> expected = {
      {"drift.process.exe", "/tmp/.x/kworkerds"},  // the miner (exe path; its hash is in the subject)
      {"drift.connection", "198.51.100.7:3333"},   // its pool
      {"drift.file.added", "/tmp/.x/kworkerds"},   // what the dropper left
      {"drift.file.added", "/tmp/.x/payload.sh"},
      {"drift.file.added", "/tmp/.x/config.json"},
      {"drift.file.added", "/var/spool/cron/crontabs/root"},  // its persistence
      {"drift.file.added", "/var/www/upload.php"},            // the webshell it came through
      {"drift.file.size", "/docker-entrypoint.sh"},           // the entrypoint rewritten to start the miner
  };
  CHECK_MESSAGE(rules_and_keys(r) == expected, dump_findings(r));
  CHECK(r.gaps.empty());
  for (const auto& f : r.findings) {
    CHECK(f.seen_in->count == 0);
    CHECK(f.seen_in->of == 2);
    CHECK(f.judged_against == Relation::same_workload);
    CHECK(f.container == "web");
  }
  const auto miner = std::find_if(r.findings.begin(), r.findings.end(),
                                  [](const Finding& f) { return f.rule == "drift.process.exe"; });
  REQUIRE(miner != r.findings.end());
  CHECK(miner->subject["pid"] == 3);
  CHECK(miner->subject["sha256"] == "f03232f5b1e809608c30ae4e08c690bab5bf8112a66dee9a731cb41b7108dd22");
  CHECK(miner->severity == Severity::high);
  CHECK(miner->summary == "pid 3 /tmp/.x/kworkerds (root) runs an executable that runs in 0 of 2 siblings");
  const auto pool =
      std::find_if(r.findings.begin(), r.findings.end(), [](const Finding& f) { return f.rule == "drift.connection"; });
  REQUIRE(pool != r.findings.end());
  CHECK(pool->subject["pid"] == 3);
  CHECK(pool->summary == "pid 3 /tmp/.x/kworkerds → 198.51.100.7:3333, ESTABLISHED; in 0 of 2 siblings");
}

// ---- an ordinary Deployment ----------------------------------------------------------------------

TEST_CASE(
    "compare: an ordinary Deployment's healthy replicas agree (pids, ports, clients, tokens, logs, names differ)") {
  const auto r = drift(pod_a(), {pod_b(), pod_c()});
  CHECK_MESSAGE(r.findings.empty(), dump_findings(r));
  CHECK(r.gaps.empty());
}

// ---- noise rules -------------------------------------------------------------------------------

TEST_CASE("noise rule 1: pids and start times are not compared") {
  auto s = pod_a();
  for (auto& p : web(s).processes) {
    p.pid += 1000;
    p.start_time = 999999;
  }
  for (auto& k : web(s).sockets) {
    for (auto& pid : k.pids) pid += 1000;
  }
  CHECK(drift(s, {pod_b()}).findings.empty());
}

TEST_CASE("noise rule 2: ephemeral source ports and the pod's clients are not compared; a new remote is") {
  auto s = pod_a();
  web(s).sockets.push_back(
      make_socket("tcp", "10.244.0.10", 59999, "10.96.20.5", 5432, "ESTABLISHED", 901, {7}));  // same remote
  web(s).sockets.push_back(
      make_socket("tcp", "10.244.0.10", 8080, "192.0.2.77", 61000, "ESTABLISHED", 902, {7}));  // a client
  CHECK(drift(s, {pod_b()}).findings.empty());
  web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 59998, "203.0.113.5", 443, "SYN_SENT", 903, {7}));
  CHECK(rules_and_keys(drift(s, {pod_b()})) ==
        std::set<std::pair<std::string, std::string>>{{"drift.connection", "203.0.113.5:443"}});
}

TEST_CASE("noise rule 3: /proc, /sys and /dev are not compared, /dev/shm is") {
  auto s = pod_a();
  web(s).files.push_back(make_file("/proc/1/status", 'f', 0, 0444));
  web(s).files.push_back(make_file("/sys/fs/cgroup/x", 'f', 0, 0644));
  web(s).files.push_back(make_file("/dev/termination-log", 'f', 12, 0644));
  sort_snapshot(s);
  CHECK(drift(s, {pod_b()}).findings.empty());
  web(s).files.push_back(make_file("/dev/shm/.x", 'f', 100, 0755));
  sort_snapshot(s);
  CHECK(rules_and_keys(drift(s, {pod_b()})) ==
        std::set<std::pair<std::string, std::string>>{{"drift.file.added", "/dev/shm/.x"}});
}

TEST_CASE("noise rule 4: service-account and projected volume plumbing is not compared") {
  auto s = pod_a();
  web(s).files.push_back(
      make_file("/var/run/secrets/kubernetes.io/serviceaccount/..2026_12_06_01_02_03.999", 'd', 100, 0755));
  web(s).files.push_back(make_file("/run/secrets/kubernetes.io/serviceaccount/namespace", 'f', 4, 0644));
  web(s).files.push_back(make_file("/etc/config/..2026_12_06_01_02_03.999/app.yaml", 'f', 40, 0644));
  web(s).files.push_back(make_file("/etc/config/..data", 'l', 31, 0777, "", "..2026_12_06_01_02_03.999"));
  sort_snapshot(s);
  CHECK(drift(s, {pod_b()}).findings.empty());
}

TEST_CASE("noise rule 5: pod-specific names and IPs") {
  auto s = pod_a();
  auto m = pod_b();
  SUBCASE("/etc/hostname, /etc/hosts and /etc/resolv.conf are not compared") {
    for (auto& f : web(s).files) {
      if (f.path == "/etc/hostname" || f.path == "/etc/hosts") f.size += 50;
    }
    web(s).files.push_back(make_file("/etc/resolv.conf", 'f', 99, 0644));
    sort_snapshot(s);
    CHECK(drift(s, {m}).findings.empty());
  }
  SUBCASE("files named after the pod, or its IP, match the siblings' own") {
    web(s).files.push_back(make_file("/var/run/app/web-7d4b9c8f6-aaaaa.pid", 'f', 5, 0644));
    web(m).files.push_back(make_file("/var/run/app/web-7d4b9c8f6-bbbbb.pid", 'f', 5, 0644));
    web(s).files.push_back(make_file("/srv/data/10.244.0.10/state", 'f', 5, 0644));
    web(m).files.push_back(make_file("/srv/data/10.244.0.11/state", 'f', 5, 0644));
    sort_snapshot(s);
    sort_snapshot(m);
    CHECK(drift(s, {m}).findings.empty());
    // A file named after another pod is not the suspect's own: reported.
    web(s).files.push_back(make_file("/var/run/app/web-7d4b9c8f6-zzzzz.pid", 'f', 5, 0644));
    sort_snapshot(s);
    CHECK(rules_and_keys(drift(s, {m})) ==
          std::set<std::pair<std::string, std::string>>{{"drift.file.added", "/var/run/app/web-7d4b9c8f6-zzzzz.pid"}});
  }
  SUBCASE("listening on, and talking to, the pod's own IP") {
    web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 9090, "0.0.0.0", 0, "LISTEN", 910, {7}));
    web(m).sockets.push_back(make_socket("tcp", "10.244.0.11", 9090, "0.0.0.0", 0, "LISTEN", 911, {7}));
    web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 51111, "10.244.0.10", 9091, "ESTABLISHED", 912, {7}));
    web(m).sockets.push_back(make_socket("tcp", "10.244.0.11", 52222, "10.244.0.11", 9091, "ESTABLISHED", 913, {7}));
    CHECK(drift(s, {m}).findings.empty());
  }
}

TEST_CASE("noise rule 6: logs and caches may grow, appear and change; a new executable there may not") {
  auto s = pod_a();
  for (auto& f : web(s).files) {
    if (f.path == "/var/log/app/access.log") f.size = 99999999;
  }
  web(s).files.push_back(make_file("/var/log/app/access.log.1", 'f', 5000, 0644));
  web(s).files.push_back(make_file("/srv/app/logs/today.txt", 'f', 10, 0644));
  web(s).files.push_back(make_file("/root/.cache/pip/x", 'f', 10, 0644));
  web(s).files.push_back(make_file("/srv/app/debug.log", 'f', 10, 0644));
  sort_snapshot(s);
  CHECK(drift(s, {pod_b()}).findings.empty());
  web(s).files.push_back(make_file("/var/log/app/.k", 'f', 772424, 0755, sha_of('e')));
  sort_snapshot(s);
  const auto r = drift(s, {pod_b()});
  CHECK(rules_and_keys(r) == std::set<std::pair<std::string, std::string>>{{"drift.file.added", "/var/log/app/.k"}});
  CHECK(r.findings[0].severity == Severity::high);
}

TEST_CASE("noise rule 7: TIME_WAIT and CLOSE sockets are left out") {
  auto s = pod_a();
  web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 40001, "203.0.113.8", 443, "TIME_WAIT", 0, {}));
  web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 40002, "203.0.113.8", 443, "CLOSE", 0, {}));
  CHECK(drift(s, {pod_b()}).findings.empty());
}

TEST_CASE("noise rule 8: kubectl-ir's own processes are left out") {
  auto s = pod_a();
  auto walk = make_process(90, "/bin/busybox", "sh", {"sh", "-c", "B=..."}, 0);
  walk.ppid = 0;
  walk.collector = true;
  web(s).processes.push_back(walk);
  sort_snapshot(s);
  CHECK(drift(s, {pod_b()}).findings.empty());
  web(s).processes.back().collector = false;  // the same process, not ours: a new executable
  CHECK(rules_and_keys(drift(s, {pod_b()})) ==
        std::set<std::pair<std::string, std::string>>{{"drift.process.exe", "/bin/busybox"}});
}

TEST_CASE("noise rule 9: a new directory is said by what is below it; an empty one is reported itself") {
  auto s = pod_a();
  web(s).files.push_back(make_file("/tmp/.x", 'd', 4096, 0755));
  web(s).files.push_back(make_file("/tmp/.x/a", 'd', 4096, 0755));
  web(s).files.push_back(make_file("/tmp/.x/a/payload", 'f', 10, 0644));
  web(s).files.push_back(make_file("/tmp/.y", 'd', 4096, 0700));
  sort_snapshot(s);
  const auto r = drift(s, {pod_b()});
  CHECK(rules_and_keys(r) == std::set<std::pair<std::string, std::string>>{{"drift.file.added", "/tmp/.x/a/payload"},
                                                                           {"drift.file.added", "/tmp/.y"}});
  for (const auto& f : r.findings) {
    if (f.subject["path"] == "/tmp/.y") CHECK(f.severity == Severity::low);
  }
}

TEST_CASE("noise rule 10: --ignore globs drop files, executables, listeners and connections by key") {
  auto s = pod_a();
  web(s).files.push_back(make_file("/srv/plugins/a.so", 'f', 10, 0755));
  web(s).processes.push_back(make_process(50, "/opt/agent/bin/agent", "agent", {"/opt/agent/bin/agent"}));
  web(s).sockets.push_back(make_socket("tcp", "0.0.0.0", 9100, "0.0.0.0", 0, "LISTEN", 920, {50}));
  web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 40003, "10.96.7.7", 4317, "ESTABLISHED", 921, {50}));
  sort_snapshot(s);
  CHECK(drift(s, {pod_b()}).findings.size() == 4);
  DriftOptions o;
  o.ignore = {"/srv/plugins/*", "/opt/agent/*", "tcp:9100", "10.96.*:4317"};
  const auto r = drift(s, {pod_b()}, o);
  CHECK_MESSAGE(r.findings.empty(), dump_findings(r));
  SUBCASE("a named connection by its name") {
    DriftOptions n;
    n.addresses["10.96.7.7"] = {"service monitoring/otel-collector", ""};
    n.ignore = {"/srv/plugins/*", "/opt/agent/*", "tcp:9100", "service monitoring/*:4317"};
    CHECK(drift(s, {pod_b()}, n).findings.empty());
  }
}

// ---- the kinds ---------------------------------------------------------------------------------

TEST_CASE("compare: processes — new executable, one from the image, a replaced binary, root where siblings are not") {
  auto s = pod_a();
  SUBCASE("a new executable (high), with every pid that runs it") {
    web(s).processes.push_back(make_process(60, "/usr/bin/xmr", "xmr", {"xmr"}, 1000, sha_of('9')));
    web(s).processes.push_back(make_process(61, "/usr/bin/xmr", "xmr", {"xmr"}, 1000, sha_of('9')));
    const auto r = drift(s, {pod_b(), pod_c()});
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].rule == "drift.process.exe");
    CHECK(r.findings[0].severity == Severity::high);
    CHECK(r.findings[0].subject["pids"] == nlohmann::json::array({60, 61}));
    CHECK(r.findings[0].summary == "pid 60 /usr/bin/xmr (+1 more) runs an executable that runs in 0 of 2 siblings");
  }
  SUBCASE("a program of the image that runs in no sibling (low)") {
    web(s).processes.push_back(make_process(60, "/bin/dash", "dash", {"dash"}, 1000, sha_of('1')));
    auto m = pod_b();
    web(m).processes.erase(web(m).processes.begin());  // the sibling's entrypoint shell has exited
    auto mine = s;
    web(mine).processes.erase(web(mine).processes.begin());
    const auto r = drift(mine, {m});
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].severity == Severity::low);
    CHECK(r.findings[0].summary.find("it is in their image in 1 of 1 sibling") != std::string::npos);
  }
  SUBCASE("the same path with another SHA-256 (critical)") {
    for (auto& p : web(s).processes) {
      if (p.exe == "/usr/local/bin/app") p.exe_sha256 = sha_of('f');
    }
    const auto r = drift(s, {pod_b(), pod_c()});
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].rule == "drift.process.hash");
    CHECK(r.findings[0].severity == Severity::critical);
    CHECK(r.findings[0].seen_in->count == 0);
    CHECK(r.findings[0].seen_in->of == 2);
  }
  SUBCASE("uid 0 where the siblings run it as another user") {
    for (auto& p : web(s).processes) {
      if (p.exe == "/usr/local/bin/app") p.uid = 0;
    }
    const auto r = drift(s, {pod_b(), pod_c()});
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].kind == FindingKind::root_process);
    CHECK(r.findings[0].rule == "drift.root_process");
    CHECK(r.findings[0].subject["uid"] == 0);
  }
}

TEST_CASE("compare: listening ports — high on all addresses, medium on loopback") {
  auto s = pod_a();
  web(s).sockets.push_back(make_socket("tcp", "0.0.0.0", 4444, "0.0.0.0", 0, "LISTEN", 930, {7}));
  web(s).sockets.push_back(make_socket("tcp6", "::", 4444, "::", 0, "LISTEN", 931, {7}));  // the same port, once
  web(s).sockets.push_back(make_socket("tcp", "127.0.0.1", 6060, "0.0.0.0", 0, "LISTEN", 932, {7}));
  const auto r = drift(s, {pod_b()});
  REQUIRE(r.findings.size() == 2);
  CHECK(r.findings[0].kind == FindingKind::listening_port);
  CHECK(r.findings[0].severity == Severity::high);
  CHECK(r.findings[0].summary == "pid 7 /usr/local/bin/app listens on tcp 0.0.0.0:4444; in 0 of 1 sibling");
  CHECK(r.findings[1].severity == Severity::medium);
}

TEST_CASE("compare: files — added, modified, size, mode, target, type") {
  auto s = pod_a();
  auto& files = web(s).files;
  auto set = [&](const std::string& path, auto change) {
    for (auto& f : files) {
      if (f.path == path) change(f);
    }
  };
  struct Case {
    const char* what;
    std::function<void()> change;
    std::string rule;
    Severity severity;
  };
  const std::vector<Case> cases = {
      {"added setuid", [&] { files.push_back(make_file("/usr/bin/su2", 'f', 10, 04755)); }, "drift.file.added",
       Severity::critical},
      {"added executable", [&] { files.push_back(make_file("/usr/bin/nc", 'f', 10, 0755)); }, "drift.file.added",
       Severity::high},
      {"added plain", [&] { files.push_back(make_file("/var/www/upload.php", 'f', 10, 0644)); }, "drift.file.added",
       Severity::medium},
      {"modified (hashes differ)", [&] { set("/bin/dash", [](auto& f) { f.sha256 = sha_of('8'); }); },
       "drift.file.modified", Severity::high},
      {"size (not hashed)", [&] { set("/etc/passwd", [](auto& f) { f.size = 950; }); }, "drift.file.size",
       Severity::low},
      {"mode: setuid gained", [&] { set("/bin/dash", [](auto& f) { f.mode = 04755; }); }, "drift.file.mode",
       Severity::critical},
      {"mode: execute bit", [&] { set("/etc/passwd", [](auto& f) { f.mode = 0755; }); }, "drift.file.mode",
       Severity::medium},
      {"target", [&] { set("/bin/sh", [](auto& f) { f.target = "/tmp/sh"; }); }, "drift.file.target", Severity::medium},
      {"type",
       [&] {
         set("/etc/passwd", [](auto& f) {
           f.type = 'l';
           f.target = "/tmp/p";
         });
       },
       "drift.file.type", Severity::medium},
  };
  for (const auto& c : cases) {
    SUBCASE(c.what) {
      c.change();
      sort_snapshot(s);
      const auto r = drift(s, {pod_b(), pod_c()});
      REQUIRE_MESSAGE(r.findings.size() == 1, dump_findings(r));
      CHECK(r.findings[0].kind == FindingKind::file);
      CHECK(r.findings[0].rule == c.rule);
      CHECK(r.findings[0].severity == c.severity);
      CHECK(r.findings[0].artifact == "containers/web/filesystem/listing.jsonl");
      CHECK(r.findings[0].record.contains("line"));
    }
  }
}

TEST_CASE("compare: a file not hashed on one side but of the same size counts as the same") {
  auto s = pod_a();
  for (auto& f : web(s).files) {
    if (f.path == "/entrypoint.sh") f.sha256 = sha_of('7');  // hashed here only
  }
  CHECK(drift(s, {pod_b()}).findings.empty());
}

// ---- quorum, members, relations ------------------------------------------------------------------

TEST_CASE("compare: quorum") {
  auto s = pod_a();
  auto b = pod_b();
  web(s).files.push_back(make_file("/opt/extra", 'f', 10, 0644));
  web(b).files.push_back(make_file("/opt/extra", 'f', 10, 0644));
  sort_snapshot(s);
  sort_snapshot(b);
  SUBCASE("1 (default): shared by one member is not a finding") {
    CHECK(drift(s, {b, pod_c()}).findings.empty());
  }
  SUBCASE("2: shared by fewer than two members is") {
    DriftOptions o;
    o.quorum = 2;
    const auto r = drift(s, {b, pod_c()}, o);
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].seen_in->count == 1);
    CHECK(r.findings[0].seen_in->of == 2);
  }
  SUBCASE("more than the members: lowered, and said") {
    DriftOptions o;
    o.quorum = 5;
    const auto r = drift(s, {b, pod_c()}, o);
    REQUIRE(r.findings.size() == 1);  // judged with quorum 2
    CHECK(r.findings[0].seen_in->count == 1);
    CHECK(has_gap(r.gaps,
                  "quorum 5 lowered to 2 for the file listing of container web: only 2 siblings could be compared"));
  }
}

TEST_CASE("compare: a failed member is listed, never counted as agreeing") {
  auto s = pod_a();
  web(s).files.push_back(make_file("/opt/extra", 'f', 10, 0644));
  sort_snapshot(s);
  auto failed = member_of(pod_c());
  failed.reason = "exec failed: container not running";
  const auto profile = profile_of_members(s, {{member_of(pod_b()), nullptr}, {failed, nullptr}});
  CHECK(profile.ok_members() == 0);
  const auto d = drift_document(s, profile, {}, "2026-12-05T10:00:00Z");
  CHECK(d.findings.empty());
  CHECK(has_gap(d.gaps, "drift not judged: no member could be compared"));
  REQUIRE(d.baseline->members.size() == 2);
  CHECK(d.baseline->members[1].status == MemberStatus::failed);
  CHECK(d.baseline->members[1].reason == "exec failed: container not running");

  const auto b = pod_b();
  const auto p2 = profile_of_members(s, {{member_of(b), &b}, {failed, nullptr}});
  const auto r = compare(s, p2, {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].seen_in->of == 1);
}

TEST_CASE("compare: a member of which nothing could be read counts as failed") {
  auto empty = pod_b();
  for (auto& a : web(empty).availabilities) a.coverage = Coverage::missing;
  ProfileBuilder builder;
  builder.add(member_of(empty), empty);
  const auto profile = std::move(builder).finish();
  REQUIRE(profile.members.size() == 1);
  CHECK(profile.members[0].status == MemberStatus::failed);
  CHECK(profile.members[0].reason == "nothing could be read from it");
}

TEST_CASE("drift_document: no members at all says plainly that drift could not be judged") {
  const auto d = drift_document(pod_a(), ProfileBuilder{}.finish(), {}, "2026-12-05T10:00:00Z");
  CHECK(d.baseline->source == BaselineSource::none);
  CHECK(d.findings.empty());
  CHECK(has_gap(d.gaps, "drift not judged: no sibling or baseline to compare with (see the indicators)"));
}

TEST_CASE("compare: same-digest members, matched by image when the container's name differs") {
  auto s = pod_a();
  web(s).files.push_back(make_file("/opt/extra", 'f', 10, 0644));
  sort_snapshot(s);
  auto other = pod_b();
  web(other).name = "cache";
  const auto profile = profile_of_members(s, {{member_of(other, Relation::same_digest), &other}});
  CHECK(profile.relation() == Relation::same_digest);
  const auto r = compare(s, profile, {});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].judged_against == Relation::same_digest);
}

TEST_CASE("compare: a container no member has is not compared, and said") {
  auto s = pod_a();
  web(s).name = "other";
  web(s).digest = "sha256:" + sha_of('0');
  const auto r = drift(s, {pod_b()});
  CHECK(r.findings.empty());
  CHECK(has_gap(r.gaps, "container other: not compared"));
}

TEST_CASE("compare: categories the suspect or every member lacks are not compared, and said") {
  auto s = pod_a();
  web(s).availability(Category::sockets).coverage = Coverage::missing;
  auto m = pod_b();
  web(m).availability(Category::listing).coverage = Coverage::missing;
  const auto r = drift(s, {m});
  CHECK(has_gap(r.gaps, "sockets of container web: not compared: not collected from the suspect"));
  CHECK(has_gap(r.gaps, "file listing of container web: not compared: no sibling had them"));
}

TEST_CASE("compare: hostNetwork pods' sockets are not compared") {
  auto s = pod_a();
  s.host_network = true;
  web(s).sockets.push_back(make_socket("tcp", "0.0.0.0", 22, "0.0.0.0", 0, "LISTEN", 940, {}));
  const auto r = drift(s, {pod_b()});
  CHECK(r.findings.empty());
  CHECK(has_gap(r.gaps, "hostNetwork"));
}

TEST_CASE("compare: cluster addresses — named in findings, matched by group") {
  auto s = pod_a();
  auto m = pod_b();
  web(s).sockets.push_back(make_socket("tcp", "10.244.0.10", 40010, "10.244.3.7", 6379, "ESTABLISHED", 950, {7}));
  web(m).sockets.push_back(make_socket("tcp", "10.244.0.11", 40011, "10.244.3.8", 6379, "ESTABLISHED", 951, {7}));
  AddressNames names = {{"10.244.3.7", {"pod shop/redis-1", "statefulset shop/redis"}},
                        {"10.244.3.8", {"pod shop/redis-0", "statefulset shop/redis"}}};
  DriftOptions o;
  o.addresses = names;
  CHECK(drift(s, {m}, o, names).findings.empty());
  SUBCASE("without a group, another pod is another address") {
    AddressNames plain = {{"10.244.3.7", {"pod shop/redis-1", ""}}, {"10.244.3.8", {"pod shop/redis-0", ""}}};
    DriftOptions p;
    p.addresses = plain;
    const auto r = drift(s, {m}, p, plain);
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].subject["name"] == "pod shop/redis-1");
    CHECK(r.findings[0].summary.find("10.244.3.7:6379 (pod shop/redis-1)") != std::string::npos);
  }
}

TEST_CASE("ProfileBuilder: 20 members of one workload fold into one member's worth of items") {
  auto s = pod_a();
  std::vector<PodSnapshot> members;
  for (int i = 0; i < 20; ++i)
    members.push_back(healthy_pod("web-7d4b9c8f6-m" + std::to_string(1000 + i), "10.244.1." + std::to_string(i), i));
  ProfileBuilder b;
  b.seed(s);
  for (const auto& m : members) b.add(member_of(m), m);
  const auto profile = std::move(b).finish();
  REQUIRE(profile.containers.size() == 1);
  const auto& pc = profile.containers[0];
  CHECK(pc.members[static_cast<std::size_t>(Category::listing)] == 20);
  CHECK(pc.executables.size() == 2);
  CHECK(pc.listening.size() == 1);
  CHECK(pc.connections.size() == 2);  // the database and DNS, whatever the local ports
  for (const auto& [path, variants] : pc.files) {
    CAPTURE(path);
    if (path != "/var/log/app/access.log") CHECK(variants.size() == 1);  // logs grow differently
  }
  CHECK(compare(s, profile, {}).findings.empty());
}

TEST_CASE("compare: a copy of a program the siblings run, under another path, says so") {
  auto s = pod_a();
  web(s).processes.push_back(make_process(70, "/tmp/sh", "sh", {"/tmp/sh"}, 1000, sha_of('1')));  // /bin/dash's content
  sort_snapshot(s);
  const auto r = drift(s, {pod_b()});
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].summary ==
        "pid 70 /tmp/sh runs an executable that runs in 0 of 1 sibling (a copy of /bin/dash, which they run)");
  CHECK(r.findings[0].severity == Severity::high);
}

TEST_CASE("compare: a socket every container sees is reported once, under the container holding it") {
  auto s = pod_a();
  auto m = pod_b();
  ContainerSnapshot side = web(s);
  side.name = "sidecar";
  side.dir = "containers/sidecar/";
  side.processes = {make_process(1, "/usr/bin/envoy", "envoy", {"envoy"}, 1000, sha_of('3'))};
  side.files.clear();
  ContainerSnapshot side_m = side;
  side_m.sockets = web(m).sockets;
  m.containers.push_back(side_m);
  const auto conn = make_socket("tcp", "10.244.0.10", 40100, "203.0.113.50", 443, "ESTABLISHED", 960, {});
  web(s).sockets.push_back(conn);  // the app container sees it, holds nothing
  side.sockets.push_back(conn);
  side.sockets.back().pids = {1};  // the sidecar holds it
  s.containers.push_back(side);
  const auto r = drift(s, {m});
  REQUIRE_MESSAGE(r.findings.size() == 1, dump_findings(r));
  CHECK(r.findings[0].container == "sidecar");
  CHECK(r.findings[0].subject["exe"] == "/usr/bin/envoy");
}
