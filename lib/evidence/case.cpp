#include "evidence/case.hpp"

#include <fmt/format.h>

#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::evidence {

using nlohmann::json;

namespace {

constexpr std::size_t k_max_journal_bytes = 64ULL << 20;  // of the case journal copied into a bundle

std::string rfc3339_or_empty(util::TimePoint t) { return t == util::TimePoint{} ? "" : util::format_rfc3339(t); }

}  // namespace

const char* result_name(util::Outcome outcome) {
  switch (outcome) {
    case util::Outcome::ok:
    case util::Outcome::skipped: return "complete";
    case util::Outcome::interrupted: return "interrupted";
    case util::Outcome::partial:
    case util::Outcome::failed: return "partial";
  }
  return "partial";
}

json acquisition_json(const std::string& case_id, const Acquirer& a, const SealInput& input, util::TimePoint ended) {
  json subjects = json::array();
  for (const auto& s : input.subjects) {
    json images = json::array();
    for (const auto& i : s.images) images.push_back({{"container", i.container}, {"imageID", i.image_id}, {"digest", i.digest}});
    subjects.push_back({{"namespace", s.namespace_name}, {"pod", s.pod}, {"uid", s.uid},
                        {"resourceVersion", s.resource_version}, {"node", s.node}, {"images", images}});
  }
  json doc = {{"format", "kubectl-ir-acquisition/v1"},
              {"case", case_id},
              {"examiner", a.examiner},
              {"caller", a.caller},
              {"tool", {{"name", "kubectl-ir"}, {"version", a.tool_version}, {"commit", a.tool_commit}}},
              {"cluster", {{"context", a.context}, {"server", a.server}}},
              {"host", a.host},
              {"command", a.command_line},
              {"started", rfc3339_or_empty(a.started)},
              {"ended", util::format_rfc3339(ended)},
              {"result", result_name(input.result)},
              {"subjects", subjects},
              {"not_collected", input.not_collected}};
  for (auto it = input.extra.begin(); it != input.extra.end(); ++it) {
    if (!doc.contains(it.key())) doc[it.key()] = it.value();
  }
  return doc;
}

std::string acquisition_log(const std::string& case_id, const Acquirer& a, const SealInput& input, util::TimePoint ended) {
  std::string s = "kubectl-ir acquisition log\n";
  const auto line = [&](std::string_view key, const std::string& value) {
    s += fmt::format("{:<18}{}\n", std::string(key) + ":", util::esc(value, util::Cap::detail));
  };
  line("case", case_id);
  line("examiner", a.examiner);
  line("caller identity", a.caller.empty() ? "unknown (the server does not serve SelfSubjectReview)" : a.caller);
  line("started (UTC)", rfc3339_or_empty(a.started));
  line("ended (UTC)", util::format_rfc3339(ended));
  line("tool", "kubectl-ir " + a.tool_version + (a.tool_commit.empty() ? "" : " (" + a.tool_commit + ")"));
  line("host", a.host);
  line("command", a.command_line);
  line("context", a.context);
  line("server", a.server);
  for (const auto& sub : input.subjects) {
    line("namespace", sub.namespace_name);
    line("pod", sub.pod);
    line("pod uid", sub.uid);
    line("resourceVersion", sub.resource_version);
    line("node", sub.node);
    for (const auto& i : sub.images) {
      line("imageID " + util::esc(i.container, util::Cap::word), i.image_id.empty() ? "(not started)" : i.image_id);
    }
  }
  line("result", result_name(input.result));
  if (!input.details.empty()) s += "\n" + input.details;
  if (!input.not_collected.empty()) {
    s += "\nnot collected:\n";
    for (const auto& n : input.not_collected) s += "  " + util::esc(n, util::Cap::detail) + "\n";
  }
  return s;
}

Result<std::unique_ptr<Case>> Case::open(const std::string& cases_dir, const std::string& case_id, util::Clock& clock,
                                         json common) {
  IR_TRY(journal, Journal::open(cases_dir + "/" + case_id, case_id, clock));
  if (!common.is_object()) common = json::object();
  return std::unique_ptr<Case>(new Case(std::move(journal), clock, std::move(common)));
}

