// collect, container side: processes, then network, then filesystem, through the exec API in the
// container or, for a shell-less image, in a debug (ephemeral) container that shares its PID
// namespace and reads it through /proc.

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "evidence/bundle.hpp"
#include "evidence/parts.hpp"
#include "forensics/tar_digest.hpp"
#include "kube/api.hpp"
#include "triage/collect_steps.hpp"
#include "forensics/fslist.hpp"
#include "forensics/procfs.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::triage::collect_detail {

using nlohmann::json;

namespace {

constexpr std::size_t k_keep_ps = 16ULL << 20;     // ps output parsed at most
constexpr std::size_t k_keep_walk = 32ULL << 20;   // /proc walk output parsed at most
constexpr std::size_t k_keep_net = 16ULL << 20;    // one /proc/net table parsed at most
constexpr std::size_t k_max_exes = 256;            // distinct executables hashed
constexpr std::size_t k_max_batch_argv = 24 * 1024;  // bytes of file names per tar command
constexpr std::uint64_t k_max_batch_bytes = 1ULL << 30;
constexpr std::size_t k_max_skipped_listed = 2000;

evidence::ArtifactMeta local_meta(const ExecTarget& t, const std::string& source) {
  return {.source = source, .method = t.method};
}

json parsed_doc(const forensics::procfs::Parsed& p) {
  return {{"records", p.records}, {"parsed", p.parsed}, {"unparsed", p.unparsed}, {"dropped", p.dropped},
          {"anomalies", p.anomalies}};
}

// ---- processes ----------------------------------------------------------------------------------

struct Processes {
  bool shell_less = false;   // sh is not in the image
  bool no_ps = false;
  json walk_records = json::array();
  StepRecord unrecorded;     // shell_less: the step, left to the caller (a debug container may follow)
};

Processes processes(Ctx& ctx, const ExecTarget& t) {
  Processes result;
  StepRecord step{.container = t.container, .step = "processes", .method = t.method};
  const std::string dir = t.dir + "processes/";

  // ps, widest column set first (procps), then busybox's, then whatever `ps` prints.
  const std::vector<std::vector<std::string>> attempts = {
      {"ps", "-eww", "-o", "pid,ppid,uid,user,stat,lstart,etimes,comm,args"},
      {"ps", "-o", "pid,ppid,user,group,stat,vsz,rss,comm,args"},
      {"ps"}};
  std::string ps_note;
  for (const auto& argv : attempts) {
    if (ctx.options.scope == CollectScope::snapshot) break;  // the walk says it (and more)
    auto cap = run_command(ctx, t, {.argv = argv, .entry = dir + "ps.txt", .keep = k_keep_ps, .max_stdout = 16ULL << 20,
                                    .on_failure = OnFailure::drop});
    if (cap.not_found()) {
      result.no_ps = true;
      ps_note = "no ps in the image";
      break;
    }
    if (cap.stored) {
      ++step.artifacts;
      step.bytes += cap.bytes;
      auto parsed = forensics::procfs::parse_ps(cap.stdout_copy);
      if (!cap.stdout_copy_complete) parsed.anomalies.push_back("ps output longer than what was parsed: see ps.txt");
      json doc = parsed_doc(parsed);
      doc["command"] = describe_argv(argv);
      ctx.add(step, dir + "ps.json", pretty(doc), local_meta(t, "parsed from " + dir + "ps.txt by kubectl-ir"));
      if (!cap.ok()) {
        step.status = util::Outcome::partial;
        ps_note = "ps: " + cap.summary();
      }
      break;
    }
    if (cap.error) {
      ps_note = "ps: " + cap.summary();
      if (cap.error->code != Errc::failure) break;  // the exec itself failed: retrying ps will not help
    }
  }

  // The /proc walk: pid, ppid, uid, state, start time, cmdline, exe, cwd, socket fds.
  const std::string boundary = forensics::procfs::make_boundary();
  forensics::procfs::WalkOptions wo;
  std::string script = forensics::procfs::proc_walk_script(boundary, wo);
  const std::string script_entry = dir + "proc-walk.sh";
  auto cap = run_command(ctx, t, {.argv = {"sh", "-c", script}, .entry = dir + "proc-walk.txt",
                                  .source = "sh -c \"$(cat " + script_entry + ")\"", .keep = k_keep_walk,
                                  .max_stdout = k_keep_walk});
  if (cap.not_found()) {
    result.shell_less = true;
    step.status = result.no_ps ? util::Outcome::failed : util::Outcome::partial;
    step.detail = result.no_ps ? "the image has neither ps nor sh" : "the image has no sh: no /proc walk";
    result.unrecorded = std::move(step);
    return result;
  }
  ctx.add(step, script_entry, script, local_meta(t, "the /proc walk script kubectl-ir ran (sh -c)"));
  if (cap.stored) {
    ++step.artifacts;
    step.bytes += cap.bytes;
    auto parsed = forensics::procfs::parse_proc_walk(cap.stdout_copy, boundary);
    if (!cap.stdout_copy_complete) parsed.anomalies.push_back("walk output longer than what was parsed");
    result.walk_records = parsed.records;
    ctx.walk[t.container] = parsed.records;
    ctx.add(step, dir + "processes.json", pretty(parsed_doc(parsed)),
            local_meta(t, "parsed from " + dir + "proc-walk.txt by kubectl-ir"));
    std::string d = fmt::format("{} processes", parsed.parsed);
    if (!parsed.anomalies.empty()) d += "; " + parsed.anomalies.front();
    if (!ps_note.empty()) d += "; " + ps_note;
    step.detail = d;
    if (!cap.ok()) {
      step.status = util::Outcome::partial;
      step.detail += "; walk: " + cap.summary();
    }
  } else {
    step.status = util::Outcome::failed;
    step.detail = "walk: " + cap.summary() + (ps_note.empty() ? "" : "; " + ps_note);
  }
  ctx.record(std::move(step));
  return result;
}

// ---- network ------------------------------------------------------------------------------------

void network(Ctx& ctx, const ExecTarget& t, const json& walk_records) {
  StepRecord step{.container = t.container, .step = "network", .method = t.method};
  const std::string dir = t.dir + "network/";
  const auto order = ctx.byte_order == "big" ? forensics::procfs::ByteOrder::big : forensics::procfs::ByteOrder::little;
  json sockets = json::array();
  json anomalies = json::array();
  std::size_t unparsed = 0;
  std::size_t tables_read = 0;  // tables whose output was parsed
  std::vector<std::string> failed;
  const std::pair<const char*, std::optional<forensics::procfs::NetTable>> tables[] = {
      {"tcp", forensics::procfs::NetTable::tcp}, {"tcp6", forensics::procfs::NetTable::tcp6}, {"udp", forensics::procfs::NetTable::udp},
      {"udp6", forensics::procfs::NetTable::udp6}, {"raw", forensics::procfs::NetTable::raw}, {"raw6", forensics::procfs::NetTable::raw6},
      {"unix", std::nullopt}};
  for (const auto& [table, kind] : tables) {
    const std::string path = std::string("/proc/net/") + table;
    auto cap = run_command(ctx, t, {.argv = {"cat", path}, .entry = dir + "proc-net-" + table + ".txt", .keep = k_keep_net,
                                    .max_stdout = k_keep_net});
    if (cap.not_found()) {
      step.status = util::Outcome::failed;
      step.detail = "no cat in the image";
      ctx.record(std::move(step));
      return;
    }
    if (!cap.stored) {
      failed.push_back(std::string(table) + ": " + cap.summary());
      continue;
    }
    ++step.artifacts;
    step.bytes += cap.bytes;
    if (!cap.ok()) {
      // A table the kernel does not have (no IPv6) is normal; anything else is worth saying.
      if (!(cap.result && cap.result->completed() && cap.bytes == 0)) failed.push_back(std::string(table) + ": " + cap.summary());
      if (cap.bytes == 0) continue;
    }
    ++tables_read;
    auto parsed = kind ? forensics::procfs::parse_net_inet(cap.stdout_copy, *kind, order) : forensics::procfs::parse_net_unix(cap.stdout_copy);
    for (auto& r : parsed.records) sockets.push_back(std::move(r));
    for (auto& a : parsed.anomalies) anomalies.push_back(std::string(table) + ": " + a);
    unparsed += parsed.unparsed;
  }
  if (tables_read == 0) {
    // No table could be read: no parsed document either (an empty one would read as "no sockets").
    step.status = util::Outcome::failed;
    step.detail = failed.empty() ? "no /proc/net table could be read" : util::join(failed, "; ");
    ctx.record(std::move(step));
    return;
  }
  const auto owners = forensics::procfs::socket_owners(walk_records);
  sockets = forensics::procfs::attach_socket_owners(std::move(sockets), owners);
  ctx.sockets[t.container] = sockets;
  std::size_t established = 0;
  std::size_t decoded = 0;
  for (const auto& s : sockets) {
    if (s.value("kind", "") == "unparsed") continue;
    ++decoded;
    if (s.value("state", "") == "ESTABLISHED") ++established;
  }
  json doc = {{"sockets", sockets}, {"unparsed", unparsed}, {"anomalies", anomalies}, {"byte_order", ctx.byte_order}};
  ctx.add(step, dir + "sockets.json", pretty(doc), local_meta(t, "parsed from " + dir + "proc-net-*.txt by kubectl-ir"));

  // ss or netstat too, when the image has them (their view, not ours: kept raw). busybox netstat
  // has no -p.
  const std::vector<std::pair<std::vector<std::string>, std::string>> tools = {
      {{"ss", "-tanupe"}, "ss.txt"}, {{"netstat", "-tanup"}, "netstat.txt"}, {{"netstat", "-tanuw"}, "netstat.txt"}};
  Captured ss;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    if (ctx.options.scope == CollectScope::snapshot) break;  // /proc/net says it
    const bool last = i + 1 == tools.size();
    ss = run_command(ctx, t, {.argv = tools[i].first, .entry = dir + tools[i].second, .max_stdout = 16ULL << 20,
                             .on_failure = last ? OnFailure::store : OnFailure::drop});
    if (ss.stored || (ss.error && !ss.not_found())) break;
    if (ss.not_found() && tools[i].first[0] == "netstat") break;
  }
  if (ss.stored) {
    ++step.artifacts;
    step.bytes += ss.bytes;
  }
  step.detail = fmt::format("{} sockets, {} established", decoded, established);
  if (unparsed > 0) step.detail += fmt::format(", {} lines unparsed", unparsed);
  if (!ss.stored && ctx.options.scope == CollectScope::full) {
    step.detail += ss.not_found() ? "; no ss/netstat in the image" : "; ss: " + ss.summary();
  }
  if (!failed.empty()) {
    step.status = util::Outcome::partial;
    step.detail += "; " + util::join(failed, "; ");
  }
  ctx.record(std::move(step));
}

