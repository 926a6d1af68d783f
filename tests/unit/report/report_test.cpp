#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "report/assets.hpp"
#include "report/report.hpp"
#include "report/time.hpp"
#include "support/temp_dir.hpp"
#include "util/clock.hpp"
#include "util/crypto.hpp"
#include "util/sink.hpp"

using namespace ir;
using namespace ir::report;
using nlohmann::json;

namespace {

const std::string k_payload = "<script>window.x=1</script>\"><img src=x onerror=y> \u202eevil\u2028";

// A bundle as collect writes it, built with the real writer; entries replaced or added by name.
class BundleBuilder {
 public:
  BundleBuilder() {
    m_entries["pod/pod.json"] =
        json{
            {"metadata",
             {{"name", "web-1"}, {"namespace", "shop"}, {"uid", "u-1"}, {"creationTimestamp", "2026-12-05T10:00:00Z"}}},
            {"spec", {{"nodeName", "node-1"}}},
            {"status",
             {{"phase", "Running"},
              {"podIP", "10.0.0.5"},
              {"hostIP", "192.0.2.2"},
              {"containerStatuses",
               json::array({{{"name", "web"},
                             {"restartCount", 0},
                             {"imageID", "registry/web@sha256:" + std::string(64, 'a')},
                             {"state", {{"running", {{"startedAt", "2026-12-05T10:00:10Z"}}}}}}})}}}}
            .dump();
    m_entries["containers/web/processes/processes.json"] = json{
        {"records", json::array({{{"kind", "process"},
                                  {"pid", 1},
                                  {"ppid", 0},
                                  {"comm", "sh"},
                                  {"cmdline", {"/bin/sh"}},
                                  {"exe", "/bin/busybox"},
                                  {"starttime", 1000},
                                  {"uid", {{"real", 0}}},
                                  {"flags", json::array()}},
                                 {{"kind", "process"},
                                  {"pid", 3},
                                  {"ppid", 1},
                                  {"comm", "kworkerds"},
                                  {"cmdline", {"/tmp/.x/kworkerds", "-o", "pool:3333"}},
                                  {"exe", "/tmp/.x/kworkerds"},
                                  {"starttime", 1250},
                                  {"uid", {{"real", 0}}},
                                  {"flags", json::array()}}})}}.dump();
    m_entries["containers/web/network/sockets.json"] = json{
        {"sockets", json::array({{{"kind", "socket"},
                                  {"proto", "tcp"},
                                  {"local_ip", "10.0.0.5"},
                                  {"local_port", 40000},
                                  {"remote_ip", "10.0.0.9"},
                                  {"remote_port", 3333},
                                  {"state", "ESTABLISHED"},
                                  {"pids", {3}}},
                                 {{"kind", "socket"},
                                  {"proto", "tcp"},
                                  {"local_ip", "0.0.0.0"},
                                  {"local_port", 8080},
                                  {"remote_ip", "0.0.0.0"},
                                  {"remote_port", 0},
                                  {"state", "LISTEN"},
                                  {"pids", {1}}}})}}.dump();
    m_entries["containers/web/filesystem/listing.jsonl"] =
        "{\"kind\":\"entry\",\"path\":\"/tmp/.x/"
        "kworkerds\",\"type\":\"file\",\"size\":10,\"mode\":\"0755\",\"uid\":0,\"gid\":0,"
        "\"mtime\":\"2026-12-05T10:00:20Z\"}\n"
        "{\"kind\":\"entry\",\"path\":\"/etc/"
        "passwd\",\"type\":\"file\",\"size\":300,\"mode\":\"0644\",\"uid\":0,\"gid\":0,"
        "\"mtime\":\"2026-12-01T00:00:00Z\"}\n"
        "{\"kind\":\"unparsed\",\"reason\":\"bad header\",\"raw\":\"x\"}\n";
    m_entries["journal.jsonl"] =
        "{\"time\":\"2026-12-05T10:01:00Z\",\"case\":\"case-1\",\"action\":\"verdict\",\"namespace\":\"shop\",\"pod\":"
        "\"web-1\","
        "\"egress\":{\"state\":\"contained\",\"reason\":\"deny all\"},\"ingress\":{\"state\":\"not "
        "requested\",\"reason\":\"\"}}\n"
        "{\"time\":\"2026-12-05T10:01:00Z\",\"case\":\"case-1\",\"action\":\"collect.start\",\"namespace\":\"shop\","
        "\"pod\":\"web-1\"}\n";
    m_entries["logs/web.log"] = "2026-12-05T10:00:30.123456789Z hello " + k_payload + "\n2026-12-05T10:00:31Z second\n";
  }
  BundleBuilder& set(const std::string& name, std::string data) {
    m_entries[name] = std::move(data);
    return *this;
  }
  BundleBuilder& erase(const std::string& name) {
    m_entries.erase(name);
    return *this;
  }
  std::string write(const testing::TempDir& dir, const std::string& name = "b.tar.gz") const {
    util::FakeClock clock;
    const std::string path = dir.file(name);
    auto w = evidence::create_bundle(path, clock);
    REQUIRE(w);
    for (const auto& [entry, data] : m_entries)
      REQUIRE((*w)->add(entry, data, {.source = "test", .method = evidence::Method::api}));
    REQUIRE((*w)->finish());
    return path;
  }