Result<void> Case::log(const std::string& action, const json& fields) {
  json f = m_common;
  if (fields.is_object()) f.update(fields);
  std::lock_guard lock(m_mutex);
  return m_journal.append(action, f);
}

std::function<void(const std::string&, const json&)> Case::logger(std::function<void(const Error&)> on_failure) {
  return [this, on_failure = std::move(on_failure)](const std::string& action, const json& fields) {
    if (auto r = log(action, fields); !r && on_failure) on_failure(r.error());
  };
}

Result<void> Case::open_bundle(const std::string& path) {
  if (m_bundle) return fail(Errc::failure, "the case's bundle is already open");
  IR_TRY(b, create_bundle(path, m_clock));
  m_bundle = std::move(b);
  m_bundle_path = path;
  return {};
}

Result<Case::SealResult> Case::seal(const std::string& verb, const Acquirer& acquirer, const SealInput& input) {
  if (!m_bundle) return fail(Errc::failure, "no bundle to seal");
  SealResult out;
  const auto note = [&](const std::string& what, const Error& e) {
    out.problems.push_back(what + ": " + e.message);
    (void)log(verb + ".seal-problem", {{"what", what}, {"error", e.message}});
  };
  const util::TimePoint ended = m_clock.now();
  const ArtifactMeta local{.source = "kubectl-ir", .method = evidence::Method::local};
  std::string acquisition = acquisition_json(id(), acquirer, input, ended).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  if (auto a = m_bundle->add("acquisition.json", acquisition, local); !a) {
    note("acquisition.json", a.error());
    acquisition.clear();
  }
  if (auto a = m_bundle->add("acquisition.log", acquisition_log(id(), acquirer, input, ended), local); !a) {
    note("acquisition.log", a.error());
  }
  (void)log(verb + ".end", {{"bundle", m_bundle_path},
                            {"result", result_name(input.result)},
                            {"artifacts", m_bundle->artifacts().size()},
                            {"not_collected", input.not_collected}});
  // The journal goes in last, so the bundle's copy holds every entry up to sealing.
  if (auto text = util::read_file(m_journal.path(), k_max_journal_bytes); !text) {
    note("journal.jsonl", text.error());
  } else if (auto a = m_bundle->add("journal.jsonl", *text, {.source = "case journal " + m_journal.path(), .method = evidence::Method::local}); !a) {
    note("journal.jsonl", a.error());
  }
  const std::size_t artifacts = m_bundle->artifacts().size();
  auto sha = m_bundle->finish();
  m_bundle.reset();
  if (!sha) {
    (void)log(verb + ".sealed", {{"bundle", m_bundle_path}, {"error", sha.error().message}});
    return unexpected(sha.error().context("bundle").with_hint("what was collected is in " + m_bundle_path + ".partial"));
  }
  (void)log(verb + ".sealed", {{"bundle", m_bundle_path}, {"sha256", *sha}, {"artifacts", artifacts}});
  out.sealed = {m_bundle_path, *sha, artifacts};
  out.acquisition_json = std::move(acquisition);
  return out;
}

std::function<void(const std::string&, const json&)> PendingLog::logger() {
  return [this](const std::string& action, const json& fields) {
    std::lock_guard lock(m_mutex);
    m_entries.emplace_back(action, fields);
  };
}

Result<void> PendingLog::flush(Case& c) {
  std::vector<std::pair<std::string, json>> entries;
  {
    std::lock_guard lock(m_mutex);
    entries.swap(m_entries);
  }
  Result<void> first;
  for (const auto& [action, fields] : entries) {
    if (auto r = c.log(action, fields); !r && first) first = r;
  }
  return first;
}

std::size_t PendingLog::size() const {
  std::lock_guard lock(m_mutex);
  return m_entries.size();
}

}  // namespace ir::evidence