// ---- filesystem ---------------------------------------------------------------------------------

bool under(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

struct Selection {
  std::vector<forensics::fslist::Entry> files;               // to hash
  std::vector<std::pair<std::string, std::string>> skipped;  // path, why
  std::size_t skipped_total = 0;
  std::uint64_t bytes = 0;
};

// Streams a temporary file into a bundle entry.
Result<evidence::Artifact> copy_into_bundle(Ctx& ctx, std::FILE* f, const std::string& name, const evidence::ArtifactMeta& meta) {
  std::rewind(f);
  IR_TRY(entry, ctx.env.bundle.open_entry(name, meta));
  std::vector<char> buf(1 << 16);
  while (true) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (n == 0) break;
    IR_CHECK(entry->write(std::string_view(buf.data(), n)));
  }
  if (std::ferror(f)) return fail(Errc::io, "reading the temporary listing failed");
  return entry->commit(meta);
}

// The listing, parsed while it streams; selects the files to hash.
Selection listing(Ctx& ctx, const ExecTarget& t, const std::vector<std::string>& roots, StepRecord& step) {
  Selection sel;
  const std::string dir = t.dir + "filesystem/";
  const std::string top = t.root.empty() ? "/" : t.root + "/";
  // GNU find has -printf (exact NUL framing); busybox has not (stat -c with a boundary).
  auto probe = run_command(ctx, t, {.argv = {"find", top, "-maxdepth", "0", "-printf", "%y"}, .keep = 64, .max_stdout = 4096,
                                    .on_failure = OnFailure::drop});
  if (probe.not_found()) {
    step.status = util::Outcome::failed;
    step.detail = "no find in the image";
    return sel;
  }
  const auto dialect = probe.ok() && probe.stdout_copy == "d" ? forensics::fslist::Dialect::gnu_find : forensics::fslist::Dialect::busybox_stat;
  const std::string boundary = forensics::procfs::make_boundary();
  std::FILE* tmp = std::tmpfile();
  if (tmp == nullptr) {
    step.status = util::Outcome::failed;
    step.detail = "cannot create a temporary file for the parsed listing";
    return sel;
  }
  util::FileSink jsonl(fileno(tmp));
  const auto& o = ctx.options;
  forensics::fslist::ListingOptions lo;
  lo.strip_prefix = t.root;
  forensics::fslist::ListingParser parser(dialect, boundary, jsonl, [&](const forensics::fslist::Entry& e) {
    if (e.type != 'f') return;
    if (!e.clean()) {  // cut, forged or inconsistent: listed, never acted on
      ++sel.skipped_total;
      if (sel.skipped.size() < k_max_skipped_listed) sel.skipped.emplace_back(e.path, "listing record flagged (see listing.jsonl)");
      return;
    }
    const bool wanted = std::any_of(roots.begin(), roots.end(), [&](const std::string& r) { return under(e.path, r); });
    if (!wanted) return;
    auto skip = [&](std::string why) {
      ++sel.skipped_total;
      if (sel.skipped.size() < k_max_skipped_listed) sel.skipped.emplace_back(e.path, std::move(why));
    };
    if (e.size > o.max_file_bytes) return skip(fmt::format("larger than --max-file-bytes ({} > {})", e.size, o.max_file_bytes));
    if (sel.files.size() >= o.max_files) return skip("more files than --max-files");
    if (sel.bytes + e.size > o.max_archive_bytes) return skip("over --max-archive-bytes for the container");
    sel.bytes += e.size;
    sel.files.push_back(e);
  }, lo);
  auto argv = forensics::fslist::listing_command(dialect, top, boundary);
  if (!argv) {
    step.status = util::Outcome::failed;
    step.detail = "listing: " + argv.error().message;
    std::fclose(tmp);
    return sel;
  }
  auto cap = run_command(ctx, t, {.argv = *argv, .entry = dir + "listing.txt", .tee = &parser, .max_stdout = 1ULL << 30,
                                  .timeout = std::chrono::seconds(600)});
  if (!cap.stored) {
    step.status = util::Outcome::failed;
    step.detail = "listing: " + cap.summary();
    std::fclose(tmp);
    return sel;
  }
  ++step.artifacts;
  step.bytes += cap.bytes;
  auto a = copy_into_bundle(ctx, tmp, dir + "listing.jsonl", local_meta(t, "parsed from " + dir + "listing.txt by kubectl-ir"));
  std::fclose(tmp);
  if (!a) {
    step.status = util::Outcome::failed;
    step.detail = "listing.jsonl: " + a.error().message;
    return sel;
  }
  ++step.artifacts;
  step.bytes += a->size;
  step.detail = fmt::format("{} entries ({})", parser.entries(), dialect == forensics::fslist::Dialect::gnu_find ? "find -printf" : "find + stat");
  if (parser.unparsed() > 0 || parser.dropped() > 0) {
    step.detail += fmt::format(", {} unparsed, {} dropped", parser.unparsed(), parser.dropped());
  }
  if (!parser.anomalies().empty()) step.detail += "; " + parser.anomalies().front();
  // find exits 1 when some directories were unreadable: the listing is still what could be read.
  if (!cap.ok()) {
    step.status = util::Outcome::partial;
    step.detail += "; find: " + cap.summary();
  }
  return sel;
}