 private:
  std::map<std::string, std::string> m_entries;
};

// Copies bundle `from` to `to` with the bytes of entry `name` replaced (the manifest unchanged).
void rewrite(const std::string& from, const std::string& to, const std::string& name, const std::string& data) {
  archive* in = archive_read_new();
  archive_read_support_filter_gzip(in);
  archive_read_support_format_tar(in);
  REQUIRE(archive_read_open_filename(in, from.c_str(), 65536) == ARCHIVE_OK);
  archive* out = archive_write_new();
  archive_write_add_filter_gzip(out);
  archive_write_set_format_pax_restricted(out);
  REQUIRE(archive_write_open_filename(out, to.c_str()) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
    std::string bytes;
    char buf[8192];
    for (la_ssize_t n; (n = archive_read_data(in, buf, sizeof buf)) > 0;)
      bytes.append(buf, static_cast<std::size_t>(n));
    if (name == archive_entry_pathname(e)) bytes = data;
    archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
    REQUIRE(archive_write_header(out, e) == ARCHIVE_OK);
    archive_write_data(out, bytes.data(), bytes.size());
  }
  archive_read_free(in);
  archive_write_close(out);
  archive_write_free(out);
}

json indicators(std::int64_t pid) {
  return json{{"format", "kubectl-ir-analysis/v1"},
              {"kind", "indicators"},
              {"findings", json::array({{{"id", "F1"},
                                         {"kind", "process"},
                                         {"rule", "exe-in-tmp"},
                                         {"severity", "high"},
                                         {"container", "web"},
                                         {"summary", "pid runs from /tmp " + k_payload},
                                         {"subject", {{"pid", pid}, {"path", "/tmp/.x/kworkerds"}}}},
                                        {{"id", "F2"},
                                         {"kind", "connection"},
                                         {"rule", "mining-port"},
                                         {"severity", "critical"},
                                         {"container", "web"},
                                         {"summary", "pool"},
                                         {"subject", {{"remote", "10.0.0.9:3333"}}}}})},
              {"gaps", {"none"}}};
}

std::string render(const Model& m) {
  util::MemorySink sink(64 << 20);
  REQUIRE(render_html(m, Options{}, sink));
  return sink.data();
}

// The JSON of the page's data block.
json data_block(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"ir-data\">";
  const auto a = html.find(open);
  REQUIRE(a != std::string::npos);
  const auto b = html.find("</script>", a);
  return json::parse(html.substr(a + open.size(), b - a - open.size()));
}

// What the page's script does with the columnar listing: path i = prev.slice(0, pre[i]) + suf[i],
// slicing in UTF-16 code units.
std::vector<std::string> decode_paths(const json& files) {
  const auto to16 = [](const std::string& s) {
    std::u16string out;
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      char32_t cp = c;
      std::size_t n = 1;
      if (c >= 0xF0)
        cp = c & 0x07U, n = 4;
      else if (c >= 0xE0)
        cp = c & 0x0FU, n = 3;
      else if (c >= 0xC0)
        cp = c & 0x1FU, n = 2;
      for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3FU);
      i += n;
      if (cp > 0xFFFF) {
        cp -= 0x10000;
        out += static_cast<char16_t>(0xD800 + (cp >> 10));
        out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
      } else {
        out += static_cast<char16_t>(cp);
      }
    }
    return out;
  };
  std::vector<std::u16string> paths;
  for (std::size_t i = 0; i < files["n"].get<std::size_t>(); ++i) {
    const auto pre = files["pre"][i].get<std::size_t>();
    const std::u16string suf = to16(files["suf"][i].get<std::string>());
    paths.push_back(i == 0 ? suf : paths.back().substr(0, pre) + suf);
  }
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::string s;
    for (std::size_t i = 0; i < p.size(); ++i) {
      char32_t cp = p[i];
      if (cp >= 0xD800 && cp < 0xDC00) cp = 0x10000 + ((cp - 0xD800) << 10) + (p[++i] - 0xDC00);
      if (cp < 0x80)
        s += static_cast<char>(cp);
      else if (cp < 0x800)
        s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
      else if (cp < 0x10000)
        s += static_cast<char>(0xE0 | (cp >> 12)), s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
            s += static_cast<char>(0x80 | (cp & 0x3F));
      else
        s += static_cast<char>(0xF0 | (cp >> 18)), s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("read_bundle") {
  testing::TempDir dir;
  SUBCASE("the subject, its processes, connections, files and timeline") {
    const auto m = read_bundle(BundleBuilder{}.set("analysis/indicators.json", indicators(3).dump()).write(dir));
    REQUIRE(m);
    CHECK(m->verified());
    CHECK(m->namespace_name == "shop");
    CHECK(m->pod == "web-1");
    CHECK(m->node == "node-1");
    CHECK(m->case_id == "case-1");
    REQUIRE(m->processes.size() == 2);
    const Process& miner = m->processes[1];
    CHECK(miner.pid == 3);
    CHECK(miner.cmdline == "/tmp/.x/kworkerds -o pool:3333");
    CHECK(miner.started == "2026-12-05T10:00:12.500000Z");  // pid 1 = startedAt, 250 ticks later
    CHECK(miner.start_basis == StartBasis::estimated);
    REQUIRE(miner.findings.size() == 1);
    CHECK(m->findings[miner.findings[0]].rule == "exe-in-tmp");
    CHECK(m->findings.front().severity == Severity::critical);  // sorted by severity
    CHECK(m->findings_from_analysis);
    REQUIRE(m->connections.size() == 2);
    CHECK(m->connections[0].remote == "10.0.0.9:3333");
    CHECK(m->connections[0].findings.size() == 1);
    CHECK(m->connections[1].remote.empty());  // a listener has no remote end
    CHECK(m->files.size() == 2);
    CHECK(m->isolation.size() == 2);
    CHECK(m->isolation[0].state == "contained");
    for (std::size_t i = 1; i < m->events.size(); ++i) CHECK(m->events[i - 1].time_us <= m->events[i].time_us);
    // The verdict and collect.start share a second: the journal's order is kept.
    std::size_t verdict = 0, collect = 0;
    for (std::size_t i = 0; i < m->events.size(); ++i) {
      if (m->events[i].message.rfind("isolation verdict", 0) == 0) verdict = i;
      if (m->events[i].message.rfind("collect.start", 0) == 0) collect = i;
    }
    CHECK(verdict < collect);
    bool log_line = false;
    for (const auto& e : m->events) {
      if (e.kind == EventKind::log && e.message.find("hello") != std::string::npos) {
        log_line = true;
        CHECK(e.time_us == *parse_time_us("2026-12-05T10:00:30.123456Z"));
        CHECK(e.message.find("\u202e") == std::string::npos);
        CHECK(e.message.find("\\u202e") != std::string::npos);
      }
    }
    CHECK(log_line);
  }
  SUBCASE("without indicators the report's own checks mark a process running from /tmp") {
    const auto m = read_bundle(BundleBuilder{}.write(dir));
    REQUIRE(m);
    CHECK_FALSE(m->findings_from_analysis);
    REQUIRE(m->findings.size() == 1);
    CHECK(m->findings[0].rule == "exe-in-tmp");
    CHECK(m->findings[0].source == "report");
    CHECK(m->processes[1].findings.size() == 1);
    CHECK(m->processes[0].findings.empty());
  }
  SUBCASE("missing pieces are said, not fatal") {
    const auto m = read_bundle(BundleBuilder{}
                                   .erase("journal.jsonl")
                                   .erase("pod/pod.json")
                                   .set("containers/web/network/sockets.json", "{not json")
                                   .write(dir));
    REQUIRE(m);
    CHECK(m->connections.empty());
    std::string notes;
    for (const auto& n : m->notes) notes += n + "\n";
    CHECK(notes.find("journal.jsonl: not in the bundle") != std::string::npos);
    CHECK(notes.find("pod/pod.json: not in the bundle") != std::string::npos);
    CHECK(notes.find("sockets.json: not valid JSON") != std::string::npos);
    CHECK(notes.find("acquisition.json and acquisition.log: not in the bundle") != std::string::npos);
  }
  SUBCASE("acquisition.log of older bundles") {
    const std::string log =
        "kubectl-ir acquisition log\ncase:             case-9\nexaminer:         alice\nstarted (UTC):    "
        "2026-12-05T10:00:00Z\n"
        "ended (UTC):      2026-12-05T10:00:09Z\nresult:           partial\n\nsteps:\n"
        "  pod              -            ok       api       uid x\n"
        "  processes        web          failed   exec      ps: not found\n\nnot collected:\n  memory: not supported\n";
    const auto m = read_bundle(BundleBuilder{}.set("acquisition.log", log).write(dir));
    REQUIRE(m);
    CHECK(m->examiner == "alice");
    CHECK(m->result == "partial");
    REQUIRE(m->steps.size() == 2);
    CHECK(m->steps[1].name == "processes");
    CHECK(m->steps[1].container == "web");
    CHECK(m->steps[1].status == "failed");
    CHECK(m->steps[1].detail == "ps: not found");
    CHECK(m->not_collected == std::vector<std::string>{"memory: not supported"});
  }
  SUBCASE("acquisition.json: collect's step outcomes") {
    const json a{{"format", "kubectl-ir-acquisition/v1"},
                 {"case", "case-7"},
                 {"result", "partial"},
                 {"collect",
                  {{"steps", json::array({{{"step", "pod"}, {"container", ""}, {"status", "ok"}, {"detail", "uid x"}},
                                          {{"step", "processes"},
                                           {"container", "web"},
                                           {"status", "partial"},
                                           {"detail", "ps: stdout limit reached"}}})}}}};
    const auto m = read_bundle(BundleBuilder{}.set("acquisition.json", a.dump()).write(dir));
    REQUIRE(m);
    CHECK(m->acquisition_source == "acquisition.json");
    REQUIRE(m->steps.size() == 2);
    CHECK(m->steps[0].container.empty());
    CHECK(m->steps[1].name == "processes");
    CHECK(m->steps[1].container == "web");
    CHECK(m->steps[1].status == "partial");
    CHECK(m->steps[1].detail == "ps: stdout limit reached");
  }
  SUBCASE("bounds: log lines, files") {
    std::string log;
    for (int i = 0; i < 100; ++i) log += fmt::format("2026-12-05T10:00:{:02}Z line {}\n", i % 60, i);
    ReadOptions o;
    o.max_log_lines = 10;
    o.max_files = 1;
    const auto m = read_bundle(BundleBuilder{}.set("logs/web.log", log).write(dir), o);
    REQUIRE(m);
    std::size_t logs = 0;
    for (const auto& e : m->events) logs += e.kind == EventKind::log ? 1 : 0;
    CHECK(logs == 10);
    CHECK(m->files.size() == 1);
    CHECK(m->files_dropped == 1);
  }
  SUBCASE("a tampered entry is a problem on its row, and still read") {
    const std::string path = BundleBuilder{}.write(dir);
    const std::string bad = dir.file("bad.tar.gz");
    rewrite(path, bad, "logs/web.log", "2026-12-05T10:00:30Z replaced\n");
    const auto m = read_bundle(bad);
    REQUIRE(m);
    CHECK_FALSE(m->verified());
    REQUIRE(m->problems.size() == 1);
    CHECK(m->problems[0].rfind("logs/web.log: ", 0) == 0);
    bool marked = false;
    for (const auto& a : m->artifacts) {
      if (a.path == "logs/web.log")
        marked = !a.problem.empty();
      else
        CHECK(a.problem.empty());
    }
    CHECK(marked);
    const std::string html = render(*m);
    CHECK(html.find("data-verified=\"false\"") != std::string::npos);
  }
  SUBCASE("not a bundle") {
    std::ofstream(dir.file("x.tar.gz")) << "garbage";
    CHECK_FALSE(read_bundle(dir.file("x.tar.gz")));
  }
}

TEST_CASE("render_html") {
  testing::TempDir dir;
  const std::string evil = "/tmp/" + k_payload;
  std::string listing;
  for (const std::string& p : std::vector<std::string>{"/usr/lib/a.py", "/usr/lib/ab.py", "/usr/lib/é/😀x",
                                                       "/usr/lib/é/😀y", "/usr/lib/é/z", evil}) {
    listing += json{{"kind", "entry"}, {"path", p}, {"type", "file"}, {"size", 1},
                    {"mode", "0644"},  {"uid", 0},  {"gid", 0},       {"mtime", "2026-12-01T00:00:00Z"}}
                   .dump() +
               "\n";
  }
  const auto m = read_bundle(BundleBuilder{}
                                 .set("analysis/indicators.json", indicators(3).dump())
                                 .set("containers/web/filesystem/listing.jsonl", listing)
                                 .write(dir));
  REQUIRE(m);
  const std::string html = render(*m);

  SUBCASE("the CSP allows exactly the inline script and style, by hash, and nothing else") {
    const auto b64 = [](std::string_view s) {
      const std::string hex = util::sha256_hex(s);
      std::string raw;
      for (std::size_t i = 0; i < hex.size(); i += 2)
        raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
      return util::base64_encode(raw);
    };
    CHECK(html.find("default-src 'none'; script-src 'sha256-" + b64(assets::report_js()) + "'; style-src 'sha256-" +
                    b64(assets::report_css()) + "'") != std::string::npos);
    CHECK(html.find("<script>" + std::string(assets::report_js()) + "</script>") != std::string::npos);
    CHECK(html.find("connect-src") == std::string::npos);
  }
  SUBCASE("no pod-supplied markup reaches the page") {
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("window.x=1</script>") == std::string::npos);
    CHECK(html.find("\u202e") == std::string::npos);
    CHECK(html.find("\u2028") == std::string::npos);
    std::size_t scripts = 0;
    for (auto p = html.find("<script"); p != std::string::npos; p = html.find("<script", p + 1)) ++scripts;
    CHECK(scripts == 2);
    CHECK(html.find("&lt;script&gt;window.x=1&lt;/script&gt;") != std::string::npos);  // the finding, in the summary
  }
  SUBCASE("the data block round-trips, and its file paths decode as the script decodes them") {
    const json d = data_block(html);
    CHECK(d["pod"] == "shop/web-1");
    CHECK(d["procs"].size() == 2);
    const auto paths = decode_paths(d["files"]);
    REQUIRE(paths.size() == 6);
    CHECK(paths[0] == "/tmp/<script>window.x=1</script>\"><img src=x onerror=y> \\u202eevil\\u2028");
    CHECK(paths[1] == "/usr/lib/a.py");
    CHECK(paths[2] == "/usr/lib/ab.py");
    CHECK(paths[3] == "/usr/lib/é/z");  // byte order: 'z' < the 4-byte sequence of 😀
    CHECK(paths[4] == "/usr/lib/é/😀x");
    CHECK(paths[5] == "/usr/lib/é/😀y");
    CHECK(d["files"]["pre"][4] == 11);  // "/usr/lib/é/"
    CHECK(d["files"]["pre"][5] == 13);  // "/usr/lib/é/😀": 12 characters, 13 UTF-16 units
  }
}

