#include "triage/collect.hpp"

#include <set>

#include <fmt/format.h>

#include "kube/api.hpp"
#include "triage/collect_steps.hpp"
#include "util/strings.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {
constexpr std::size_t k_max_stderr_kept = 64 * 1024;
constexpr std::size_t k_max_shown = 200;  // bytes of a cluster-supplied value in one log line

std::string esc(std::string_view s, std::size_t max = k_max_shown) { return util::escape_for_terminal(s, max); }

json str_at(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->contains(key)) return "";
    cur = &(*cur)[key];
  }
  return cur->is_string() ? *cur : json("");
}
}  // namespace

const char* to_string(FsMode mode) {
  switch (mode) {
    case FsMode::none: return "none";
    case FsMode::listing: return "listing";
    case FsMode::archive: return "archive";
  }
  return "?";
}

std::optional<FsMode> parse_fs_mode(const std::string& text) {
  if (text == "none") return FsMode::none;
  if (text == "listing") return FsMode::listing;
  if (text == "archive") return FsMode::archive;
  return std::nullopt;
}

bool CollectReport::partial() const {
  if (cancelled || !not_collected.empty()) return true;
  for (const auto& s : steps) {
    if (s.status == "failed" || s.status == "partial") return true;
  }
  return false;
}

namespace collect_detail {

bool Ctx::cancelled() const { return env.cancel != nullptr && env.cancel->cancelled(); }

void Ctx::progress(const std::string& line) const {
  if (env.progress) env.progress(line);
}

void Ctx::record(StepRecord step) {
  std::string where = step.container.empty() ? "" : " [" + esc(step.container, 64) + "]";
  std::string line = fmt::format("{:<16}{} {}", step.step, where, step.status);
  if (step.artifacts > 0) line += fmt::format(", {} artifact{}", step.artifacts, step.artifacts == 1 ? "" : "s");
  if (!step.detail.empty()) line += ": " + esc(step.detail, 300);
  progress(line);
  if (step.status != "ok" && step.status != "skipped" && env.log) {
    env.log("collect.step", {{"step", step.step}, {"container", step.container}, {"status", step.status},
                             {"method", step.method}, {"detail", step.detail}});
  }
  report.steps.push_back(std::move(step));
}

void Ctx::add(StepRecord& step, const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) {
  auto a = env.bundle.add(name, data, meta);
  if (!a) {
    step.status = "failed";
    step.detail = "bundle: " + a.error().message;
    return;
  }
  ++step.artifacts;
  step.bytes += a->size;
}

std::string Captured::summary() const {
  if (error) return error->message;
  if (!result) return "not run";
  if (!result->completed()) return result->detail;
  if (result->exit_code != 0) {
    std::string s = fmt::format("exit {}", result->exit_code);
    const auto first_line = stderr_text.substr(0, stderr_text.find('\n'));
    if (!first_line.empty()) s += ": " + esc(first_line, 160);
    return s;
  }
  return "ok";
}

std::string describe_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$") == std::string::npos;
    s += plain ? a : "'" + a + "'";
  }
  return esc(s, 512);
}

std::string exec_source(const Target& target, const std::string& command) {
  return fmt::format("exec {}{}: {}", esc(target.exec_container, 64),
                     target.exec_container == target.container ? "" : " (target " + esc(target.container, 64) + ")", command);
}

std::string container_dir(const std::string& container) {
  return "containers/" + evidence::safe_component(container) + "/";
}

Captured run_command(Ctx& ctx, const Target& target, const CommandSpec& spec) {
  Captured cap;
  const auto& o = ctx.options;
  evidence::ArtifactMeta meta;
  meta.method = target.method;
  meta.source = exec_source(target, spec.source.empty() ? describe_argv(spec.argv) : spec.source);
  if (ctx.cancelled()) {
    cap.error = Error(Errc::cancelled, "cancelled before it ran");
    return cap;
  }

  std::unique_ptr<evidence::EntrySink> entry;
  if (!spec.entry.empty()) {
    auto e = ctx.env.bundle.open_entry(spec.entry, meta);
    if (!e) {
      cap.error = e.error().context("bundle");
      return cap;
    }
    entry = std::move(*e);
  }
  util::NullSink discard;
  util::MemorySink copy(spec.keep);
  std::vector<util::Sink*> outs{entry ? static_cast<util::Sink*>(entry.get()) : &discard};
  if (spec.keep > 0) outs.push_back(&copy);
  if (spec.tee != nullptr) outs.push_back(spec.tee);
  util::TeeSink out(outs);
  util::MemorySink err(k_max_stderr_kept);

  exec::ExecLimits limits;
  limits.max_stdout = spec.max_stdout > 0 ? spec.max_stdout : o.max_output_bytes;
  limits.max_stderr = 1024 * 1024;
  limits.total_timeout = spec.timeout.count() > 0 ? spec.timeout : o.command_timeout;
  limits.idle_timeout = o.idle_timeout;
  const exec::ExecRequest request{o.namespace_name, o.pod, target.exec_container, spec.argv};
  auto r = exec::run_exec(ctx.env.client, ctx.env.connector, request, out, err, {}, limits, ctx.env.cancel);
  cap.stderr_text = err.data();
  if (!r) {
    cap.error = r.error();
    if (spec.tee != nullptr) (void)spec.tee->finish();
    return cap;  // the entry is dropped: nothing arrived
  }
  cap.result = *r;
  cap.bytes = r->out.kept;
  if (spec.keep > 0) {
    cap.stdout_copy_complete = !copy.overflowed();
    cap.stdout_copy = copy.take();
  }
  if (spec.tee != nullptr) {
    if (auto f = spec.tee->finish(); !f) cap.error = f.error();
  }
  if (entry) {
    const bool failed = r->completed() && r->exit_code != 0;
    if (!failed || spec.store_on_failure) {
      if (r->completed()) meta.exit_status = r->exit_code;
      meta.truncated = !r->completed() || r->out.truncated();
      meta.note = r->completed() ? "" : r->detail;
      auto c = entry->commit(meta);
      if (!c) {
        cap.error = c.error().context("bundle");
        return cap;
      }
      cap.stored = true;
      if (!cap.stderr_text.empty()) {
        evidence::ArtifactMeta em = meta;
        em.truncated = err.overflowed() || r->err.truncated();
        em.note = "stderr of the command";
        (void)ctx.env.bundle.add(spec.entry + ".stderr", cap.stderr_text, em);
      }
    }
  }
  return cap;
}

}  // namespace collect_detail