// The executables of running processes, read through /proc/<pid>/exe (the real binary, even when
// deleted from disk).
json hash_executables(Ctx& ctx, const ExecTarget& t, const json& walk_records, StepRecord& step) {
  json out = json::array();
  std::set<std::string> seen;
  for (const auto& r : walk_records) {
    if (ctx.cancelled() || seen.size() >= k_max_exes) break;
    if (r.value("kind", "") != "process" || !r.contains("exe") || !r["exe"].is_string()) continue;
    const std::string exe = r["exe"];
    if (!seen.insert(exe).second) continue;
    const auto pid = r.value("pid", 0LL);
    const std::string proc_exe = fmt::format("/proc/{}/exe", pid);
    util::NullSink null;
    util::HashingSink hash(null);
    std::string entry;
    if (ctx.options.fs == FsMode::archive) {
      const auto slash = exe.rfind('/');
      entry = fmt::format("{}filesystem/executables/{}-{}", t.dir, pid,
                          evidence::safe_component(slash == std::string::npos ? exe : exe.substr(slash + 1)));
    }
    auto cap = run_command(ctx, t, {.argv = {"cat", proc_exe}, .entry = entry, .tee = &hash, .max_stdout = ctx.options.max_file_bytes});
    json rec = {{"path", exe}, {"pid", pid}, {"read_from", proc_exe}, {"source", "exe"}};
    if (cap.result) {
      rec["sha256"] = hash.hex_digest();
      rec["bytes"] = cap.result->out.received;
      rec["complete"] = cap.ok() && !cap.result->out.truncated();
      if (!cap.ok()) rec["error"] = cap.summary();
      if (cap.stored) {
        ++step.artifacts;
        step.bytes += cap.bytes;
      }
    } else {
      rec["error"] = cap.summary();
      if (cap.not_found()) break;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

// One tar command's files. The exec API carries argv in the URL and the runtime takes it as UTF-8
// strings, so a name that is not UTF-8 cannot be an argument: such names go in batches of their
// own whose tar runs under `sh -c`, each name rebuilt inside the container by printf from octal
// escapes (the script itself is ASCII), with a sentinel so trailing newlines survive $(...).
struct Batch {
  std::vector<const forensics::fslist::Entry*> files;
  bool through_shell = false;
};

// The script of a shell batch: `tar -c -f - -C ROOT -- NAME...` with NAMEs rebuilt by printf.
std::string shell_tar_script(const std::string& root, const std::vector<const forensics::fslist::Entry*>& files) {
  std::string script = "set --\n";
  for (const auto* e : files) {
    std::string octal;
    for (const char c : e->path.substr(1)) octal += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
    script += "f=$(printf '" + octal + "X'); set -- \"$@\" \"${f%X}\"\n";
  }
  script += "exec tar -c -f - -C '" + root + "' -- \"$@\"\n";
  return script;
}

// Splits the selection into tar commands whose argv stays small (the exec API carries it in the
// URL) and whose content stays under a bound.
std::vector<Batch> batches(const Selection& sel) {
  std::vector<Batch> out;
  for (const bool shell : {false, true}) {
    std::size_t argv_bytes = 0;
    std::uint64_t content = 0;
    bool open = false;
    for (const auto& e : sel.files) {
      if (util::is_valid_utf8(e.path) == shell) continue;
      // percent-encoding at worst; a shell name is "\ooo" per byte, each character encoded
      const std::size_t cost = shell ? e.path.size() * 12 + 64 : e.path.size() * 3 + 10;
      if (!open || argv_bytes + cost > k_max_batch_argv || content + e.size > k_max_batch_bytes) {
        out.push_back({{}, shell});
        argv_bytes = 0;
        content = 0;
        open = true;
      }
      out.back().files.push_back(&e);
      argv_bytes += cost;
      content += e.size;
    }
  }
  return out;
}

json hash_files(Ctx& ctx, const ExecTarget& t, const Selection& sel, StepRecord& step, bool& tar_missing) {
  json out = json::array();
  const auto groups = batches(sel);
  int n = 0;
  for (const auto& batch : groups) {
    if (ctx.cancelled()) break;
    ++n;
    const auto& group = batch.files;
    const std::string root = t.root.empty() ? "/" : t.root + "/";
    std::vector<std::string> argv{"tar", "-c", "-f", "-", "-C", root, "--"};
    std::uint64_t expected = 0;
    std::set<std::string> requested;
    for (const auto* e : group) {
      argv.push_back(e->path.substr(1));  // relative to -C
      requested.insert(util::escape_for_terminal(e->path.substr(1)));  // as TarMember names are
      expected += e->size + 3 * 512 + 1024;
    }
    std::string source = fmt::format("tar -c -f - -C {} -- <{} files: see filesystem/hashes.json>", root, group.size());
    if (batch.through_shell) {
      argv = {"sh", "-c", shell_tar_script(root, group)};
      source = fmt::format("sh -c 'set -- <{} names that are not UTF-8, rebuilt by printf>; exec tar -c -f - -C {} -- \"$@\"'",
                           group.size(), root);
    }
    forensics::TarDigestSink digest;
    std::string entry;
    std::optional<evidence::PartSink> parts;
    if (ctx.options.fs == FsMode::archive) {
      entry = fmt::format("{}filesystem/archive-{:03}.tar", t.dir, n);
      parts.emplace(ctx.env.bundle, entry, evidence::ArtifactMeta{.source = exec_source(t, source), .method = t.method});
    }
    util::TeeSink tee(parts ? std::vector<util::Sink*>{&digest, &*parts} : std::vector<util::Sink*>{&digest});
    auto cap = run_command(ctx, t, {.argv = argv, .source = source, .tee = &tee, .max_stdout = expected + (1 << 20),
                                    .timeout = std::chrono::seconds(1800)});
    if (cap.not_found() && batch.through_shell) {
      for (const auto* e : group) {
        out.push_back({{"path", util::esc(e->path, util::Cap::path)},
                       {"problem", "the name is not UTF-8 and the image has no sh to rebuild it: rerun with --ephemeral"}});
      }
      step.status = util::worst(step.status, util::Outcome::partial);
      continue;
    }
    if (cap.not_found()) {
      tar_missing = true;
      break;
    }
    if (parts && !cap.result) parts.reset();  // nothing more arrives: wait for the parts in flight
    if (parts && cap.result) {
      evidence::ArtifactMeta last{.source = exec_source(t, source), .method = t.method};
      if (cap.result->completed()) last.exit_status = cap.result->exit_code;
      last.truncated = !cap.result->completed() || cap.result->out.truncated();
      last.note = cap.result->completed() ? "" : cap.result->detail;
      if (auto c = parts->close(last); !c) {
        step.status = util::Outcome::failed;
        step.detail += "; archive: " + c.error().message;
      }
      step.artifacts += parts->parts();
      step.bytes += parts->bytes();
    }
    for (const auto& m : digest.members()) {
      json rec = forensics::to_json(m);
      rec["source"] = "tar";
      if (requested.count(m.name) == 0) rec["unexpected"] = true;  // the container's tar named something we did not ask for
      if (!entry.empty()) rec["archive"] = entry + ".*";
      out.push_back(std::move(rec));
    }
    for (const auto& p : digest.problems()) out.push_back({{"batch", n}, {"problem", p}});
    if (!cap.ok()) {
      step.status = util::Outcome::partial;
      step.detail += fmt::format("; tar batch {}: {}", n, cap.summary());
    }
  }
  return out;
}

void filesystem(Ctx& ctx, const ExecTarget& t, const json& walk_records) {
  StepRecord step{.container = t.container, .step = "filesystem", .method = t.method};
  if (ctx.options.fs == FsMode::none) return;
  std::vector<std::string> roots = ctx.options.paths;
  std::vector<std::string> cwd_root_skipped;
  for (const auto& r : walk_records) {
    if (r.value("kind", "") != "process" || !r.contains("cwd") || !r["cwd"].is_string()) continue;
    const std::string cwd = r["cwd"];
    if (cwd == "/") continue;  // every file: --path must say so
    if (std::find(roots.begin(), roots.end(), cwd) == roots.end()) roots.push_back(cwd);
  }
  // Working directories come from the walk, escaped: only unescaped ones (no backslash) are used.
  roots.erase(std::remove_if(roots.begin(), roots.end(), [](const std::string& r) { return r.empty() || r[0] != '/' || r.find('\\') != std::string::npos; }),
              roots.end());
  Selection sel = listing(ctx, t, roots, step);
  if (step.status == util::Outcome::failed || ctx.cancelled()) {
    ctx.record(std::move(step));
    return;
  }
  StepRecord hashes{.container = t.container, .step = ctx.options.fs == FsMode::archive ? "archive" : "hashes", .method = t.method};
  json exes = hash_executables(ctx, t, walk_records, hashes);
  bool tar_missing = false;
  json files = hash_files(ctx, t, sel, hashes, tar_missing);
  json skipped = json::array();
  for (const auto& [p, why] : sel.skipped) skipped.push_back({{"path", util::esc(p, util::Cap::path)}, {"reason", why}});
  json doc = {{"roots", roots}, {"executables", exes}, {"files", files}, {"skipped", skipped},
              {"skipped_total", sel.skipped_total}, {"max_file_bytes", ctx.options.max_file_bytes}};
  if (tar_missing) {
    doc["problem"] = "no tar in the image: files under the roots were not hashed";
    ctx.report.not_collected.push_back(fmt::format(
        "hashes of {} files of container {}: the image has no tar; rerun with --ephemeral to read them from a trusted image",
        sel.files.size(), util::esc(t.container, util::Cap::word)));
    hashes.status = util::Outcome::partial;
  }
  ctx.add(hashes, t.dir + "filesystem/hashes.json", pretty(doc), local_meta(t, "SHA-256 computed by kubectl-ir on the streamed bytes"));
  std::string d = fmt::format("{} executables, {} files hashed", exes.size(), files.size());
  if (sel.skipped_total > 0) d += fmt::format(", {} skipped", sel.skipped_total);
  hashes.detail = d + hashes.detail;
  ctx.record(std::move(step));
  ctx.record(std::move(hashes));
}

// ---- ephemeral debug container ------------------------------------------------------------------

// The container's securityContext `field` (runAsUser, runAsGroup), else the pod's.
std::optional<std::int64_t> security_id(const json& pod, const std::string& container, const char* field) {
  const json spec = pod.value("spec", json::object());
  for (const auto& c : spec.value("containers", json::array())) {
    if (c.value("name", "") != container) continue;
    const json sc = c.value("securityContext", json::object());
    if (sc.contains(field) && sc[field].is_number_integer()) return sc[field].get<std::int64_t>();
  }
  const json psc = spec.value("securityContext", json::object());
  if (psc.contains(field) && psc[field].is_number_integer()) return psc[field].get<std::int64_t>();
  return std::nullopt;
}

// Adds a debug container targeting `container` and waits until it runs. Returns its name.
Result<std::string> add_ephemeral(Ctx& ctx, const json& pod, const std::string& container, StepRecord& step) {
  const auto& o = ctx.options;
  const std::string name = "kubectl-ir-" + util::to_lower(util::sha256_hex(util::random_bytes(8)).substr(0, 6));
  json sc = json::object();
  // The target's user and group: /proc/<pid>/root and exe are readable only by the same
  // credentials (without SYS_PTRACE), and a pod-level runAsGroup would otherwise apply alone.
  const auto uid = security_id(pod, container, "runAsUser");
  const auto gid = security_id(pod, container, "runAsGroup");
  if (uid) sc["runAsUser"] = *uid;
  if (gid) sc["runAsGroup"] = *gid;
  if (o.ptrace) sc["capabilities"] = {{"add", json::array({"SYS_PTRACE"})}};
  json c = {{"name", name},
            {"image", o.debug_image},
            {"imagePullPolicy", "IfNotPresent"},
            {"command", json::array({"sleep", std::to_string(o.ephemeral_lifetime.count())})},
            {"targetContainerName", container},
            {"stdin", false},
            {"tty", false},
            {"terminationMessagePolicy", "File"}};
  if (!sc.empty()) c["securityContext"] = sc;
  const std::string path = "/api/v1/namespaces/" + util::url_encode(o.namespace_name) + "/pods/" + util::url_encode(o.pod) +
                           "/ephemeralcontainers";
  IR_CHECK_CTX(kube::patch_object(ctx.env.client, path, {{"spec", {{"ephemeralContainers", json::array({c})}}}},
                                  "application/strategic-merge-patch+json", kube::DryRun::none,
                                  fmt::format("add ephemeral container to {}/{}", o.namespace_name, o.pod)),
               "ephemeral container");
  ctx.report.ephemeral_containers.push_back(name);
  if (ctx.env.log) {
    ctx.env.log("collect.ephemeral", {{"container", name}, {"target", container}, {"image", o.debug_image},
                                      {"runAsUser", uid ? json(*uid) : json(nullptr)},
                                      {"runAsGroup", gid ? json(*gid) : json(nullptr)}, {"ptrace", o.ptrace},
                                      {"note", "ephemeral containers cannot be removed; it exits after its sleep"}});
  }
  step.detail = fmt::format("added {} (image {}, {}{})", name, o.debug_image,
                            uid ? "uid " + std::to_string(*uid) : "the image's user",
                            o.ptrace ? ", SYS_PTRACE" : "");
  ctx.progress(fmt::format("waiting for debug container {} to start", name));
  util::Clock& clock = ctx.env.clock;
  const auto deadline = clock.steady_now() + o.ephemeral_start_timeout;
  while (clock.steady_now() < deadline) {
    if (ctx.cancelled()) return fail(Errc::cancelled, "cancelled while waiting for the debug container");
    auto p = kube::get_pod(ctx.env.client, o.namespace_name, o.pod);
    if (!p) return unexpected(p.error().context("waiting for the debug container"));
    for (const auto& cs : p->value("status", json::object()).value("ephemeralContainerStatuses", json::array())) {
      if (cs.value("name", "") != name) continue;
      const json state = cs.value("state", json::object());
      if (state.contains("running")) return name;
      if (state.contains("terminated")) return fail(Errc::failure, "debug container " + name + " terminated at once");
      const std::string reason = state.value("waiting", json::object()).value("reason", "");
      if (reason == "ErrImagePull" || reason == "ImagePullBackOff" || reason == "CreateContainerError" ||
          reason == "InvalidImageName" || reason == "CreateContainerConfigError") {
        return fail(Errc::failure, fmt::format("debug container {} cannot start: {}: {}", name, reason,
                                               state["waiting"].value("message", "")));
      }
    }
    clock.sleep_for(std::chrono::milliseconds(500));
  }
  return fail(Errc::timeout, fmt::format("debug container {} did not start within {}s", name, o.ephemeral_start_timeout.count()));
}

std::string state_of(const json& pod, const std::string& container, bool& running) {
  running = false;
  for (const auto& cs : pod.value("status", json::object()).value("containerStatuses", json::array())) {
    if (cs.value("name", "") != container) continue;
    const json state = cs.value("state", json::object());
    if (state.contains("running")) {
      running = true;
      return "running";
    }
    if (state.contains("waiting")) return "waiting: " + state["waiting"].value("reason", "");
    if (state.contains("terminated")) return "terminated: " + state["terminated"].value("reason", "");
  }
  return "no status";
}

}  // namespace

void collect_container(Ctx& ctx, const json& pod, const std::string& container) {
  ExecTarget t{container, container, evidence::Method::exec, "", container_dir(container)};
  bool running = false;
  const std::string state = state_of(pod, container, running);
  if (!running) {
    ctx.record({.container = container, .step = "processes", .status = util::Outcome::skipped, .method = evidence::Method::exec,
                .detail = "container not running (" + state + ")"});
    return;
  }
  ctx.progress(fmt::format("container {}: processes, network, filesystem", util::esc(container, util::Cap::word)));
  if (!ctx.allowed(Access::exec, container)) {
    ctx.record({.container = container, .step = "processes", .status = util::Outcome::failed, .method = evidence::Method::exec,
                .detail = "not attempted: forbidden: " + ctx.denied.at(Access::exec)});
    return;
  }
  Processes p = processes(ctx, t);
  if (p.shell_less) {
    const std::string what = fmt::format("processes, /proc/net and the filesystem of container {}", util::esc(container, util::Cap::word));
    if (!ctx.options.ephemeral) {
      ctx.record(std::move(p.unrecorded));
      ctx.report.not_collected.push_back(
          what + ": the image has no shell (" + (p.no_ps ? "no sh, no ps" : "no sh") +
          "); rerun with --ephemeral to read them from a debug container (" + ctx.options.debug_image +
          ") that shares the container's PID namespace (it stays in the pod spec)");
      return;
    }
    if (!ctx.allowed(Access::ephemeral, container)) {
      ctx.record(std::move(p.unrecorded));
      return;
    }
    // The evidence is read through a debug container below: the image's own lack of a shell
    // costs nothing, so this attempt is not a failure.
    p.unrecorded.status = util::Outcome::skipped;
    p.unrecorded.detail += ": read through a debug container instead";
    ctx.record(std::move(p.unrecorded));
    if (ctx.cancelled()) return;
    StepRecord step{.container = container, .step = "ephemeral", .method = evidence::Method::api};
    auto name = add_ephemeral(ctx, pod, container, step);
    if (!name) {
      step.status = util::Outcome::failed;
      step.detail = name.error().message;
      ctx.record(std::move(step));
      ctx.report.not_collected.push_back(what + ": debug container failed: " + name.error().message);
      return;
    }
    ctx.record(std::move(step));
    t.exec_container = *name;
    t.method = evidence::Method::ephemeral;
    // The debug container targets the container, so they share one PID namespace in which the
    // container's first process is pid 1; its files are under /proc/1/root.
    t.root = "/proc/1/root";
    if (pod.value("spec", json::object()).value("shareProcessNamespace", false)) {
      ctx.progress("note: the pod shares one PID namespace: pid 1 is the pause process; files are read through it");
    }
    p = processes(ctx, t);
  }
  if (ctx.cancelled()) return;
  network(ctx, t, p.walk_records);
  if (ctx.cancelled()) return;
  filesystem(ctx, t, p.walk_records);
}

}  // namespace ir::triage::collect_detail
