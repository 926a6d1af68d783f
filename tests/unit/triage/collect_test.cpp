#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <regex>
#include <set>

#include "evidence/bundle.hpp"
#include "support/bytes.hpp"
#include "support/fake_pod_api.hpp"
#include "support/proc_samples.hpp"
#include "support/samples.hpp"
#include "support/temp_dir.hpp"
#include "triage/collect.hpp"
#include "util/cancel.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

using namespace ir;
using namespace ir::testing;
using nlohmann::json;

namespace {

const std::string k_pod_path = "/api/v1/namespaces/ir-demo/pods/bb";
const std::string k_tcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0\n"
    "   1: 0E00F40A:D746 07640033:0D05 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0 20 4 30 10 -1\n";

// The boundary of a /proc walk script (32 hex digits in its first marker).
std::string boundary_of(const std::string& script) {
  std::smatch m;
  REQUIRE(std::regex_search(script, m, std::regex("[0-9a-f]{32}")));
  return m.str();
}

// A busybox-like container: busybox ps (no -e), sh, cat, find without -printf, tar.
ExecReply busybox(const ExecCall& c) {
  const auto& a = c.argv;
  if (a[0] == "ps") {
    if (a.size() > 1 && a[1] == "-eww") return ExecReply::failure("ps: unrecognized option: e\n", 1);
    return ExecReply::output("PID   PPID  USER     GROUP    STAT VSZ  RSS  COMMAND          COMMAND\n"
            "    1     0 root     root     S    2268 1604 sh               /bin/sh /entry.sh\n"
            "    3     1 root     root     S    1000  604 kworkerds        /tmp/.x/kworkerds -o 198.51.100.7:3333\n");
  }
  if (a[0] == "sh") {
    WalkOut w;
    w.b = boundary_of(a.at(2));
    w.begin(" 1 3").proc("1", "sh").proc("3", "kworkerds", "/tmp/.x/kworkerds\0-o\0198.51.100.7:3333\0"s, "4 socket:[1002]\n").end("2");
    return ExecReply::output(w.s);
  }
  if (a[0] == "cat" && a[1] == "/proc/net/tcp") return ExecReply::output(k_tcp);
  if (a[0] == "cat" && a[1].rfind("/proc/net/", 0) == 0) return ExecReply::output("  sl  local_address\n");
  if (a[0] == "cat" && a[1].rfind("/proc/", 0) == 0) return ExecReply::output("\x7f" "ELF binary bytes");
  if (a[0] == "find") return ExecReply::failure("find: unrecognized: -printf\n", 1);
  if (a[0] == "tar") return ExecReply::output(std::string(1024, '\0'));
  return ExecReply::missing();
}

ExecReply shell_less(const ExecCall&) { return ExecReply::missing(); }

struct Fixture {
  RoutedTransport transport;
  FakeCredentials credentials{false};
  util::FakeClock clock;
  kube::Client client{test_config(), transport, credentials, clock};
  ExecConnector connector;
  TempDir dir;
  std::unique_ptr<evidence::BundleWriter> bundle;
  std::vector<std::pair<std::string, json>> journal;
  std::vector<std::string> progress;
  util::CancelToken cancel;
  json pod;

  std::optional<std::size_t> api_calls_before_exec;  // REST requests made before the first exec

