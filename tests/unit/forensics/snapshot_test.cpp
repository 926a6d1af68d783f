#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>

#include "forensics/snapshot.hpp"
#include "support/forensics_builders.hpp"

using namespace ir::forensics;
using namespace ir::testing;
using nlohmann::json;

namespace {

const Process* find_pid(const ContainerSnapshot& c, std::int64_t pid) {
  for (const auto& p : c.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

const FileEntry* find_path(const ContainerSnapshot& c, const std::string& path) {
  for (const auto& f : c.files) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

// A reader over in-memory artifacts.
ArtifactReader memory_reader(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& path, std::size_t max) -> ir::Result<std::string> {
    const auto it = files.find(path);
    if (it == files.end()) return ir::fail(ir::Errc::not_found, path + ": no such artifact");
    if (it->second == "<io error>") return ir::fail(ir::Errc::io, "read failed: permission denied");
    if (it->second.size() > max) return ir::fail(ir::Errc::io, "too large");
    return it->second;
  };
}

bool has_gap(const std::vector<std::string>& gaps, const std::string& part) {
  return std::any_of(gaps.begin(), gaps.end(), [&](const std::string& g) { return g.find(part) != std::string::npos; });
}

const std::string k_dir = "containers/web/";

}  // namespace

TEST_CASE("read_pod_snapshot: the demo's compromised replica") {
  const auto pod = demo_pod(k_demo_compromised);
  CHECK(pod.pod.namespace_name == "shop");
  CHECK(pod.pod.name == "web-7d4b9c8f6-x2k9p");
  CHECK(pod.node == "node-1");
  CHECK(pod.ips == std::vector<std::string>{"10.244.0.14"});
  CHECK(pod.hostname == "web-7d4b9c8f6-x2k9p");
  REQUIRE(pod.declared_ports);
  REQUIRE(pod.declared_ports->size() == 1);
  CHECK(pod.declared_ports->front().port == 8080);
  CHECK(pod.gaps.empty());
  REQUIRE(pod.containers.size() == 1);
  const auto& c = pod.containers[0];
  CHECK(c.name == "web");
  CHECK(c.digest == "sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31");
  CHECK(c.gaps.empty());
  for (const auto& a : c.availabilities) CHECK(a.coverage == Coverage::collected);

  REQUIRE(c.processes.size() == 5);
  const Process* miner = find_pid(c, 3);
  REQUIRE(miner != nullptr);
  CHECK(miner->exe == "/tmp/.x/kworkerds");
  CHECK(miner->exe_sha256 == "f03232f5b1e809608c30ae4e08c690bab5bf8112a66dee9a731cb41b7108dd22");
  CHECK(miner->uid == 0u);
  CHECK(miner->sockets.size() == 1);
  CHECK(miner->ld_preload == Preload::not_read);
  CHECK_FALSE(miner->collector);
  const Process* walk = find_pid(c, 8);  // kubectl-ir's own sh -c, recognised by its script
  REQUIRE(walk != nullptr);
  CHECK(walk->collector);
  CHECK(find_pid(c, 1)->exe_sha256 == "3d9f2889d6782537624a4e1a10e68a2ddd53e0ee8bac02676f27308f42ec6bf6");

  REQUIRE(c.sockets.size() == 2);
  CHECK(c.sockets[1].remote_ip == "198.51.100.7");
  CHECK(c.sockets[1].pids == std::vector<std::int64_t>{3});

  CHECK(c.files.size() == 302);
  CHECK(std::is_sorted(c.files.begin(), c.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; }));
  const FileEntry* dropped = find_path(c, "/tmp/.x/kworkerds");
  REQUIRE(dropped != nullptr);
  CHECK(dropped->sha256 == miner->exe_sha256);
  CHECK(dropped->mode == 0755u);
  CHECK(dropped->type == 'f');
  CHECK(dropped->line == 20);
  CHECK(find_path(c, "/etc/passwd")->sha256.empty());  // not under a hashed root
  CHECK(c.artifact(Category::processes) == "containers/web/processes/processes.json");
}

TEST_CASE("read_container_snapshot: missing artifacts are gaps, never 'nothing there'") {
  SUBCASE("nothing at all: one gap") {
    const auto c = read_container_snapshot("web", "web", "", memory_reader({}));
    CHECK(c.processes.empty());
    CHECK(c.gaps == std::vector<std::string>{"container web: no processes, sockets or files in the bundle"});
    for (const auto& a : c.availabilities) CHECK(a.coverage == Coverage::missing);
  }
  SUBCASE("one artifact missing, one unreadable") {
    const std::string dir = demo_dir(k_demo_healthy_1) + "/";
    auto read = directory_reader(demo_dir(k_demo_healthy_1));
    auto partial = [read](const std::string& path, std::size_t max) -> ir::Result<std::string> {
      if (path.find("sockets.json") != std::string::npos) return ir::fail(ir::Errc::not_found, "no");
      if (path.find("hashes.json") != std::string::npos)
        return ir::fail(ir::Errc::io, "read failed: permission denied");
      return read(path, max);
    };
    const auto c = read_container_snapshot("web", "web", "", partial);
    CHECK(c.availability(Category::sockets).coverage == Coverage::missing);
    CHECK(has_gap(c.gaps, "sockets of container web: not collected (sockets.json: not in the bundle)"));
    CHECK(has_gap(c.gaps, "file hashes of container web: not collected (hashes.json: read failed: permission denied)"));
    CHECK(c.availability(Category::processes).coverage == Coverage::collected);
    CHECK(c.files.size() == 294);
  }
  SUBCASE("a pod.json that is not there") {
    const auto pod = read_pod_snapshot("", memory_reader({}), [](const std::string& n) { return n; });
    CHECK(pod.containers.empty());
    CHECK(has_gap(pod.gaps, "pod/pod.json: not in the bundle"));
    CHECK_FALSE(pod.declared_ports);
  }
}

TEST_CASE("read_container_snapshot: artifacts that are not JSON, or nested too deep") {
  const auto c = read_container_snapshot(
      "web", "web", "",
      memory_reader({{k_dir + "processes/processes.json", "{\"records\": [\n  {\"kind\": \"process\",,}]}"},
                     {k_dir + "network/sockets.json", std::string(100, '[') + std::string(100, ']')}}));
  CHECK(has_gap(c.gaps, "processes of container web: not collected (processes.json: line 2, column"));
  CHECK(has_gap(
      c.gaps,
      "sockets of container web: not collected (sockets.json: line 1, column 33: nested deeper than 32 levels)"));
}

TEST_CASE("ContainerSnapshotBuilder: hostile strings are escaped again and cut; counts are bounded") {
  SnapshotLimits limits;
  limits.max_processes = 2;
  limits.max_string_bytes = 16;
  ContainerSnapshotBuilder b("web", k_dir, limits);
  json records = json::array();
  records.push_back({{"kind", "process"},
                     {"source", "walk"},
                     {"pid", 1},
                     {"comm", "a\x1b[31mred"},
                     {"exe", "/bin/x"},
                     {"cmdline", {std::string(100, 'a')}}});
  records.push_back(
      {{"kind", "process"}, {"source", "walk"}, {"pid", 2}, {"exe", "/bin/y"}, {"ld_preload", "/tmp/l.so"}});
  records.push_back({{"kind", "process"}, {"source", "walk"}, {"pid", 3}, {"exe", "/bin/z"}});
  records.push_back({{"kind", "process"}, {"source", "walk"}, {"pid", "4"}});  // not a number: skipped
  b.add_processes({{"records", records}, {"anomalies", json::array()}}, "");
  const auto c = b.finish();
  REQUIRE(c.processes.size() == 2);
  CHECK(c.processes[0].comm == "a\\x1b[31mred");
  CHECK(c.processes[0].argv[0] == std::string(16, 'a') + "...(84 more bytes)");
  CHECK(c.processes[1].ld_preload == Preload::set);
  CHECK(c.processes[1].ld_preload_value == "/tmp/l.so");
  CHECK(c.availability(Category::processes).coverage == Coverage::partial);
  CHECK(has_gap(c.gaps, "1 processes over the analysis limit were left out"));
}

TEST_CASE("ContainerSnapshotBuilder: the walk's tampering report makes processes partial") {
  ContainerSnapshotBuilder b("web", k_dir);
  b.add_processes({{"records", json::array({{{"kind", "process"}, {"source", "walk"}, {"pid", 1}, {"exe", "/a"}}})},
                   {"anomalies", {"tampering suspected: a forged marker"}}},
                  "");
  const auto c = b.finish();
  CHECK(c.availability(Category::processes).coverage == Coverage::partial);
  CHECK(has_gap(c.gaps, "the walk reports tampering: tampering suspected: a forged marker"));
}

TEST_CASE("ContainerSnapshotBuilder: kubectl-ir's own shell is recognised by its exact script, not by its look") {
  const std::string script = "B=0123456789abcdef0123456789abcdef\nM=4096\necho hi\n";
  auto walk_record = [](std::int64_t pid, std::int64_t ppid, const std::string& arg) {
    return json{{"kind", "process"}, {"source", "walk"},      {"pid", pid},
                {"ppid", ppid},      {"exe", "/bin/busybox"}, {"cmdline", {"sh", "-c", arg}}};
  };
  ContainerSnapshotBuilder b("web", k_dir);
  b.add_processes(
      {{"records",
        {walk_record(8, 0, "B=0123456789abcdef0123456789abcdef\\nM=4096\\necho hi\\n"),
         walk_record(9, 0, "B=0123456789abcdef0123456789abcdef\\nM=4096\\nrm -rf /\\n"),     // another script
         walk_record(10, 1, "B=0123456789abcdef0123456789abcdef\\nM=4096\\necho hi\\n")}}},  // not from outside
      script);
  const auto c = b.finish();
  REQUIRE(c.processes.size() == 3);
  CHECK(c.processes[0].collector);
  CHECK_FALSE(c.processes[1].collector);
  CHECK_FALSE(c.processes[2].collector);
}

TEST_CASE("ContainerSnapshotBuilder: ps only, when there is no walk") {
  ContainerSnapshotBuilder b("web", k_dir);
  b.add_ps({{"command", "ps -o pid,ppid,user,comm,args"},
            {"records",
             {{{"kind", "process"}, {"pid", 1}, {"ppid", 0}, {"user", "root"}, {"comm", "app"}, {"args", "/app --x"}},
              {{"kind", "process"},
               {"pid", 7},
               {"ppid", 0},
               {"user", "root"},
               {"comm", "ps"},
               {"args", "ps -o pid,ppid,user,comm,args"}}}}});
  b.missing(Category::processes, "processes.json", "not in the bundle");
  const auto c = b.finish();
  REQUIRE(c.processes.size() == 2);
  CHECK(c.processes[0].source == ProcessSource::ps);
  CHECK(c.processes[0].argv == std::vector<std::string>{"/app", "--x"});
  CHECK(c.processes[1].collector);
  CHECK(c.availability(Category::processes).coverage == Coverage::partial);
  CHECK(c.availability(Category::executables).coverage == Coverage::missing);
  CHECK(has_gap(c.gaps, "executables of container web: not collected (ps gives no exe paths)"));
  CHECK(c.artifact(Category::processes) == "containers/web/processes/ps.json");
}

TEST_CASE("ContainerSnapshotBuilder: the listing streams in any chunks; bad, overlong and cut lines are counted") {
  auto text = ir::util::read_file(demo_dir(k_demo_compromised) + "/containers/web/filesystem/listing.jsonl");
  REQUIRE(text);
  ContainerSnapshotBuilder whole("web", k_dir);
  REQUIRE(whole.listing().write(*text));
  REQUIRE(whole.listing().finish());
  const auto a = whole.finish();
  ContainerSnapshotBuilder bytes("web", k_dir);
  for (const char ch : *text) REQUIRE(bytes.listing().write(std::string_view(&ch, 1)));
  REQUIRE(bytes.listing().finish());
  const auto b = bytes.finish();
  REQUIRE(a.files.size() == b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) CHECK(a.files[i].path == b.files[i].path);
  CHECK(a.availability(Category::listing).coverage == Coverage::collected);

  SnapshotLimits limits;
  limits.max_line_bytes = 200;
  ContainerSnapshotBuilder bad("web", k_dir, limits);
  const std::string input =
      "not json\n{\"kind\":\"entry\",\"path\":\"/" + std::string(300, 'a') +
      "\"}\n{\"kind\":\"unparsed\",\"reason\":\"truncated\"}\n{\"kind\":\"entry\",\"path\":\"/ok\",\"type\":\"file\","
      "\"size\":1,\"mode\":\"0644\"}\n{\"kind\":\"entry\",\"path\":\"/cut";
  REQUIRE(bad.listing().write(input));
  REQUIRE(bad.listing().finish());
  const auto c = bad.finish();
  REQUIRE(c.files.size() == 1);
  CHECK(c.files[0].path == "/ok");
  CHECK(c.files[0].line == 4);
  CHECK(c.availability(Category::listing).coverage == Coverage::partial);
  CHECK(has_gap(c.gaps, "the listing ends in a cut line"));
  CHECK(has_gap(c.gaps, "3 lines were not listing records"));
  CHECK(has_gap(c.gaps, "the listing parser could not parse 1 records"));
}

TEST_CASE("ContainerSnapshotBuilder: hashes — incomplete ones and members the tar added unasked are not used") {
  ContainerSnapshotBuilder b("web", k_dir);
  REQUIRE(
      b.listing().write("{\"kind\":\"entry\",\"path\":\"/tmp/a\",\"type\":\"file\",\"size\":1,\"mode\":\"0755\"}\n"
                        "{\"kind\":\"entry\",\"path\":\"/tmp/b\",\"type\":\"file\",\"size\":1,\"mode\":\"0755\"}\n"
                        "{\"kind\":\"entry\",\"path\":\"/tmp/c\",\"type\":\"file\",\"size\":1,\"mode\":\"0755\"}\n"));
  REQUIRE(b.listing().finish());
  b.add_hashes(
      {{"files",
        {{{"name", "tmp/a"}, {"type", "file"}, {"sha256", sha_of('a')}, {"complete", true}},
         {{"name", "tmp/b"}, {"type", "file"}, {"sha256", sha_of('b')}, {"complete", false}},
         {{"name", "tmp/c"}, {"type", "file"}, {"sha256", sha_of('c')}, {"complete", true}, {"unexpected", true}},
         {{"batch", 1}, {"problem", "damaged header"}}}},
       {"executables", json::array()},
       {"roots", {"/tmp"}}});
  const auto c = b.finish();
  REQUIRE(c.files.size() == 3);
  CHECK(c.files[0].sha256 == sha_of('a'));
  CHECK(c.files[1].sha256.empty());
  CHECK(c.files[2].sha256.empty());
  CHECK(c.hashed_roots == std::vector<std::string>{"/tmp"});
  CHECK(c.availability(Category::file_hashes).coverage == Coverage::partial);
  CHECK(has_gap(
      c.gaps,
      "damaged header; 1 files could not be read whole; 1 members the container's tar added unasked were ignored"));
}

TEST_CASE("parse_bounded_json: positions and bounds") {
  CHECK(parse_bounded_json("{\"a\": [1, 2]}", 100, 4));
  const auto bad = parse_bounded_json("{\n  \"a\": tru\n}", 100, 4);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.rfind("line 2, column", 0) == 0);
  const auto deep = parse_bounded_json("[[[[[1]]]]]", 100, 4);
  REQUIRE_FALSE(deep);
  CHECK(deep.error().message == "line 1, column 5: nested deeper than 4 levels");
  CHECK(parse_bounded_json("\"[[[[[[[\"", 100, 4));  // brackets inside a string are not nesting
  const auto big = parse_bounded_json(std::string(200, ' '), 100, 4);
  REQUIRE_FALSE(big);
  CHECK(big.error().message == "200 bytes, more than the 100 accepted");
}

TEST_CASE("digest_of_image_id and pod_facts") {
  CHECK(digest_of_image_id("docker.io/library/busybox@sha256:abc") == "sha256:abc");
  CHECK(digest_of_image_id("docker-pullable://repo@sha256:abc") == "sha256:abc");
  CHECK(digest_of_image_id("docker://sha256:def") == "sha256:def");
  CHECK(digest_of_image_id("") == "");
  const auto f = pod_facts(json{
      {"metadata", {{"namespace", "shop"}, {"name", "p\x1b"}}},
      {"spec",
       {{"hostNetwork", true},
        {"containers",
         {{{"name", "a"}, {"ports", {{{"containerPort", 53}, {"protocol", "UDP"}}, {{"containerPort", 99999}}}}}}}}},
      {"status", {{"podIP", "10.0.0.1"}}}});
  CHECK(f.pod.name == "p\\x1b");
  CHECK(f.hostname == "p\\x1b");
  CHECK(f.host_network);
  REQUIRE(f.declared_ports.size() == 1);  // 99999 is no port
  CHECK(f.declared_ports[0].protocol == "UDP");
  CHECK(f.ips == std::vector<std::string>{"10.0.0.1"});
  CHECK(pod_facts(json("not a pod")).containers.empty());
}