Result<json> read_target_pod(kube::Client& client, const std::string& ns, const std::string& pod) {
  return kube::get_pod(client, ns, pod);
}

Result<CollectReport> collect(CollectEnv& env, const CollectOptions& options, const json& pod) {
  using namespace collect_detail;
  CollectReport report;
  report.pod = pod;
  report.pod_uid = str_at(pod, {"metadata", "uid"});
  report.resource_version = str_at(pod, {"metadata", "resourceVersion"});
  report.node = str_at(pod, {"spec", "nodeName"});

  // Which containers: all (init containers only for their logs), or the ones asked for.
  std::vector<std::string> names;
  std::set<std::string> known;
  const json spec = pod.value("spec", json::object());
  for (const char* key : {"containers", "initContainers", "ephemeralContainers"}) {
    for (const auto& c : spec.value(key, json::array())) {
      if (c.is_object() && c.contains("name") && c["name"].is_string()) {
        known.insert(c["name"].get<std::string>());
        if (std::string(key) == "containers") names.push_back(c["name"].get<std::string>());
      }
    }
  }
  if (!options.containers.empty()) {
    for (const auto& c : options.containers) {
      if (known.count(c) == 0) {
        std::vector<std::string> have(known.begin(), known.end());
        return fail(Errc::usage, fmt::format("container \"{}\" is not in pod {}/{} (have: {})", esc(c, 64),
                                             options.namespace_name, options.pod, esc(util::join(have, ", "))));
      }
    }
    names = options.containers;
  }

  Ctx ctx{env, options, report};
  collect_api_state(ctx, pod);  // pod, images, owners, node, events, network policies
  collect_logs(ctx, pod);
  for (const auto& name : names) {
    if (ctx.cancelled()) break;
    collect_container(ctx, pod, name);
  }
  report.cancelled = ctx.cancelled();
  if (report.cancelled && env.log) env.log("collect.cancelled", {{"steps_done", report.steps.size()}});
  return report;
}

std::string render_acquisition_log(const AcquisitionInfo& info, const CollectOptions& options,
                                   const CollectReport& report) {
  std::string s;
  const auto line = [&](std::string_view key, const std::string& value) {
    s += fmt::format("{:<18}{}\n", std::string(key) + ":", esc(value, 1024));
  };
  s += "kubectl-ir acquisition log\n";
  line("case", info.case_id);
  line("examiner", info.examiner);
  line("caller identity", info.caller.empty() ? "unknown (the server does not serve SelfSubjectReview)" : info.caller);
  line("started (UTC)", info.started);
  line("ended (UTC)", info.ended);
  line("tool", "kubectl-ir " + info.tool_version);
  line("host", info.host);
  line("command", info.command_line);
  line("context", info.context);
  line("server", info.server);
  line("namespace", options.namespace_name);
  line("pod", options.pod);
  line("pod uid", report.pod_uid);
  line("resourceVersion", report.resource_version);
  line("node", report.node);
  for (const auto& [container, id] : report.image_ids.items()) {
    line("imageID " + esc(container, 64), id.is_string() && !id.get<std::string>().empty() ? id.get<std::string>()
                                                                                          : "(not started)");
  }
  line("filesystem", to_string(options.fs));
  line("paths", util::join(options.paths, " "));
  for (const auto& e : report.ephemeral_containers) line("ephemeral added", e);
  line("result", report.cancelled ? "interrupted (partial)" : report.partial() ? "partial" : "complete");
  s += "\nsteps:\n";
  for (const auto& st : report.steps) {
    s += fmt::format("  {:<16} {:<12} {:<8} {:<9} {}\n", st.step, esc(st.container.empty() ? "-" : st.container, 12),
                     st.status, st.method, esc(st.detail, 400));
  }
  if (!report.not_collected.empty()) {
    s += "\nnot collected:\n";
    for (const auto& n : report.not_collected) s += "  " + esc(n, 600) + "\n";
  }
  return s;
}

}  // namespace ir::triage