  explicit Fixture(ExecConnector::Handler handler, const std::string& pod_sample = "pod-busybox.json")
      : connector([this, handler](const ExecCall& c) {
          if (!api_calls_before_exec) api_calls_before_exec = transport.requests.size();
          return handler(c);
        }),
        pod(json::parse(sample(pod_sample))) {
    auto b = evidence::create_bundle(dir.file("b.tar.gz"), clock);
    REQUIRE(b);
    bundle = std::move(*b);
    const std::string ns = pod["metadata"]["namespace"];
    const std::string name = pod["metadata"]["name"];
    const std::string base = "/api/v1/namespaces/" + ns;
    transport.json("GET " + base + "/pods/" + name, pod.dump());
    transport.json("GET /api/v1/nodes/vm", sample("node.json"));
    transport.json("GET " + base + "/events", sample("events-for-pod.json"));
    transport.json("GET /apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies", R"({"items":[]})");
    transport.routes["GET " + base + "/pods/" + name + "/log"] = [](const kube::HttpRequest& r) {
      kube::HttpResponse resp;
      if (r.url.find("previous=true") != std::string::npos) {
        resp.status = 400;
        resp.body = sample("status-400-log-previous.json");
      } else {
        resp.status = 200;
        resp.body = sample("pod-log.txt");
      }
      return resp;
    };
  }

  // An ephemeral debug container starts when asked: the PATCH of the pod's ephemeralcontainers
  // is kept in `debug_patch`, and from then on the pod shows the container running.
  json debug_patch;
  void start_debug_containers() {
    const std::string path = "/api/v1/namespaces/" + pod["metadata"]["namespace"].get<std::string>() + "/pods/" +
                             pod["metadata"]["name"].get<std::string>();
    transport.routes["PATCH " + path + "/ephemeralcontainers"] = [this](const kube::HttpRequest& req) {
      debug_patch = json::parse(req.body);
      return ok(pod);
    };
    transport.routes["GET " + path] = [this](const kube::HttpRequest&) {
      json p = pod;
      if (!debug_patch.is_null()) {
        p["status"]["ephemeralContainerStatuses"] = json::array(
            {{{"name", debug_container()}, {"state", {{"running", {{"startedAt", "2026-11-21T16:12:40Z"}}}}}}});
      }
      return ok(p);
    };
  }
  // The debug container's name once patched ("" before).
  [[nodiscard]] std::string debug_container() const {
    return debug_patch.is_null() ? "" : debug_patch["spec"]["ephemeralContainers"][0]["name"].get<std::string>();
  }

  static kube::HttpResponse ok(const json& body) {
    kube::HttpResponse resp;
    resp.status = 200;
    resp.body = body.dump();
    return resp;
  }

  Result<triage::CollectReport> run(triage::CollectOptions o = {}) {
    o.namespace_name = pod["metadata"]["namespace"];
    o.pod = pod["metadata"]["name"];
    o.ephemeral_start_timeout = std::chrono::seconds(2);
    triage::CollectEnv env{client, connector, *bundle, clock,
                           [this](const std::string& a, const json& f) { journal.emplace_back(a, f); },
                           [this](const std::string& l) { progress.push_back(l); }, &cancel};
    return triage::collect(env, o, pod);
  }

  // Finishes the bundle and checks it verifies; returns its entry names.
  std::set<std::string> finish_and_verify() {
    std::set<std::string> names;
    for (const auto& a : bundle->artifacts()) names.insert(a.path);
    REQUIRE(bundle->finish());
    auto v = evidence::verify_bundle(dir.file("b.tar.gz"));
    REQUIRE(v);
    CHECK(v->ok());
    return names;
  }

