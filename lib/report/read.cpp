// Reads an evidence bundle into a report::Model during the pass that verifies it. The formats read
// are the bundle's own (lib/evidence/bundle.hpp), the collector's parsed records (procfs.hpp,
// fslist.hpp: already escaped for a terminal), Kubernetes objects (raw: escaped here), the case
// journal, playbook/run.json, acquisition.json and the analysis documents (kubectl-ir-analysis/v1).
// Nothing here trusts a field's type: a value of the wrong type is treated as absent.

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "report/model.hpp"
#include "report/time.hpp"
#include "util/escape.hpp"

namespace ir::report {

namespace {

using nlohmann::json;
using util::Text;

constexpr std::size_t k_max_field = 4096;             // bytes of one raw string field shown
constexpr std::size_t k_max_line_buffer = 64 * 1024;  // a listing or log line longer than this is skipped

// The visible form of a raw string (API objects, logs) or of a parser's stored string.
std::string raw_text(std::string_view s, std::size_t max = k_max_field) {
  return util::visible_text(s, Text::raw, max);
}
std::string parsed_text(std::string_view s, std::size_t max = k_max_field) {
  return util::visible_text(s, Text::escaped, max);
}

// Typed access to untrusted JSON: the wrong type is absent.
const json* field(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
std::string str(const json& j, std::string_view key) {
  const json* v = field(j, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}
std::optional<std::int64_t> integer(const json& j, std::string_view key) {
  const json* v = field(j, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) return v->get<std::int64_t>();
  if (v->is_number_unsigned() && v->get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->get<std::uint64_t>());
  }
  return std::nullopt;
}
const json& sub(const json& j, std::string_view key) {
  static const json k_null;
  const json* v = field(j, key);
  return v != nullptr ? *v : k_null;
}
bool truthy(const json& j, std::string_view key) {
  const json* v = field(j, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

std::optional<json> parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

Severity parse_severity(const std::string& s) {
  if (s == "critical") return Severity::critical;
  if (s == "high") return Severity::high;
  if (s == "medium") return Severity::medium;
  if (s == "low") return Severity::low;
  return Severity::info;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "containers/<c>/<rest>" -> {c, rest}; nullopt for other names.
std::optional<std::pair<std::string, std::string>> container_entry(std::string_view name) {
  if (!starts_with(name, "containers/")) return std::nullopt;
  const std::string_view tail = name.substr(11);
  const auto slash = tail.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  return std::make_pair(std::string(tail.substr(0, slash)), std::string(tail.substr(slash + 1)));
}

// "pods/<ns>/<pod>/<rest>" -> {"<ns>/<pod>", rest}.
std::optional<std::pair<std::string, std::string>> other_pod_entry(std::string_view name) {
  if (!starts_with(name, "pods/")) return std::nullopt;
  const std::string_view tail = name.substr(5);
  const auto a = tail.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = tail.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(tail.substr(0, b)), std::string(tail.substr(b + 1)));
}

// Which whole documents the report reads (bounded by ReadOptions::max_json_bytes).
bool is_document(std::string_view name) {
  static const std::set<std::string_view> k_top = {
      "manifest.json",      "acquisition.json", "acquisition.log", "journal.jsonl",  "playbook/run.json",
      "pod/pod.json",       "pod/events.json",  "pod/images.json", "node/node.json", "analysis/indicators.json",
      "analysis/drift.json"};
  if (k_top.count(name) != 0) return true;
  if (starts_with(name, "pod/owner-") && ends_with(name, ".json")) return true;
  if (const auto c = container_entry(name)) {
    const std::string& rest = c->second;
    return rest == "processes/processes.json" || rest == "processes/ps.json" || rest == "network/sockets.json" ||
           rest == "filesystem/hashes.json";
  }
  if (const auto p = other_pod_entry(name)) {
    return p->second == "pod/pod.json" || p->second == "analysis/indicators.json" || p->second == "analysis/drift.json";
  }
  return false;
}

// A log of the subject: "logs/<c>.log" or "logs/<c>.previous.log" -> {container, previous}.
std::optional<std::pair<std::string, bool>> log_entry(std::string_view name) {
  if (!starts_with(name, "logs/") || !ends_with(name, ".log")) return std::nullopt;
  std::string_view base = name.substr(5, name.size() - 9);
  if (base.empty() || base.find('/') != std::string_view::npos) return std::nullopt;
  bool previous = false;
  if (ends_with(base, ".previous")) {
    previous = true;
    base.remove_suffix(9);
  }
  return std::make_pair(std::string(base), previous);
}

// --- streaming line readers -------------------------------------------------------------------

// Splits streamed chunks into lines, bounded: a line longer than k_max_line_buffer is passed cut
// (its start) with `cut` set, and the rest of it skipped.
class LineSplitter {
 public:
  template <class F>
  void feed(std::string_view chunk, F&& on_line) {
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      const std::string_view part = chunk.substr(0, nl);
      if (!m_skipping) {
        const std::size_t room = k_max_line_buffer - std::min(k_max_line_buffer, m_carry.size());
        if (part.size() > room) {
          m_carry.append(part.substr(0, room));
          m_cut = true;
        } else {
          m_carry.append(part);
        }
      }
      if (nl == std::string_view::npos) {
        if (m_cut) m_skipping = true;
        return;
      }
      on_line(std::string_view(m_carry), m_cut);
      m_carry.clear();
      m_cut = false;
      m_skipping = false;
      chunk.remove_prefix(nl + 1);
    }
  }
  template <class F>
  void finish(F&& on_line) {
    if (!m_carry.empty()) on_line(std::string_view(m_carry), m_cut);
    m_carry.clear();
  }

 private:
  std::string m_carry;
  bool m_cut = false;
  bool m_skipping = false;
};

// listing.jsonl lines (fslist.hpp's records) -> FileEntry, with simdjson's On-Demand parser.
class ListingReader {
 public:
  ListingReader(std::vector<FileEntry>& out, std::size_t& dropped, std::size_t& unparsed, std::size_t max,
                std::uint16_t container)
      : m_out(out), m_dropped(dropped), m_unparsed(unparsed), m_max(max), m_container(container) {}

  void line(std::string_view text, bool cut) {
    if (text.empty()) return;
    if (cut) {
      ++m_unparsed;
      return;
    }
    m_buffer.assign(text);
    m_buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    FileEntry e;
    e.container = m_container;
    try {
      namespace od = simdjson::ondemand;
      od::document doc =
          m_parser.iterate(simdjson::padded_string_view(m_buffer.data(), m_buffer.size(), m_buffer.capacity()));
      od::object obj;
      if (doc.get_object().get(obj) != simdjson::SUCCESS) {
        ++m_unparsed;
        return;
      }
      bool entry = false;
      std::optional<std::int64_t> mtime_epoch;
      for (auto f : obj) {
        std::string_view key;
        if (f.unescaped_key().get(key) != simdjson::SUCCESS) continue;
        auto v = f.value();
        std::string_view s;
        std::uint64_t u = 0;
        std::int64_t i = 0;
        if (key == "kind") {
          entry = v.get_string().get(s) == simdjson::SUCCESS && s == "entry";
        } else if (key == "path") {
          if (v.get_string().get(s) == simdjson::SUCCESS) e.path = parsed_text(s, 8192);
        } else if (key == "target") {
          if (v.get_string().get(s) == simdjson::SUCCESS) e.target = parsed_text(s, 8192);
        } else if (key == "type") {
          if (v.get_string().get(s) == simdjson::SUCCESS) e.type = type_letter(s);
        } else if (key == "size") {
          if (v.get_uint64().get(u) == simdjson::SUCCESS) e.size = u;
        } else if (key == "uid") {
          if (v.get_uint64().get(u) == simdjson::SUCCESS && u <= UINT32_MAX) e.uid = static_cast<std::uint32_t>(u);
        } else if (key == "gid") {
          if (v.get_uint64().get(u) == simdjson::SUCCESS && u <= UINT32_MAX) e.gid = static_cast<std::uint32_t>(u);
        } else if (key == "mode") {
          if (v.get_string().get(s) == simdjson::SUCCESS) e.mode = octal(s);
        } else if (key == "mtime") {
          if (v.get_string().get(s) == simdjson::SUCCESS) {
            if (const auto t = parse_time_us(s)) {
              e.mtime = *t / 1'000'000;
              e.mtime_known = true;
            }
          }
        } else if (key == "mtime_epoch") {
          if (v.get_int64().get(i) == simdjson::SUCCESS) mtime_epoch = i;
        } else if (key == "flags") {
          simdjson::ondemand::array a;
          if (v.get_array().get(a) == simdjson::SUCCESS) {
            for (auto x : a) {
              (void)x;
              e.flagged = true;
            }
          }
        }
      }
      if (!entry) {
        ++m_unparsed;
        return;
      }
      if (!e.mtime_known && mtime_epoch) {
        e.mtime = *mtime_epoch;
        e.mtime_known = true;
      }
    } catch (const simdjson::simdjson_error&) {
      ++m_unparsed;
      return;
    }
    if (m_out.size() >= m_max) {
      ++m_dropped;
      return;
    }
    m_out.push_back(std::move(e));
  }

 private:
  static char type_letter(std::string_view t) {
    if (t == "file") return 'f';
    if (t == "dir") return 'd';
    if (t == "symlink") return 'l';
    if (t == "block") return 'b';
    if (t == "char") return 'c';
    if (t == "fifo") return 'p';
    if (t == "socket") return 's';
    return '?';
  }
  static std::uint32_t octal(std::string_view s) {
    std::uint32_t m = 0;
    for (const char c : s.substr(0, 6)) {
      if (c < '0' || c > '7') return 0;
      m = m * 8 + static_cast<std::uint32_t>(c - '0');
    }
    return m;
  }

  std::vector<FileEntry>& m_out;
  std::size_t& m_dropped;
  std::size_t& m_unparsed;
  std::size_t m_max;
  std::uint16_t m_container;
  simdjson::ondemand::parser m_parser;
  std::string m_buffer;
};

// A log with timestamps ("2026-12-05T11:14:10.077934421Z text"): the first and last halves of
// max_lines lines kept as events.
class LogReader {
 public:
  LogReader(std::string artifact, std::string container, bool previous, const ReadOptions& options)
      : m_artifact(std::move(artifact)), m_container(std::move(container)), m_previous(previous), m_options(options) {}

  void line(std::string_view text, bool cut) {
    ++m_lines;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    const std::size_t head = m_options.max_log_lines - m_options.max_log_lines / 2;
    if (m_head.size() < head) {
      m_head.push_back(make(text, cut));
      return;
    }
    if (m_options.max_log_lines / 2 == 0) return;
    m_tail.push_back(make(text, cut));
    if (m_tail.size() > m_options.max_log_lines / 2) m_tail.pop_front();
  }

  void finish(std::vector<Event>& events, std::vector<std::string>& notes) {
    const std::size_t kept = m_head.size() + m_tail.size();
    for (auto& e : m_head) events.push_back(std::move(e));
    for (auto& e : m_tail) events.push_back(std::move(e));
    if (kept < m_lines) {
      notes.push_back(
          fmt::format("{}: {} of {} lines on the timeline (the first and last {}); the whole log is in the bundle",
                      m_artifact, kept, m_lines, m_options.max_log_lines / 2));
    }
    if (m_untimed > 0) {
      notes.push_back(fmt::format("{}: {} lines without a timestamp are placed at the previous line's time", m_artifact,
                                  m_untimed));
    }
  }

 private:
  Event make(std::string_view text, bool cut) {
    Event e;
    e.kind = EventKind::log;
    e.source = m_artifact;
    e.container = m_container;
    e.order = m_lines;
    std::string_view body = text;
    const auto space = text.find(' ');
    const std::optional<std::int64_t> t =
        space == std::string_view::npos ? std::nullopt : parse_time_us(text.substr(0, space));
    if (t) {
      m_last = *t;
      body = text.substr(space + 1);
    } else {
      ++m_untimed;
    }
    e.time_us = m_last;
    std::string message = raw_text(body, m_options.max_line_bytes);
    if (cut) message += " ...(line longer than 64 KiB, cut)";
    e.message = (m_previous ? "[previous " : "[") + m_container + "] " + message;
    return e;
  }

  std::string m_artifact;
  std::string m_container;
  bool m_previous;
  const ReadOptions& m_options;
  std::size_t m_lines = 0;
  std::size_t m_untimed = 0;
  std::int64_t m_last = 0;
  std::vector<Event> m_head;
  std::deque<Event> m_tail;
};

// --- the visitor --------------------------------------------------------------------------------

class Reader final : public evidence::EntryVisitor {
 public:
  explicit Reader(const ReadOptions& options, Model& model) : m_options(options), m_model(model) {}

  bool wants(std::string_view name, std::uint64_t /*size*/) override {
    m_current = Current::none;
    if (const auto p = other_pod_entry(name)) m_other_pods.insert(p->first);
    if (const auto c = container_entry(name)) {
      if (std::find(m_model.containers.begin(), m_model.containers.end(), c->first) == m_model.containers.end() &&
          m_model.containers.size() < 1000) {
        m_model.containers.push_back(c->first);
      }
      if (c->second == "filesystem/listing.jsonl") {
        const std::size_t found = container_index(c->first);
        if (found >= m_model.containers.size()) return false;  // past the containers kept
        m_current = Current::listing;
        const auto index = static_cast<std::uint16_t>(found);
        m_listing = std::make_unique<ListingReader>(m_model.files, m_model.files_dropped, m_listing_unparsed,
                                                    m_options.max_files, index);
        m_lines = LineSplitter{};
        return true;
      }
    }
    if (const auto l = log_entry(name)) {
      m_current = Current::log;
      m_log = std::make_unique<LogReader>(std::string(name), parsed_text(l->first), l->second, m_options);
      m_lines = LineSplitter{};
      return true;
    }
    if (is_document(name)) {
      m_current = Current::document;
      m_doc_name = std::string(name);
      m_doc.clear();
      m_doc_cut = false;
      return true;
    }
    return false;
  }

  Result<void> data(std::string_view /*name*/, std::string_view chunk) override {
    switch (m_current) {
      case Current::listing:
        m_lines.feed(chunk, [&](std::string_view line, bool cut) { m_listing->line(line, cut); });
        break;
      case Current::log:
        m_lines.feed(chunk, [&](std::string_view line, bool cut) { m_log->line(line, cut); });
        break;
      case Current::document: {
        const std::size_t room = m_options.max_json_bytes - std::min(m_options.max_json_bytes, m_doc.size());
        if (chunk.size() > room) m_doc_cut = true;
        m_doc.append(chunk.substr(0, room));
        break;
      }
      case Current::none:
        break;
    }
    return {};
  }

  Result<void> end(std::string_view name) override {
    switch (m_current) {
      case Current::listing:
        m_lines.finish([&](std::string_view line, bool cut) { m_listing->line(line, cut); });
        m_listing.reset();
        break;
      case Current::log:
        m_lines.finish([&](std::string_view line, bool cut) { m_log->line(line, cut); });
        m_log->finish(m_model.events, m_model.notes);
        m_log.reset();
        break;
      case Current::document:
        if (m_doc_cut) {
          m_model.notes.push_back(
              fmt::format("{}: larger than {} MiB, not read", name, m_options.max_json_bytes >> 20));
        } else {
          m_docs.emplace(std::string(name), std::move(m_doc));
        }
        m_doc = std::string();
        break;
      case Current::none:
        break;
    }
    m_current = Current::none;
    return {};
  }

  std::size_t container_index(const std::string& c) {
    const auto it = std::find(m_model.containers.begin(), m_model.containers.end(), c);
    return static_cast<std::size_t>(it - m_model.containers.begin());
  }

  const std::string* doc(const std::string& name) const {
    const auto it = m_docs.find(name);
    return it == m_docs.end() ? nullptr : &it->second;
  }
  const std::map<std::string, std::string>& docs() const { return m_docs; }
  const std::set<std::string>& other_pods() const { return m_other_pods; }
  std::size_t listing_unparsed() const { return m_listing_unparsed; }

 private:
  enum class Current { none, listing, log, document };
  const ReadOptions& m_options;
  Model& m_model;
  Current m_current = Current::none;
  LineSplitter m_lines;
  std::unique_ptr<ListingReader> m_listing;
  std::unique_ptr<LogReader> m_log;
  std::size_t m_listing_unparsed = 0;
  std::string m_doc_name;
  std::string m_doc;
  bool m_doc_cut = false;
  std::map<std::string, std::string> m_docs;
  std::set<std::string> m_other_pods;
};

// --- building the model from the documents ----------------------------------------------------

class Builder {
 public:
  Builder(const Reader& reader, Model& model, const ReadOptions& options)
      : m_reader(reader), m_model(model), m_options(options) {}

  void build() {
    read_manifest();
    read_acquisition();
    read_pod();
    read_journal();
    read_run();
    read_processes();
    read_sockets();
    read_hashes();
    read_findings();
    read_siblings();
    link_findings();
    finish_events();
    if (m_reader.listing_unparsed() > 0) {
      m_model.notes.push_back(
          fmt::format("file listing: {} records could not be parsed (see listing.jsonl)", m_reader.listing_unparsed()));
    }
    if (m_model.files_dropped > 0) {
      m_model.notes.push_back(fmt::format("file listing: {} entries past the first {} are not shown",
                                          m_model.files_dropped, m_options.max_files));
    }
  }

 private:
  std::optional<json> doc(const std::string& name, bool note_if_missing = false) {
    const std::string* text = m_reader.doc(name);
    if (text == nullptr) {
      if (note_if_missing) m_model.notes.push_back(name + ": not in the bundle");
      return std::nullopt;
    }
    auto j = parse_json(*text);
    if (!j) m_model.notes.push_back(name + ": not valid JSON, not shown");
    return j;
  }

  void event(std::optional<std::int64_t> t, EventKind kind, std::string message, std::string source,
             std::string container = {}, bool estimated = false) {
    if (!t) return;
    if (m_model.events.size() >= m_options.max_events) {
      ++m_events_dropped;
      return;
    }
    Event e;
    e.time_us = *t;
    e.kind = kind;
    e.message = std::move(message);
    e.source = std::move(source);
    e.container = std::move(container);
    e.estimated = estimated;
    e.order = m_order++;
    m_model.events.push_back(std::move(e));
  }

  void read_manifest() {
    auto m = doc("manifest.json");
    if (!m) return;
    const json& arts = sub(*m, "artifacts");
    if (!arts.is_array()) return;
    for (const auto& a : arts) {
      if (m_model.artifacts.size() >= m_options.max_artifacts) {
        ++m_model.artifacts_dropped;
        continue;
      }
      ArtifactRow r;
      r.path = raw_text(str(a, "path"), 1024);
      if (const auto s = integer(a, "size"); s && *s >= 0) r.size = static_cast<std::uint64_t>(*s);
      r.sha256 = raw_text(str(a, "sha256"), 64);
      r.method = raw_text(str(a, "method"), 32);
      r.source = raw_text(str(a, "source"), 1024);
      r.collected_at = raw_text(str(a, "collected_at"), 64);
      r.truncated = truthy(a, "truncated");
      r.note = raw_text(str(a, "note"), 1024);
      m_collected_at[str(a, "path")] = str(a, "collected_at");
      m_model.artifacts.push_back(std::move(r));
    }
    if (m_model.artifacts_dropped > 0) {
      m_model.notes.push_back(fmt::format("custody table: {} manifest rows past the first {} are not shown",
                                          m_model.artifacts_dropped, m_options.max_artifacts));
    }
  }

  void read_acquisition() {
    if (const std::string* log = m_reader.doc("acquisition.log")) {
      // Already escaped for a terminal by the collector, line by line.
      std::string text;
      std::size_t start = 0;
      while (start <= log->size() && text.size() < (1U << 20)) {
        const auto nl = log->find('\n', start);
        const std::string_view line =
            std::string_view(*log).substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        text += parsed_text(line);
        text += '\n';
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      m_model.acquisition_log = std::move(text);
    }
    if (auto a = doc("acquisition.json")) {
      m_model.acquisition_source = "acquisition.json";
      m_model.case_id = raw_text(str(*a, "case"), 256);
      m_model.examiner = raw_text(str(*a, "examiner"), 256);
      m_model.caller = raw_text(str(*a, "caller"), 256);
      const json& tool = sub(*a, "tool");
      m_model.tool =
          raw_text(fmt::format("{} {} ({})", str(tool, "name"), str(tool, "version"), str(tool, "commit")), 256);
      m_model.context = raw_text(str(sub(*a, "cluster"), "context"), 256);
      m_model.server = raw_text(str(sub(*a, "cluster"), "server"), 256);
      m_model.host = raw_text(str(*a, "host"), 256);
      m_model.command = raw_text(str(*a, "command"), 2048);
      m_model.started = raw_text(str(*a, "started"), 64);
      m_model.ended = raw_text(str(*a, "ended"), 64);
      m_model.result = raw_text(str(*a, "result"), 64);
      const json& subjects = sub(*a, "subjects");
      if (subjects.is_array() && !subjects.empty()) {
        const json& s = subjects.front();
        m_model.namespace_name = raw_text(str(s, "namespace"), 256);
        m_model.pod = raw_text(str(s, "pod"), 256);
        m_model.uid = raw_text(str(s, "uid"), 64);
        m_model.node = raw_text(str(s, "node"), 256);
        const json& images = sub(s, "images");
        if (images.is_array()) {
          for (const auto& i : images)
            m_model.images.emplace_back(raw_text(str(i, "container"), 256), raw_text(str(i, "imageID"), 512));
        }
      }
      const json& nc = sub(*a, "not_collected");
      if (nc.is_array()) {
        for (const auto& n : nc) {
          if (n.is_string()) m_model.not_collected.push_back(raw_text(n.get<std::string>(), 1024));
        }
      }
      // collect's bundles: each step's outcome (a run's come from playbook/run.json, read_run).
      const json& steps = sub(sub(*a, "collect"), "steps");
      if (steps.is_array()) {
        for (const auto& s : steps) {
          m_model.steps.push_back({raw_text(str(s, "step"), 256), raw_text(str(s, "container"), 256),
                                   raw_text(str(s, "status"), 64), raw_text(str(s, "detail"), 1024)});
        }
      }
      return;
    }
    if (auto run = doc("playbook/run.json")) {
      const json& a = sub(*run, "acquisition");
      if (a.is_object()) {
        m_model.acquisition_source = "playbook/run.json";
        m_model.case_id = raw_text(str(a, "case"), 256);
        m_model.examiner = raw_text(str(a, "examiner"), 256);
        m_model.caller = raw_text(str(a, "caller"), 256);
        m_model.tool = raw_text("kubectl-ir " + str(a, "tool"), 256);
        m_model.context = raw_text(str(a, "context"), 256);
        m_model.server = raw_text(str(a, "server"), 256);
        m_model.command = raw_text(str(a, "command"), 2048);
        m_model.started = raw_text(str(a, "started"), 64);
        m_model.ended = raw_text(str(a, "ended"), 64);
        m_model.notes.push_back(
            "acquisition.json: not in the bundle (an older bundle): who and when come from playbook/run.json");
        return;
      }
    }
    if (m_reader.doc("acquisition.log") == nullptr) {
      m_model.notes.push_back(
          "acquisition.json and acquisition.log: not in the bundle: who collected it and when is unknown");
      return;
    }
    // acquisition.log: "key:   value" lines, then "steps:" and "not collected:" sections.
    m_model.acquisition_source = "acquisition.log";
    m_model.notes.push_back(
        "acquisition.json: not in the bundle (an older bundle): who and when come from acquisition.log");
    std::string section;
    std::size_t start = 0;
    const std::string& text = m_model.acquisition_log;
    while (start < text.size()) {
      const auto nl = text.find('\n', start);
      const std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      start = nl == std::string::npos ? text.size() : nl + 1;
      if (line == "steps:" || line == "not collected:") {
        section = line;
        continue;
      }
      if (section == "steps:" && starts_with(line, "  ")) {
        std::vector<std::string> tok;
        std::size_t p = 0;
        while (tok.size() < 4) {
          p = line.find_first_not_of(' ', p);
          if (p == std::string::npos) break;
          const auto e = line.find(' ', p);
          tok.push_back(line.substr(p, e == std::string::npos ? std::string::npos : e - p));
          p = e;
        }
        if (tok.size() == 4) {
          const auto d = p == std::string::npos ? std::string::npos : line.find_first_not_of(' ', p);
          m_model.steps.push_back(
              {tok[0], tok[1] == "-" ? "" : tok[1], tok[2], d == std::string::npos ? "" : line.substr(d)});
        }
        continue;
      }
      if (section == "not collected:" && starts_with(line, "  ")) {
        m_model.not_collected.push_back(line.substr(2));
        continue;
      }
      const auto colon = line.find(':');
      if (colon == std::string::npos || !section.empty()) continue;
      const std::string key = line.substr(0, colon);
      const auto v = line.find_first_not_of(' ', colon + 1);
      const std::string value = v == std::string::npos ? "" : line.substr(v);
      if (key == "case")
        m_model.case_id = value;
      else if (key == "examiner")
        m_model.examiner = value;
      else if (key == "caller identity")
        m_model.caller = value;
      else if (key == "started (UTC)")
        m_model.started = value;
      else if (key == "ended (UTC)")
        m_model.ended = value;
      else if (key == "tool")
        m_model.tool = value;
      else if (key == "host")
        m_model.host = value;
      else if (key == "command")
        m_model.command = value;
      else if (key == "context")
        m_model.context = value;
      else if (key == "server")
        m_model.server = value;
      else if (key == "result")
        m_model.result = value;
      else if (key == "namespace")
        m_model.namespace_name = value;
      else if (key == "pod")
        m_model.pod = value;
      else if (key == "pod uid")
        m_model.uid = value;
      else if (key == "node")
        m_model.node = value;
    }
  }

  void read_pod() {
    auto pod = doc("pod/pod.json", true);
    if (pod) {
      const json& meta = sub(*pod, "metadata");
      const json& spec = sub(*pod, "spec");
      const json& status = sub(*pod, "status");
      if (m_model.namespace_name.empty()) m_model.namespace_name = raw_text(str(meta, "namespace"), 256);
      if (m_model.pod.empty()) m_model.pod = raw_text(str(meta, "name"), 256);
      if (m_model.uid.empty()) m_model.uid = raw_text(str(meta, "uid"), 64);
      if (m_model.node.empty()) m_model.node = raw_text(str(spec, "nodeName"), 256);
      m_model.pod_ip = raw_text(str(status, "podIP"), 64);
      m_model.phase = raw_text(str(status, "phase"), 64);
      const std::string src = "pod/pod.json";
      event(parse_time_us(str(meta, "creationTimestamp")), EventKind::container, "pod created", src);
      event(parse_time_us(str(status, "startTime")), EventKind::container,
            "pod accepted by the kubelet on node " + m_model.node, src);
      const json& deleted = sub(meta, "deletionTimestamp");
      if (deleted.is_string())
        event(parse_time_us(deleted.get<std::string>()), EventKind::container, "pod deletion requested", src);
      for (const char* list : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
        const json& statuses = sub(status, list);
        if (!statuses.is_array()) continue;
        for (const auto& cs : statuses) container_events(cs, list, src);
      }
      // The names the bundle's API state gives to addresses.
      for (const auto& ip : sub(status, "podIPs").is_array() ? sub(status, "podIPs") : json::array()) {
        m_names[str(ip, "ip")] = "this pod (" + m_model.namespace_name + "/" + m_model.pod + ")";
      }
      if (!str(status, "podIP").empty())
        m_names[str(status, "podIP")] = "this pod (" + m_model.namespace_name + "/" + m_model.pod + ")";
      if (!str(status, "hostIP").empty()) m_names[str(status, "hostIP")] = "node " + m_model.node;
    }
    if (m_model.images.empty()) {
      if (auto images = doc("pod/images.json"); images && images->is_object()) {
        for (const auto& [c, id] : images->items()) {
          m_model.images.emplace_back(raw_text(c, 256),
                                      id.is_string() ? raw_text(id.get<std::string>(), 512) : "(not started)");
        }
      }
    }
    // The workload: the last owner of the chain (pod/owner-<depth>-<kind>-<name>.json).
    for (const auto& [name, text] : m_reader.docs()) {
      if (!starts_with(name, "pod/owner-")) continue;
      if (auto o = parse_json(text)) {
        m_model.workload = raw_text(str(*o, "kind") + "/" + str(sub(*o, "metadata"), "name"), 512);
      }
    }
    if (auto node = doc("node/node.json")) {
      const json& addresses = sub(sub(*node, "status"), "addresses");
      if (addresses.is_array()) {
        for (const auto& a : addresses) {
          if (!str(a, "address").empty())
            m_names[str(a, "address")] = "node " + raw_text(str(sub(*node, "metadata"), "name"), 256);
        }
      }
    }
    for (const auto& other : m_reader.other_pods()) {
      if (auto p = doc("pods/" + other + "/pod/pod.json")) {
        const std::string name =
            raw_text(str(sub(*p, "metadata"), "namespace") + "/" + str(sub(*p, "metadata"), "name"), 512);
        const json& st = sub(*p, "status");
        if (!str(st, "podIP").empty()) m_names.emplace(str(st, "podIP"), "pod " + name);
      }
    }
    if (auto events = doc("pod/events.json")) {
      const json& items = sub(*events, "items");
      if (items.is_array()) {
        for (const auto& e : items) {
          std::optional<std::int64_t> t;
          for (const char* k : {"eventTime", "lastTimestamp", "firstTimestamp"}) {
            if (!t) t = parse_time_us(str(e, k));
          }
          if (!t) t = parse_time_us(str(sub(e, "metadata"), "creationTimestamp"));
          std::string msg =
              raw_text(str(e, "type"), 32) + " " + raw_text(str(e, "reason"), 128) + ": " + raw_text(str(e, "message"));
          if (const auto count = integer(e, "count"); count && *count > 1) msg += fmt::format(" (x{})", *count);
          event(t, EventKind::pod_event, std::move(msg), "pod/events.json");
        }
      }
    }
  }

  void container_events(const json& cs, std::string_view list, const std::string& src) {
    const std::string c = raw_text(str(cs, "name"), 256);
    const std::string what = list == "initContainerStatuses"        ? "init container "
                             : list == "ephemeralContainerStatuses" ? "ephemeral container "
                                                                    : "container ";
    const auto restarts = integer(cs, "restartCount").value_or(0);
    const json& state = sub(cs, "state");
    const json& running = sub(state, "running");
    if (running.is_object()) {
      m_started_at[c] = str(running, "startedAt");
      event(parse_time_us(str(running, "startedAt")), EventKind::container,
            what + c + " started" + (restarts > 0 ? fmt::format(" (restart {})", restarts) : ""), src, c);
    }
    const auto terminated = [&](const json& t, const std::string& label) {
      if (!t.is_object()) return;
      event(parse_time_us(str(t, "startedAt")), EventKind::container, label + " started", src, c);
      event(parse_time_us(str(t, "finishedAt")), EventKind::container,
            fmt::format("{} exited: {} (exit code {})", label, raw_text(str(t, "reason"), 128),
                        integer(t, "exitCode") ? std::to_string(*integer(t, "exitCode")) : "?"),
            src, c);
    };
    terminated(sub(state, "terminated"), what + c);
    terminated(sub(sub(cs, "lastState"), "terminated"), "previous run of " + what + c);
  }

  // One line for a journal entry: what was done, to what, with which outcome.
  static std::string describe_action(const json& j, const std::string& subject) {
    const std::string action = str(j, "action");
    std::string pod = str(j, "namespace") + "/" + str(j, "pod");
    std::string prefix = (pod != "/" && pod != subject) ? pod + ": " : "";
    if (action == "verdict") {
      return prefix + fmt::format("isolation verdict: egress {} ({}); ingress {} ({})", str(sub(j, "egress"), "state"),
                                  str(sub(j, "egress"), "reason"), str(sub(j, "ingress"), "state"),
                                  str(sub(j, "ingress"), "reason"));
    }
    if (action == "playbook.step.start")
      return prefix + fmt::format("step {} ({}) started", str(j, "step"), str(j, "uses"));
    if (action == "playbook.step.end") {
      std::string s = prefix + fmt::format("step {} ({}) {}", str(j, "step"), str(j, "uses"), str(j, "status"));
      if (!str(j, "detail").empty()) s += ": " + str(j, "detail");
      return s;
    }
    std::string s = prefix + action;
    std::size_t shown = 0;
    for (const auto& [k, v] : j.items()) {
      if (k == "action" || k == "time" || k == "case" || k == "namespace" || k == "pod" ||
          (k == "dry_run" && v == false))
        continue;
      if (shown++ >= 8) break;
      std::string value = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, json::error_handler_t::replace);
      if (value.size() > 200) value = value.substr(0, 200) + "...";
      s += " " + k + "=" + value;
    }
    return s;
  }

  void read_journal() {
    const std::string* text = m_reader.doc("journal.jsonl");
    if (text == nullptr) {
      m_model.notes.push_back("journal.jsonl: not in the bundle: what the responders did is not on the timeline");
      return;
    }
    const std::string subject = m_pod_key = m_model.namespace_name + "/" + m_model.pod;
    std::size_t start = 0;
    std::size_t bad = 0;
    while (start < text->size()) {
      const auto nl = text->find('\n', start);
      const std::string line = text->substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      start = nl == std::string::npos ? text->size() : nl + 1;
      if (line.empty()) continue;
      auto j = parse_json(line);
      if (!j || !j->is_object()) {
        ++bad;
        continue;
      }
      const std::string action = str(*j, "action");
      const std::string pod = str(*j, "namespace") + "/" + str(*j, "pod");
      const auto t = parse_time_us(str(*j, "time"));
      if (m_model.case_id.empty()) m_model.case_id = raw_text(str(*j, "case"), 256);
      event(t, starts_with(action, "collect") ? EventKind::collection : EventKind::action,
            raw_text(describe_action(*j, subject), 2048), "journal.jsonl");
      if (action == "verdict") {
        for (const char* dir : {"egress", "ingress"}) {
          const json& d = sub(*j, dir);
          if (!d.is_object()) continue;
          m_model.isolation.push_back({raw_text(pod, 512), dir, raw_text(str(d, "state"), 64),
                                       raw_text(str(d, "reason"), 1024), raw_text(str(*j, "time"), 64)});
        }
      } else if (action == "release" || starts_with(action, "release")) {
        m_model.isolation.push_back({raw_text(pod, 512), "both", "released", "", raw_text(str(*j, "time"), 64)});
      }
      // What the responders did to other pods (siblings contained by a for_each).
      if (pod != subject && pod != "/" && (action == "verdict" || action == "label" || action == "apply-policy")) {
        auto& a = m_actions_on[pod];
        if (action == "verdict")
          a = "isolated: egress " + str(sub(*j, "egress"), "state");
        else if (a.empty())
          a = action;
      }
    }
    if (bad > 0) m_model.notes.push_back(fmt::format("journal.jsonl: {} lines are not JSON objects, not shown", bad));
  }

  void read_run() {
    auto run = doc("playbook/run.json");
    if (!run) return;
    m_model.playbook = raw_text(str(sub(*run, "playbook"), "name"), 256);
    const json& steps = sub(*run, "steps");
    if (!steps.is_array()) return;
    for (const auto& s : steps) {
      m_model.steps.push_back({raw_text(str(s, "id") + " (" + str(s, "uses") + ")", 256), "",
                               raw_text(str(s, "status"), 64), raw_text(str(s, "detail"), 1024)});
      if (str(s, "uses") == "siblings") m_sibling_steps.push_back(s);
      const json& nc = sub(sub(s, "outputs"), "not_collected");
      if (nc.is_array()) {
        for (const auto& n : nc) {
          if (n.is_string()) m_model.not_collected.push_back(raw_text(n.get<std::string>(), 1024));
        }
      }
    }
    if (m_model.result.empty()) {
      m_model.result = truthy(*run, "cancelled") ? "interrupted"
                                                 : (integer(*run, "failed").value_or(0) > 0 ? "partial" : "complete");
    }
  }

  void read_processes() {
    for (std::size_t ci = 0; ci < m_model.containers.size(); ++ci) {
      const std::string c = m_model.containers[ci];
      const std::string base = "containers/" + c + "/processes/";
      std::map<std::int64_t, json> ps;
      std::string ps_collected;
      if (auto p = doc(base + "ps.json")) {
        const json& recs = sub(*p, "records");
        if (recs.is_array()) {
          for (const auto& r : recs) {
            if (str(r, "kind") == "process" && integer(r, "pid")) ps[*integer(r, "pid")] = r;
          }
        }
        ps_collected = m_collected_at[base + "ps.json"];
      }
      std::vector<Process> procs;
      if (auto w = doc(base + "processes.json")) {
        const json& recs = sub(*w, "records");
        if (recs.is_array()) {
          for (const auto& r : recs) {
            if (str(r, "kind") != "process" || !integer(r, "pid")) continue;
            Process p;
            p.container = c;
            p.pid = *integer(r, "pid");
            p.ppid = integer(r, "ppid").value_or(0);
            p.comm = parsed_text(str(r, "comm"), 256);
            const json& args = sub(r, "cmdline");
            if (args.is_array()) {
              std::string joined;
              for (const auto& a : args) {
                if (!a.is_string()) continue;
                if (!joined.empty()) joined += ' ';
                joined += a.get<std::string>();
                if (joined.size() > 8192) break;
              }
              p.cmdline = parsed_text(joined, 8192);
            }
            p.exe = parsed_text(str(r, "exe"));
            p.cwd = parsed_text(str(r, "cwd"));
            p.state = parsed_text(str(r, "state"), 8);
            if (const auto uid = integer(sub(r, "uid"), "real")) p.user = fmt::format("uid {}", *uid);
            const json& flags = sub(r, "flags");
            if (flags.is_array()) {
              for (const auto& f : flags) {
                if (f.is_string()) p.flags.push_back(parsed_text(f.get<std::string>(), 64));
              }
            }
            if (const auto st = integer(r, "starttime")) m_ticks[{c, p.pid}] = *st;
            procs.push_back(std::move(p));
          }
        }
      }
      if (procs.empty()) {  // no walk: ps alone
        for (const auto& [pid, r] : ps) {
          Process p;
          p.container = c;
          p.pid = pid;
          p.ppid = integer(r, "ppid").value_or(0);
          p.comm = parsed_text(str(r, "comm"), 256);
          p.cmdline = parsed_text(str(r, "args"), 8192);
          p.state = parsed_text(str(r, "stat"), 8);
          procs.push_back(std::move(p));
        }
      }
      // ps adds the user's name and, with etime, the start time to the second.
      for (auto& p : procs) {
        const auto it = ps.find(p.pid);
        if (it == ps.end()) continue;
        if (const std::string user = str(it->second, "user"); !user.empty()) {
          p.user = parsed_text(user, 64) + (p.user.empty() ? "" : " (" + p.user + ")");
        }
        if (const auto elapsed = integer(it->second, "elapsed_seconds"); elapsed && !ps_collected.empty()) {
          if (const auto at = parse_time_us(ps_collected)) {
            p.started = format_time_us(*at - *elapsed * 1'000'000);
            p.start_basis = StartBasis::elapsed;
          }
        }
      }
      estimate_starts(c, procs);
      for (auto& p : procs) {
        if (!p.started.empty()) {
          event(parse_time_us(p.started), EventKind::process,
                fmt::format("process {} started: {}", p.pid, p.cmdline.empty() ? p.comm : p.cmdline.substr(0, 512)),
                base + (p.start_basis == StartBasis::elapsed ? "ps.json" : "processes.json"), c,
                p.start_basis == StartBasis::estimated);
        }
        m_model.processes.push_back(std::move(p));
      }
    }
  }

  // /proc/<pid>/stat's starttime counts clock ticks from the node's boot, which the bundle does not
  // say; pid 1 of the container started when the container did (status.containerStatuses[].state.
  // running.startedAt, to the second), so the others are placed relative to it.
  void estimate_starts(const std::string& c, std::vector<Process>& procs) {
    const auto anchor_time = m_started_at.find(c);
    const auto anchor_ticks = m_ticks.find({c, 1});
    if (anchor_time == m_started_at.end() || anchor_ticks == m_ticks.end()) return;
    const auto t0 = parse_time_us(anchor_time->second);
    if (!t0) return;
    for (auto& p : procs) {
      if (p.start_basis != StartBasis::none) continue;
      const auto ticks = m_ticks.find({c, p.pid});
      if (ticks == m_ticks.end() || ticks->second < anchor_ticks->second) continue;
      constexpr std::int64_t k_user_hz = 100;
      p.started = format_time_us(*t0 + (ticks->second - anchor_ticks->second) * (1'000'000 / k_user_hz));
      p.start_basis = StartBasis::estimated;
    }
  }

  static std::string endpoint(const std::string& ip, std::optional<std::int64_t> port) {
    const std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    return port ? host + ":" + std::to_string(*port) : host;
  }

  std::string name_of(const std::string& ip) const {
    if (ip.empty()) return {};
    if (const auto it = m_names.find(ip); it != m_names.end()) return it->second;
    if (ip == "0.0.0.0" || ip == "::") return "any address";
    if (starts_with(ip, "127.") || ip == "::1" || starts_with(ip, "::ffff:127.")) return "loopback";
    return {};
  }

  void read_sockets() {
    for (const auto& c : m_model.containers) {
      auto s = doc("containers/" + c + "/network/sockets.json");
      if (!s) continue;
      const json& socks = sub(*s, "sockets");
      if (!socks.is_array()) continue;
      for (const auto& r : socks) {
        const std::string kind = str(r, "kind");
        if (kind != "socket" && kind != "unix_socket") continue;
        Connection cn;
        cn.container = c;
        cn.proto = parsed_text(str(r, "proto"), 16);
        cn.state = parsed_text(str(r, "state"), 32);
        if (kind == "unix_socket") {
          cn.local = parsed_text(str(r, "path"));
          if (cn.local.empty()) continue;  // unbound unix sockets say nothing useful
        } else {
          const std::string lip = str(r, "local_ip");
          const std::string rip = str(r, "remote_ip");
          cn.local = parsed_text(endpoint(lip, integer(r, "local_port")), 128);
          const auto rport = integer(r, "remote_port");
          if (cn.state != "LISTEN" && !(rport == 0 && (rip == "0.0.0.0" || rip == "::"))) {
            cn.remote = parsed_text(endpoint(rip, rport), 128);
            cn.remote_name = name_of(rip);
          }
        }
        const json& pids = sub(r, "pids");
        if (pids.is_array()) {
          for (const auto& p : pids) {
            if (p.is_number_integer()) cn.pids.push_back(p.get<std::int64_t>());
          }
        }
        m_model.connections.push_back(std::move(cn));
      }
    }
  }

  void read_hashes() {
    for (std::size_t ci = 0; ci < m_model.containers.size(); ++ci) {
      const std::string& c = m_model.containers[ci];
      auto h = doc("containers/" + c + "/filesystem/hashes.json");
      if (!h) continue;
      std::map<std::string, std::string> by_exe;
      const json& exes = sub(*h, "executables");
      if (exes.is_array()) {
        for (const auto& e : exes) {
          if (str(e, "sha256").empty()) continue;
          by_exe[parsed_text(str(e, "path"))] = str(e, "sha256");
          m_model.file_hashes.emplace_back(std::to_string(ci) + ":" + parsed_text(str(e, "path")),
                                           raw_text(str(e, "sha256"), 64));
        }
      }
      const json& files = sub(*h, "files");
      if (files.is_array()) {
        for (const auto& f : files) {
          if (str(f, "sha256").empty()) continue;
          std::string name = str(f, "name");
          if (!starts_with(name, "/")) name = "/" + name;
          m_model.file_hashes.emplace_back(std::to_string(ci) + ":" + parsed_text(name),
                                           raw_text(str(f, "sha256"), 64));
        }
      }
      for (auto& p : m_model.processes) {
        if (p.container != c || !p.exe_sha256.empty()) continue;
        if (const auto it = by_exe.find(p.exe); it != by_exe.end()) p.exe_sha256 = raw_text(it->second, 64);
      }
    }
    std::sort(m_model.file_hashes.begin(), m_model.file_hashes.end());
  }

  void add_findings(const json& doc, const std::string& source, const std::string& pod) {
    const json& findings = sub(doc, "findings");
    if (!findings.is_array()) return;
    for (const auto& f : findings) {
      if (m_model.findings.size() >= 10'000) break;
      Finding x;
      x.id = raw_text(str(f, "id"), 64);
      x.kind = raw_text(str(f, "kind"), 64);
      x.rule = raw_text(str(f, "rule"), 128);
      x.severity = parse_severity(str(f, "severity"));
      x.container = raw_text(str(f, "container"), 256);
      x.summary = raw_text(str(f, "summary"), 2048);
      x.source = source;
      x.pod = pod;
      const json& seen = sub(f, "seen_in");
      if (seen.is_object()) {
        x.seen_in = fmt::format("seen in {} of {} ({})", integer(seen, "count").value_or(0),
                                integer(seen, "of").value_or(0), raw_text(str(f, "judged_against"), 64));
      }
      const json& subject = sub(f, "subject");
      x.pid = integer(subject, "pid");
      x.path = raw_text(str(subject, "path"));
      x.remote = raw_text(str(subject, "remote"), 256);
      x.port = integer(subject, "port");
      m_model.findings.push_back(std::move(x));
    }
    const json& gaps = sub(doc, "gaps");
    if (gaps.is_array()) {
      for (const auto& g : gaps) {
        if (g.is_string() && m_model.analysis_gaps.size() < 1000) {
          m_model.analysis_gaps.push_back((pod.empty() ? "" : pod + ": ") + raw_text(g.get<std::string>(), 1024));
        }
      }
    }
  }

  void read_findings() {
    for (const char* kind : {"indicators", "drift"}) {
      const std::string name = std::string("analysis/") + kind + ".json";
      auto d = doc(name);
      if (!d) continue;
      if (str(*d, "format") != "kubectl-ir-analysis/v1") {
        m_model.notes.push_back(name + ": unknown format \"" + raw_text(str(*d, "format"), 64) + "\", not shown");
        continue;
      }
      if (std::string_view(kind) == "indicators") m_model.findings_from_analysis = true;
      add_findings(*d, name, "");
      if (std::string_view(kind) == "drift") {
        const json& baseline = sub(*d, "baseline");
        const json& members = sub(baseline, "members");
        if (members.is_array()) {
          for (const auto& m : members) {
            Sibling s;
            s.namespace_name = raw_text(str(m, "namespace"), 256);
            s.name = raw_text(str(m, "name"), 256);
            s.node = raw_text(str(m, "node"), 256);
            s.relation = "drift baseline: " + raw_text(str(m, "relation"), 64) +
                         (str(m, "status") == "failed" ? " (failed: " + raw_text(str(m, "reason"), 512) + ")" : "");
            m_drift_members.push_back(std::move(s));
          }
        }
      }
    }
    for (const auto& other : m_reader.other_pods()) {
      for (const char* kind : {"indicators", "drift"}) {
        const std::string name = "pods/" + other + "/analysis/" + kind + ".json";
        auto d = doc(name);
        if (d && str(*d, "format") == "kubectl-ir-analysis/v1") add_findings(*d, name, raw_text(other, 512));
      }
    }
    if (!m_model.findings_from_analysis) own_checks();
    std::stable_sort(m_model.findings.begin(), m_model.findings.end(), [](const Finding& a, const Finding& b) {
      if (a.severity != b.severity) return a.severity < b.severity;
      if (a.kind != b.kind) return a.kind < b.kind;
      return a.summary < b.summary;
    });
  }

  // For bundles without analysis/indicators.json (older ones, or collected before the analysis
  // existed): the few checks a reader needs to spot the obvious, said to be the report's own.
  void own_checks() {
    m_model.notes.push_back(
        "analysis/indicators.json: not in the bundle: suspicious processes are marked by the report's own checks "
        "(exe-in-tmp, exe-deleted, walk-flags), not by kubectl-ir's analysis");
    std::size_t n = 0;
    const auto add = [&](const Process& p, const char* rule, Severity sev, std::string summary) {
      Finding f;
      f.id = fmt::format("R{}", ++n);
      f.kind = "process";
      f.rule = rule;
      f.severity = sev;
      f.container = p.container;
      f.summary = std::move(summary);
      f.source = "report";
      f.pid = p.pid;
      f.path = p.exe;
      m_model.findings.push_back(std::move(f));
    };
    for (const auto& p : m_model.processes) {
      for (const std::string_view dir : {"/tmp/", "/var/tmp/", "/dev/shm/"}) {
        if (starts_with(p.exe, dir)) {
          add(p, "exe-in-tmp", Severity::high,
              fmt::format("pid {} {} (comm {}) runs from {}", p.pid, p.exe, p.comm, dir.substr(0, dir.size() - 1)));
        }
      }
      if (ends_with(p.exe, " (deleted)")) {
        add(p, "exe-deleted", Severity::high, fmt::format("pid {} runs {}: its executable was deleted", p.pid, p.exe));
      }
      if (!p.flags.empty()) {
        std::string flags;
        for (const auto& f : p.flags) flags += (flags.empty() ? "" : ", ") + f;
        add(p, "walk-flags", Severity::medium,
            fmt::format("pid {}: the /proc walk's record is inconsistent ({})", p.pid, flags));
      }
    }
  }

  void read_siblings() {
    for (const auto& step : m_sibling_steps) {
      const json& out = sub(step, "outputs");
      if (m_model.siblings_digest.empty()) m_model.siblings_digest = raw_text(str(out, "digest"), 512);
      const json& pods = sub(out, "pods");
      if (!pods.is_array()) continue;
      for (const auto& p : pods) {
        Sibling s;
        s.namespace_name = raw_text(str(p, "namespace"), 256);
        s.name = raw_text(str(p, "name"), 256);
        s.workload = raw_text(str(p, "workload"), 512);
        s.node = raw_text(str(p, "node"), 256);
        s.phase = raw_text(str(p, "phase"), 64);
        s.relation = "same image digest";
        const std::string key = str(p, "namespace") + "/" + str(p, "name");
        if (const auto it = m_actions_on.find(key); it != m_actions_on.end()) s.actions = raw_text(it->second, 256);
        s.evidence = m_reader.other_pods().count(evidence::safe_component(str(p, "namespace")) + "/" +
                                                 evidence::safe_component(str(p, "name"))) != 0;
        m_model.siblings.push_back(std::move(s));
      }
      if (truthy(out, "partial")) m_model.notes.push_back("siblings: the search was partial (see the siblings step)");
    }
    for (auto& m : m_drift_members) m_model.siblings.push_back(std::move(m));
    for (const auto& other : m_reader.other_pods()) {
      const bool listed = std::any_of(m_model.siblings.begin(), m_model.siblings.end(), [&](const Sibling& s) {
        return s.evidence || (s.namespace_name + "/" + s.name) == other;
      });
      if (listed) continue;
      Sibling s;
      const auto slash = other.find('/');
      s.namespace_name = raw_text(other.substr(0, slash), 256);
      s.name = raw_text(other.substr(slash + 1), 256);
      s.relation = "collected by the playbook";
      s.evidence = true;
      m_model.siblings.push_back(std::move(s));
    }
  }

  void link_findings() {
    for (std::size_t i = 0; i < m_model.findings.size(); ++i) {
      const Finding& f = m_model.findings[i];
      if (!f.pod.empty()) continue;  // another pod's: nothing of it is in these tables
      if (f.pid) {
        for (auto& p : m_model.processes) {
          if (p.pid == *f.pid && (f.container.empty() || f.container == p.container)) p.findings.push_back(i);
        }
      }
      for (auto& c : m_model.connections) {
        if (!f.container.empty() && f.container != c.container) continue;
        const bool remote = !f.remote.empty() && f.remote == c.remote;
        const bool port = f.port && (f.kind == "listening_port" || f.kind == "connection") && c.state == "LISTEN" &&
                          ends_with(c.local, ":" + std::to_string(*f.port));
        if (remote || port) c.findings.push_back(i);
      }
      if (!f.path.empty() && f.kind == "file") m_model.drift_paths.push_back(f.path);
    }
  }

  void finish_events() {
    if (!m_model.started.empty()) {
      event(parse_time_us(m_model.started), EventKind::collection, "acquisition started by " + m_model.examiner,
            m_model.acquisition_source);
    }
    if (!m_model.ended.empty()) {
      event(parse_time_us(m_model.ended), EventKind::collection,
            "acquisition ended" + (m_model.result.empty() ? std::string() : ": " + m_model.result),
            m_model.acquisition_source);
    }
    if (m_events_dropped > 0) {
      m_model.notes.push_back(
          fmt::format("timeline: {} events past the first {} are not shown", m_events_dropped, m_options.max_events));
    }
    std::stable_sort(m_model.events.begin(), m_model.events.end(),
                     [](const Event& a, const Event& b) { return a.time_us < b.time_us; });
  }

  const Reader& m_reader;
  Model& m_model;
  const ReadOptions& m_options;
  std::size_t m_order = 0;
  std::size_t m_events_dropped = 0;
  std::string m_pod_key;
  std::map<std::string, std::string> m_collected_at;                     // artifact -> collected_at
  std::map<std::string, std::string> m_started_at;                       // container -> running.startedAt
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> m_ticks;  // (container, pid) -> starttime
  std::map<std::string, std::string> m_names;                            // IP -> what it is
  std::map<std::string, std::string> m_actions_on;                       // "ns/pod" -> what was done to it
  std::vector<json> m_sibling_steps;
  std::vector<Sibling> m_drift_members;
};

}  // namespace

const char* to_string(Severity severity) {
  switch (severity) {
    case Severity::critical:
      return "critical";
    case Severity::high:
      return "high";
    case Severity::medium:
      return "medium";
    case Severity::low:
      return "low";
    case Severity::info:
      return "info";
  }
  return "info";
}

const char* timestamp_desc(EventKind kind) {
  switch (kind) {
    case EventKind::pod_event:
      return "Kubernetes Event";
    case EventKind::container:
      return "Container Lifecycle";
    case EventKind::log:
      return "Log Line";
    case EventKind::file:
      return "File Modified";
    case EventKind::process:
      return "Process Started";
    case EventKind::action:
      return "Responder Action";
    case EventKind::collection:
      return "Evidence Collection";
  }
  return "Event";
}

Result<Model> read_bundle(const std::string& path, const ReadOptions& options) {
  Model model;
  const auto slash = path.find_last_of('/');
  model.bundle_name = util::visible_text(slash == std::string::npos ? path : path.substr(slash + 1), Text::raw, 1024);
  Reader reader(options, model);
  IR_TRY(report, evidence::verify_bundle(path, &reader));
  model.bundle_sha256 = report.bundle_sha256;
  model.entries_checked = report.entries_checked;
  std::map<std::string, std::string> problem_of;
  for (const auto& p : report.problems) {
    model.problems.push_back(
        util::visible_text(p.entry.empty() ? p.problem : p.entry + ": " + p.problem, Text::raw, 2048));
    if (!p.entry.empty())
      problem_of.emplace(util::visible_text(p.entry, Text::raw, 1024), util::visible_text(p.problem, Text::raw, 1024));
  }
  Builder(reader, model, options).build();
  for (auto& a : model.artifacts) {
    if (const auto it = problem_of.find(a.path); it != problem_of.end()) a.problem = it->second;
  }
  return model;
}

}  // namespace ir::report
