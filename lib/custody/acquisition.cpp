#include "custody/acquisition.hpp"

#include <string_view>
#include <vector>

#include "util/strings.hpp"

namespace ir::custody {

namespace {

using nlohmann::json;

constexpr std::size_t k_max_string = 4096;
constexpr std::size_t k_max_list = 1000;
constexpr std::size_t k_max_entry = 1024 * 1024;

// A string field of `from`, bounded; nullopt if absent or not a string.
std::optional<std::string> str(const json& from, const char* key) {
  if (!from.is_object() || !from.contains(key) || !from[key].is_string()) return std::nullopt;
  std::string s = from[key].get<std::string>();
  if (s.size() > k_max_string) s.resize(k_max_string);
  return s;
}

// Copies the string fields `keys` of `from` into `to`; names the absent ones in `missing` (with
// `prefix`).
void copy_strings(const json& from, json& to, std::initializer_list<const char*> keys,
                  std::vector<std::string>& missing, const std::string& prefix = {}) {
  for (const char* k : keys) {
    if (auto v = str(from, k)) {
      to[k] = *v;
    } else {
      missing.push_back(prefix + k);
    }
  }
}

json from_acquisition_json(const json& doc, std::vector<std::string>& missing) {
  json p = json::object();
  copy_strings(doc, p, {"format", "case", "examiner", "caller", "host", "command", "started", "ended", "result"},
               missing);
  for (const char* group : {"tool", "cluster"}) {
    json g = json::object();
    const json& src = doc.is_object() && doc.contains(group) ? doc[group] : json();
    if (std::string_view(group) == "tool") {
      copy_strings(src, g, {"name", "version", "commit"}, missing, "tool.");
    } else {
      copy_strings(src, g, {"context", "server"}, missing, "cluster.");
    }
    p[group] = g;
  }
  json subjects = json::array();
  if (doc.contains("subjects") && doc["subjects"].is_array()) {
    for (const auto& s : doc["subjects"]) {
      if (subjects.size() >= k_max_list) break;
      json out = json::object();
      std::vector<std::string> ignored;
      copy_strings(s, out, {"namespace", "pod", "uid", "resourceVersion", "node"}, ignored);
      json images = json::array();
      if (s.is_object() && s.contains("images") && s["images"].is_array()) {
        for (const auto& img : s["images"]) {
          if (images.size() >= k_max_list) break;
          json i = json::object();
          copy_strings(img, i, {"container", "imageID", "digest"}, ignored);
          images.push_back(std::move(i));
        }
      }
      out["images"] = std::move(images);
      subjects.push_back(std::move(out));
    }
  } else {
    missing.emplace_back("subjects");
  }
  p["subjects"] = std::move(subjects);
  json not_collected = json::array();
  if (doc.contains("not_collected") && doc["not_collected"].is_array()) {
    for (const auto& n : doc["not_collected"]) {
      if (not_collected.size() >= k_max_list) break;
      if (n.is_string()) not_collected.push_back(n.get<std::string>().substr(0, k_max_string));
    }
  }
  p["not_collected"] = std::move(not_collected);
  return p;
}

// acquisition.log: "key:  value" lines (collect's render_acquisition_log) up to the first blank
// line. Values were escaped for a terminal when written; they are kept as they are.
json from_acquisition_log(std::string_view log, std::vector<std::string>& missing) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& line : util::split(log, '\n')) {
    if (util::trim(line).empty()) {
      if (!fields.empty()) break;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields.emplace_back(std::string(util::trim(std::string_view(line).substr(0, colon))),
                        std::string(util::trim(std::string_view(line).substr(colon + 1))).substr(0, k_max_string));
  }
  const auto get = [&](std::string_view key) -> std::optional<std::string> {
    for (const auto& [k, v] : fields)
      if (k == key) return v;
    return std::nullopt;
  };
  json p = json::object();
  const auto put = [&](json& to, const char* name, std::string_view key, const std::string& missing_name) {
    if (auto v = get(key)) {
      to[name] = *v;
    } else {
      missing.push_back(missing_name);
    }
  };
  put(p, "case", "case", "case");
  put(p, "examiner", "examiner", "examiner");
  put(p, "caller", "caller identity", "caller");
  put(p, "host", "host", "host");
  put(p, "command", "command", "command");
  put(p, "started", "started (UTC)", "started");
  put(p, "ended", "ended (UTC)", "ended");
  put(p, "result", "result", "result");
  json tool = json::object();
  if (auto t = get("tool")) {
    const auto space = t->find(' ');
    tool["name"] = t->substr(0, space);
    if (space != std::string::npos) tool["version"] = t->substr(space + 1);
  } else {
    missing.emplace_back("tool");
  }
  p["tool"] = tool;
  json cluster = json::object();
  put(cluster, "context", "context", "cluster.context");
  put(cluster, "server", "server", "cluster.server");
  p["cluster"] = cluster;
  json subject = json::object();
  put(subject, "namespace", "namespace", "subjects.namespace");
  put(subject, "pod", "pod", "subjects.pod");
  put(subject, "uid", "pod uid", "subjects.uid");
  put(subject, "resourceVersion", "resourceVersion", "subjects.resourceVersion");
  put(subject, "node", "node", "subjects.node");
  json images = json::array();
  for (const auto& [k, v] : fields) {
    if (k.rfind("imageID ", 0) != 0 || images.size() >= k_max_list) continue;
    json img = {{"container", k.substr(8)}, {"imageID", v}};
    if (const auto at = v.find("@sha256:"); at != std::string::npos) img["digest"] = v.substr(at + 1);
    images.push_back(std::move(img));
  }
  subject["images"] = std::move(images);
  p["subjects"] = json::array({std::move(subject)});
  p["not_collected"] = json::array();
  return p;
}

}  // namespace

json acquisition_predicate(const std::string* acquisition_json, const std::string* acquisition_log,
                           const SignerInfo& signer) {
  std::vector<std::string> missing;
  json p;
  std::string source = "none";
  std::string problem;
  if (acquisition_json != nullptr) {
    const json doc = json::parse(*acquisition_json, nullptr, false);
    if (!doc.is_discarded() && doc.is_object()) {
      p = from_acquisition_json(doc, missing);
      source = std::string(k_acquisition_json);
    } else {
      problem = "acquisition.json is not a JSON object";
    }
  }
  if (source == "none" && acquisition_log != nullptr) {
    p = from_acquisition_log(*acquisition_log, missing);
    source = std::string(k_acquisition_log);
  }
  if (source == "none") {
    p = json::object();
    missing = {"acquisition.json", "acquisition.log"};
  }
  p["source"] = source;
  if (!problem.empty()) p["problem"] = problem;
  p["missing"] = missing;
  p["signed"] = {{"tool", {{"name", "kubectl-ir"}, {"version", signer.tool_version}, {"commit", signer.tool_commit}}},
                 {"key", signer.key_fingerprint},
                 {"at", signer.signed_at}};
  return p;
}

Result<BundleFacts> read_bundle_facts(const std::string& path) {
  evidence::EntryCollector collector({std::string(k_acquisition_json), std::string(k_acquisition_log)}, k_max_entry);
  IR_TRY(report, evidence::verify_bundle(path, &collector));
  BundleFacts facts;
  facts.report = std::move(report);
  if (const auto* j = collector.find(k_acquisition_json)) facts.acquisition_json = j->data;
  if (const auto* l = collector.find(k_acquisition_log)) facts.acquisition_log = l->data;
  return facts;
}

}  // namespace ir::custody