  [[nodiscard]] const evidence::Artifact* artifact(const std::string& path) const {
    for (const auto& a : bundle->artifacts()) {
      if (a.path == path) return &a;
    }
    return nullptr;
  }

};

const triage::StepRecord* find_step(const triage::CollectReport& r, const std::string& name) {
  for (const auto& s : r.steps) {
    if (s.step == name) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("collect: API state first, then processes, network and filesystem; the bundle verifies") {
  Fixture f(busybox);
  auto r = f.run();
  REQUIRE(r);
  INFO(triage::collect_details({}, *r));

  // Order of volatility: every API read of evidence comes before the first exec; after it, only the
  // analysis names the addresses the sockets talk to (Services, pods by IP).
  REQUIRE(f.api_calls_before_exec);
  const auto calls = f.transport.calls();
  REQUIRE(*f.api_calls_before_exec <= calls.size());
  for (std::size_t i = *f.api_calls_before_exec; i < calls.size(); ++i) {
    const auto ends = [&](std::string_view tail) {
      return calls[i].size() >= tail.size() && calls[i].compare(calls[i].size() - tail.size(), tail.size(), tail) == 0;
    };
    const bool naming = calls[i].rfind("GET ", 0) == 0 && (ends("/services") || ends("/pods"));  // pods?fieldSelector=status.podIP
    CHECK_MESSAGE(naming, calls[i]);
  }
  for (const auto& expected : {"GET /api/v1/nodes/vm", "GET /api/v1/namespaces/ir-demo/events",
                               "GET /apis/networking.k8s.io/v1/namespaces/ir-demo/networkpolicies",
                               "GET /api/v1/namespaces/ir-demo/pods/bb/log"}) {
    CHECK_MESSAGE(std::find(calls.begin(), calls.end(), expected) != calls.end(), expected);
  }
  REQUIRE(!f.connector.calls.empty());
  CHECK(f.connector.calls.front().argv.at(0) == "ps");

  const auto names = f.finish_and_verify();
  for (const char* expected :
       {"pod/pod.json", "pod/images.json", "node/node.json", "pod/events.json", "pod/networkpolicies.json", "logs/main.log",
        "containers/main/processes/ps.txt", "containers/main/processes/ps.json", "containers/main/processes/proc-walk.txt",
        "containers/main/processes/proc-walk.sh", "containers/main/processes/processes.json",
        "containers/main/network/proc-net-tcp.txt", "containers/main/network/sockets.json",
        "containers/main/filesystem/hashes.json"}) {
    CHECK_MESSAGE(names.count(expected) == 1, expected);
  }
  // A failed ps attempt (procps options on busybox) leaves no entry; the busybox one is kept.
  const auto* ps = f.artifact("containers/main/processes/ps.txt");
  REQUIRE(ps);
  CHECK(ps->meta.source.find("ps -o pid,ppid") != std::string::npos);
  CHECK(ps->meta.exit_status == 0);
  CHECK(ps->meta.method == evidence::Method::exec);
  // No previous log: not an entry, not a failure.
  CHECK(names.count("logs/main.previous.log") == 0);
  CHECK(find_step(*r, "logs")->status == util::Outcome::ok);
  CHECK(r->pod_uid == f.pod["metadata"]["uid"]);
  CHECK(r->image_ids["main"].get<std::string>().find("@sha256:") != std::string::npos);
}

TEST_CASE("collect: sockets are decoded and linked to the processes holding them") {
  Fixture f(busybox);
  auto r = f.run();
  REQUIRE(r);
  const auto* net = find_step(*r, "network");
  REQUIRE(net);
  CHECK(net->status == util::Outcome::ok);
  INFO(net->detail);
  CHECK(net->detail.find("2 sockets, 1 established") != std::string::npos);
}

TEST_CASE("collect: only read-only commands run in the container") {
  Fixture f(busybox);
  REQUIRE(f.run());
  const std::set<std::string> allowed{"ps", "sh", "cat", "find", "tar", "ss", "netstat"};
  for (const auto& c : f.connector.calls) {
    INFO(c.argv.at(0));
    CHECK(allowed.count(c.argv.at(0)) == 1);
    if (c.argv[0] == "sh") {
      // the only script is the /proc walk, kept in the bundle
      CHECK(c.argv.at(1) == "-c");
      CHECK(c.argv.at(2).find("/proc") != std::string::npos);
    }
    if (c.argv[0] == "tar") CHECK(c.argv.at(1) == "-c");
  }
  // and nothing is written through the API either: reads, and the permission reviews of the
  // preflight (a review is answered, never stored)
  for (const auto& call : f.transport.calls()) {
    CHECK((call.rfind("GET ", 0) == 0 || call.rfind("POST /apis/authorization.k8s.io/v1/selfsubject", 0) == 0));
  }
}

TEST_CASE("collect: a shell-less container without --ephemeral says what was not collected and how") {
  Fixture f(shell_less, "pod-noshell.json");
  auto r = f.run();
  REQUIRE(r);
  CHECK(r->partial());
  REQUIRE(r->not_collected.size() == 1);
  CHECK(r->not_collected[0].find("no shell") != std::string::npos);
  CHECK(r->not_collected[0].find("--ephemeral") != std::string::npos);
  CHECK(r->ephemeral_containers.empty());
  for (const auto& call : f.transport.calls()) CHECK(call.rfind("PATCH", 0) != 0);
  f.finish_and_verify();
}

TEST_CASE("collect: with --ephemeral a debug container targets the shell-less one and reads it through /proc/1/root") {
  Fixture f([&](const ExecCall& c) { return c.container == "app" ? shell_less(c) : busybox(c); }, "pod-noshell.json");
  f.start_debug_containers();
  // The target's user (its container's) and group (the pod's): the debug container takes both, or
  // it could not read /proc/<pid>/root and exe of the target's processes.
  f.pod["spec"]["securityContext"] = {{"runAsUser", 7}, {"runAsGroup", 3000}};
  for (auto& c : f.pod["spec"]["containers"]) c["securityContext"] = {{"runAsUser", 1000}};
  triage::CollectOptions o;
  o.ephemeral = true;
  o.debug_image = "busybox:1.36";
  auto r = f.run(o);
  REQUIRE(r);
  REQUIRE(r->ephemeral_containers.size() == 1);
  const std::string debug = f.debug_container();
  CHECK(r->ephemeral_containers[0] == debug);
  const json c = f.debug_patch["spec"]["ephemeralContainers"][0];
  CHECK(c["targetContainerName"] == "app");
  CHECK(c["image"] == "busybox:1.36");
  CHECK(c["securityContext"]["runAsUser"] == 1000);
  CHECK(c["securityContext"]["runAsGroup"] == 3000);
  CHECK(c["command"][0] == "sleep");
  // journaled: an ephemeral container can never be removed
  CHECK(std::any_of(f.journal.begin(), f.journal.end(), [](const auto& j) { return j.first == "collect.ephemeral"; }));
  // everything after the detection ran in the debug container
  bool saw_debug = false;
  for (const auto& call : f.connector.calls) {
    if (call.container != debug) continue;
    saw_debug = true;
    if (call.argv[0] == "find") CHECK(call.argv.at(1) == "/proc/1/root/");
  }
  CHECK(saw_debug);
  const auto* walk = f.artifact("containers/app/processes/proc-walk.txt");
  REQUIRE(walk);
  CHECK(walk->meta.method == evidence::Method::ephemeral);
  CHECK(walk->meta.source.find("(target app)") != std::string::npos);
  f.finish_and_verify();
}

TEST_CASE("collect: a failing API read is one failed step; the rest is collected and the result is partial") {
  Fixture f(busybox);
  f.transport.json("GET /api/v1/nodes/vm", sample("status-403-forbidden.json"), 403);
  auto r = f.run();
  REQUIRE(r);
  const auto* node = find_step(*r, "node");
  REQUIRE(node);
  CHECK(node->status == util::Outcome::failed);
  CHECK(node->detail.find("forbidden") != std::string::npos);
  CHECK(r->partial());
  CHECK(find_step(*r, "processes")->status == util::Outcome::ok);
  CHECK(std::any_of(f.journal.begin(), f.journal.end(),
                    [](const auto& j) { return j.first == "collect.step" && j.second["step"] == "node"; }));
  f.finish_and_verify();
}

TEST_CASE("collect: logs are bounded by max_log_bytes on our side too") {
  Fixture f(busybox);
  const std::string big(5000, 'x');
  f.transport.routes["GET " + k_pod_path + "/log"] = [&](const kube::HttpRequest& r) {
    kube::HttpResponse resp;
    resp.status = r.url.find("previous=true") != std::string::npos ? 400 : 200;
    resp.body = resp.status == 200 ? big : sample("status-400-log-previous.json");  // ignores limitBytes
    return resp;
  };
  triage::CollectOptions o;
  o.max_log_bytes = 1000;
  auto r = f.run(o);
  REQUIRE(r);
  const auto* log = f.artifact("logs/main.log");
  REQUIRE(log);
  CHECK(log->size == 1000);
  CHECK(log->meta.truncated);
  CHECK(log->meta.note.find("--max-log-bytes") != std::string::npos);
  f.finish_and_verify();
}

TEST_CASE("collect: Ctrl-C stops before the next command and leaves a valid bundle") {
  Fixture f([&](const ExecCall& c) {
    if (c.argv[0] == "sh") f.cancel.cancel();  // pressed during the walk
    return busybox(c);
  });
  auto r = f.run();
  REQUIRE(r);
  CHECK(r->cancelled);
  CHECK(r->partial());
  for (const auto& c : f.connector.calls) CHECK(c.argv[0] != "find");
  f.finish_and_verify();
}

TEST_CASE("collect: a container the pod does not have is a usage error naming the ones it has") {
  Fixture f(busybox);
  triage::CollectOptions o;
  o.containers = {"sidecar"};
  auto r = f.run(o);
  REQUIRE(!r);
  CHECK(r.error().code == Errc::usage);
  CHECK(r.error().message.find("have: main") != std::string::npos);
}

TEST_CASE("collect: the acquisition log escapes what came from the cluster") {
  triage::CollectReport r;
  r.pod_uid = "uid-1";
  r.node = "node\x1b[2J";
  r.image_ids = {{"app\n", "repo@sha256:abc"}};
  r.steps.push_back({.container = "app", .step = "processes", .status = util::Outcome::failed,
                     .method = evidence::Method::exec, .detail = "exit 1: \x1b]0;pwned\x07"});
  evidence::Acquirer info;
  info.examiner = "alice";
  triage::CollectOptions o;
  o.namespace_name = "shop";
  o.pod = "web";
  evidence::SealInput in;
  in.result = r.outcome();
  in.subjects = {triage::subject_of(r, o.namespace_name, o.pod)};
  in.details = triage::collect_details(o, r);
  const auto log = evidence::acquisition_log("case-1", info, in, util::TimePoint{});
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(log.find('\x07') == std::string::npos);
  CHECK(log.find("node\\x1b[2J") != std::string::npos);
  CHECK(log.find("examiner:         alice") != std::string::npos);
  CHECK(log.find("result:           partial") != std::string::npos);
}

TEST_CASE("collect: --fs archive keeps the container's tar stream as bounded parts, in order") {
  const std::string stream = random_bytes(20ULL << 20, 3);  // 2.5 parts of 8 MiB
  Fixture f([&](const ExecCall& c) {
    if (c.argv[0] == "find" && c.argv.size() > 3 && c.argv[2] == "-maxdepth") return ExecReply::failure("", 1);
    if (c.argv[0] == "find") {  // busybox dialect: one file under /tmp
      const auto& fmt = c.argv.at(c.argv.size() - 3);
      const std::string b = fmt.substr(1, 32);
      return ExecReply::output("\n" + b + " e 81a4 0 0 20971520 1779294449\n/tmp/a\n" + b + " l\n/tmp/a\n");
    }
    if (c.argv[0] == "tar") return ExecReply::output(stream);
    return busybox(c);
  });
  triage::CollectOptions o;
  o.fs = triage::FsMode::archive;
  auto r = f.run(o);
  REQUIRE(r);
  const std::string base = "containers/main/filesystem/archive-001.tar.";
  std::vector<const evidence::Artifact*> parts;
  for (const auto& a : f.bundle->artifacts()) {
    if (a.path.rfind(base, 0) == 0) parts.push_back(&a);
  }
  REQUIRE(parts.size() == 3);
  CHECK(parts[0]->path == base + "000");
  CHECK(parts[0]->size == 8ULL << 20);
  CHECK(parts[1]->size == 8ULL << 20);
  CHECK(parts[2]->size == 4ULL << 20);
  CHECK(parts[0]->sha256 == util::sha256_hex(std::string_view(stream).substr(0, 8ULL << 20)));
  CHECK(parts[2]->sha256 == util::sha256_hex(std::string_view(stream).substr(16ULL << 20)));
  CHECK_FALSE(parts[0]->meta.exit_status.has_value());
  CHECK(parts[0]->meta.note.find("concatenate") != std::string::npos);
  CHECK(parts[2]->meta.exit_status == 0);
  CHECK(parts[2]->meta.method == evidence::Method::exec);
  f.finish_and_verify();
}

namespace {

// A ustar stream of `files` (name -> content), as a container's tar would write it.
std::string make_tar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out(1 << 20, '\0');
  std::size_t used = 0;
  struct archive* a = archive_write_new();
  archive_write_set_format_ustar(a);
  archive_write_set_bytes_per_block(a, 0);
  REQUIRE(archive_write_open_memory(a, out.data(), out.size(), &used) == ARCHIVE_OK);
  for (const auto& [name, content] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, content.data(), content.size()) == static_cast<la_ssize_t>(content.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

// One entry of a finished bundle.
struct EntryCollectorOf {
  std::string data;
  EntryCollectorOf(const std::string& bundle, const std::string& name) {
    evidence::EntryCollector keep({name}, 64 << 20);
    REQUIRE(evidence::verify_bundle(bundle, &keep));
    REQUIRE(keep.find(name) != nullptr);
    data = keep.find(name)->data;
  }
};

// A SelfSubjectRulesReview that grants `rules`, and SelfSubjectAccessReviews that refuse.
void answer_reviews(Fixture& f, const json& rules) {
  f.transport.json("POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                   json{{"kind", "SelfSubjectRulesReview"},
                        {"status", {{"resourceRules", rules}, {"nonResourceRules", json::array()}, {"incomplete", false}}}}
                       .dump());
  f.transport.json("POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                   R"({"kind":"SelfSubjectAccessReview","status":{"allowed":false}})");
  f.transport.json("GET /version", R"({"major":"1","minor":"32","gitVersion":"v1.32.4"})");
}

}  // namespace

TEST_CASE("collect: nothing the RBAC preflight finds refused is attempted, and each refusal is said") {
  Fixture f(busybox);
  answer_reviews(f, json::array({{{"verbs", {"get", "list"}}, {"apiGroups", {""}}, {"resources", {"pods", "pods/log", "events"}}}}));
  auto r = f.run();
  REQUIRE(r);
  CHECK(f.connector.calls.empty());  // no exec at all
  for (const auto& call : f.transport.calls()) {
    CHECK(call.find("/nodes/") == std::string::npos);
    CHECK(call.find("networkpolicies") == std::string::npos);
  }
  CHECK(r->outcome() == util::Outcome::partial);
  const auto said = [&](const std::string& what) {
    return std::any_of(r->not_collected.begin(), r->not_collected.end(),
                       [&](const std::string& n) { return n.find(what) != std::string::npos; });
  };
  CHECK(said("processes, network and filesystem of container main: forbidden: kubectl-ir may not create pods/exec in namespace ir-demo"));
  CHECK(said("the node: forbidden: kubectl-ir may not get nodes at cluster scope"));
  CHECK(said("the network policies: forbidden"));
  CHECK(find_step(*r, "node")->detail.rfind("not attempted: forbidden", 0) == 0);
  CHECK(find_step(*r, "logs")->status == util::Outcome::ok);
  const auto names = f.finish_and_verify();
  CHECK(std::none_of(names.begin(), names.end(), [](const std::string& n) { return n.rfind("containers/", 0) == 0; }));
  CHECK(std::any_of(f.journal.begin(), f.journal.end(), [](const auto& j) { return j.first == "collect.preflight"; }));
}

TEST_CASE("collect: exec is asked as `get pods/exec` of servers before 1.30") {
  Fixture f(busybox);
  answer_reviews(f, json::array({{{"verbs", {"get", "list"}}, {"apiGroups", {"", "networking.k8s.io"}},
                                  {"resources", {"pods", "pods/log", "pods/exec", "events", "networkpolicies"}}}}));
  f.transport.json("GET /version", R"({"major":"1","minor":"26","gitVersion":"v1.26.4"})");
  auto r = f.run();
  REQUIRE(r);
  CHECK_FALSE(f.connector.calls.empty());  // allowed: get pods/exec is what 1.26 authorises
  CHECK(find_step(*r, "processes")->status == util::Outcome::ok);
}

TEST_CASE("collect: the notable lines name the connection and the process that holds it") {
  Fixture f(busybox);
  auto r = f.run();
  REQUIRE(r);
  INFO(util::join(r->notable, "\n"));
  REQUIRE_FALSE(r->notable.empty());
  // The indicators' findings first (one line per process, with what it talks to), then the raw evidence.
  CHECK(r->notable.front().find("pid 3 ") == 0);
  CHECK(r->notable.front().find("51.0.100.7:3333 (high: mining-pool-port") != std::string::npos);
  CHECK(std::any_of(r->notable.begin(), r->notable.end(),
                    [](const std::string& n) { return n.find("-> 51.0.100.7:3333 (tcp)") != std::string::npos; }));
  CHECK(std::any_of(r->notable.begin(), r->notable.end(),
                    [](const std::string& n) { return n.find("listens on tcp 0.0.0.0:8080") != std::string::npos; }));
}

TEST_CASE("collect: a notable line shows a hostile name escaped once") {
  Fixture f([](const ExecCall& c) {
    if (c.argv[0] != "sh") return busybox(c);
    WalkOut w;
    w.b = boundary_of(c.argv.at(2));
    w.begin(" 1 3").proc("1", "sh").proc("3", "red", "red\0"s, "", "/tmp/\x1b[31mred").end("2");
    return ExecReply::output(w.s);
  });
  auto r = f.run();
  REQUIRE(r);
  INFO(util::join(r->notable, "\n"));
  CHECK(std::any_of(r->notable.begin(), r->notable.end(),
                    [](const std::string& n) { return n == "pid 3 runs /tmp/\\x1b[31mred"; }));
}

TEST_CASE("collect: an empty sockets document is never made from tables that could not be read") {
  Fixture f([](const ExecCall& c) {
    if (c.argv[0] == "cat" && c.argv[1].rfind("/proc/net/", 0) == 0) return ExecReply::failure("cat: permission denied\n", 1);
    return busybox(c);
  });
  auto r = f.run();
  REQUIRE(r);
  const auto* net = find_step(*r, "network");
  REQUIRE(net);
  CHECK(net->status == util::Outcome::failed);
  CHECK(f.artifact("containers/main/network/sockets.json") == nullptr);
  CHECK(r->outcome() == util::Outcome::partial);
}

TEST_CASE("collect: a file name that is not UTF-8 is rebuilt inside the container, hashed and kept") {
  const std::string name = "/tmp/\xff\xfe-drop";
  std::string script;
  Fixture f([&](const ExecCall& c) {
    if (c.argv[0] == "find" && c.argv.size() > 3 && c.argv[2] == "-maxdepth") return ExecReply::failure("", 1);
    if (c.argv[0] == "find") {  // busybox dialect: one file under /tmp, named with invalid UTF-8
      const auto& fmt = c.argv.at(c.argv.size() - 3);
      const std::string b = fmt.substr(1, 32);
      return ExecReply::output("\n" + b + " e 81a4 0 0 5 1779294449\n" + name + "\n" + b + " l\n" + name + "\n");
    }
    if (c.argv[0] == "sh" && c.argv.at(2).find("exec tar") != std::string::npos) {
      script = c.argv[2];
      return ExecReply::output(make_tar({{name.substr(1), "hello"}}));
    }
    if (c.argv[0] == "tar") FAIL("the name went into argv");
    return busybox(c);
  });
  auto r = f.run();
  REQUIRE(r);
  // The script is ASCII: the name's bytes are octal escapes printf turns back into bytes.
  CHECK(util::is_valid_utf8(script));
  CHECK(script.find("printf '\\164\\155\\160\\057\\377\\376\\055\\144\\162\\157\\160X'") != std::string::npos);
  CHECK(script.find("exec tar -c -f - -C '/' -- \"$@\"") != std::string::npos);
  const auto* hashes = f.artifact("containers/main/filesystem/hashes.json");
  REQUIRE(hashes);
  f.finish_and_verify();
  EntryCollectorOf keep(f.dir.file("b.tar.gz"), "containers/main/filesystem/hashes.json");
  const json doc = json::parse(keep.data);
  bool found = false;
  for (const auto& file : doc["files"]) {
    if (file.value("name", "") == "tmp/\\xff\\xfe-drop") {
      found = true;
      CHECK(file["sha256"] == util::sha256_hex("hello"));
    }
  }
  CHECK(found);
  for (const auto& s : doc["skipped"]) CHECK(s["reason"].get<std::string>().find("UTF-8") == std::string::npos);
}

TEST_CASE("collect: after Ctrl-C, what was not collected is listed exactly") {
  Fixture f([&](const ExecCall& c) {
    if (c.argv[0] == "sh") f.cancel.cancel();  // pressed during the walk
    return busybox(c);
  });
  auto r = f.run();
  REQUIRE(r);
  CHECK(r->outcome() == util::Outcome::interrupted);
  const auto said = [&](const std::string& what) {
    return std::find(r->not_collected.begin(), r->not_collected.end(), what) != r->not_collected.end();
  };
  CHECK(said("network of container main: interrupted (Ctrl-C) before it was collected"));
  CHECK(said("filesystem of container main: interrupted (Ctrl-C) before it was collected"));
  CHECK_FALSE(said("processes of container main: interrupted (Ctrl-C) before it was collected"));  // it ran
}

TEST_CASE("collect: evidence read through a debug container is complete, not partial") {
  Fixture f(
      [&](const ExecCall& c) {
        if (c.container == "app") return shell_less(c);
        if (c.argv[0] == "find" && c.argv.size() > 3 && c.argv[2] == "-maxdepth") return ExecReply::failure("", 1);
        if (c.argv[0] == "find") {  // busybox dialect: one file under /tmp
          const std::string b = c.argv.at(c.argv.size() - 3).substr(1, 32);
          return ExecReply::output("\n" + b + " e 81a4 0 0 5 1779294449\n/proc/1/root/tmp/a\n" + b + " l\n/proc/1/root/tmp/a\n");
        }
        if (c.argv[0] == "tar") return ExecReply::output(make_tar({{"tmp/a", "hello"}}));
        return busybox(c);
      },
      "pod-noshell.json");
  f.start_debug_containers();
  triage::CollectOptions o;
  o.ephemeral = true;
  auto r = f.run(o);
  REQUIRE(r);
  INFO(triage::collect_details(o, *r));
  const auto* first = find_step(*r, "processes");
  REQUIRE(first);
  CHECK(first->status == util::Outcome::skipped);  // the image has no shell: not a failure, read another way
  CHECK(r->not_collected.empty());
  CHECK(r->outcome() == util::Outcome::ok);
}