TEST_CASE("render_markdown and render_timesketch") {
  testing::TempDir dir;
  const auto m = read_bundle(BundleBuilder{}.set("analysis/indicators.json", indicators(3).dump()).write(dir));
  REQUIRE(m);
  const std::string md = render_markdown(*m);
  CHECK(md.find("### kubectl-ir report: shop/web\\-1") == std::string::npos);  // '-' only escaped at a line's start
  CHECK(md.find("### kubectl-ir report: shop/web-1") != std::string::npos);
  CHECK(md.find("<script>") == std::string::npos);
  CHECK(md.find("\\<script\\>") != std::string::npos);
  CHECK(md.find("**Evidence verified**") != std::string::npos);
  CHECK(md.find("**Custody**: bundle b.tar.gz sha256 `" + m->bundle_sha256 + "`") != std::string::npos);

  util::MemorySink sink(1 << 20);
  REQUIRE(render_timesketch(*m, sink));
  std::istringstream lines(sink.data());
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const json e = json::parse(line);
    CHECK(e["message"].is_string());
    CHECK(e["timestamp_desc"].is_string());
    const std::string dt = e["datetime"];
    CHECK(dt.size() == 32);  // 2026-12-05T10:00:30.123456+00:00
    CHECK(dt.substr(26) == "+00:00");
  }
  CHECK(n == m->events.size() + m->files.size());
}

TEST_CASE("write_html") {
  testing::TempDir dir;
  const std::string bundle = BundleBuilder{}.write(dir);
  SUBCASE("writes the page whole, mode 0600") {
    const auto s = write_html(bundle, dir.file("r.html"));
    REQUIRE(s);
    CHECK(s->verified);
    CHECK(s->processes == 2);
    CHECK(s->bytes > 0);
    CHECK(std::filesystem::file_size(dir.file("r.html")) == s->bytes);
    CHECK((std::filesystem::status(dir.file("r.html")).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    CHECK_FALSE(std::filesystem::exists(dir.file("r.html.partial")));
  }
  SUBCASE("an unwritable place fails and leaves nothing") {
    const auto s = write_html(bundle, dir.file("missing/r.html"));
    REQUIRE_FALSE(s);
    CHECK(s.error().message.find("write " + dir.file("missing/r.html")) == 0);
  }
}

TEST_CASE("time") {
  CHECK(parse_time_us("2026-12-05T10:00:30.123456789Z") == 1796464830123456);
  CHECK(format_time_us(1796464830123456) == "2026-12-05T10:00:30.123456Z");
  CHECK(format_time_us(1796464830000000) == "2026-12-05T10:00:30Z");
  CHECK(format_iso8601_us(1796464830000000) == "2026-12-05T10:00:30.000000+00:00");
  CHECK(format_time_us(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK_FALSE(parse_time_us(""));
  CHECK_FALSE(parse_time_us("yesterday"));
}
