#pragma once
// Shared output helpers for commands that print data: -o parsing, JSON and YAML documents, an
// aligned table like kubectl's, ages, and the pod names `-o name` prints and commands accept.
// Everything that came from the API server is untrusted: table cells are escaped for the terminal,
// JSON and YAML are emitted with control characters escaped and invalid UTF-8 replaced.

#include <chrono>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd/command.hpp"
#include "util/clock.hpp"
#include "util/escape.hpp"
#include "util/result.hpp"

namespace ir::cli {

// "table", "json", "yaml", "name".
const char* to_string(OutputFormat format);

// Parses an -o value among `allowed` ("" means table when table is allowed). Fails with
// Errc::usage naming the allowed formats.
Result<OutputFormat> parse_output_format(const std::string& text, std::initializer_list<OutputFormat> allowed);

// Pretty JSON (2-space indent) ending in a newline. Invalid UTF-8 in strings becomes U+FFFD
// instead of throwing; control characters are \u-escaped by JSON itself.
std::string to_json(const nlohmann::json& value);

// Block-style YAML for a JSON value (yaml-cpp's emitter), ending in a newline. Strings a YAML
// reader would retype (true, yes, null, ~, numbers, timestamps) or misread (": ", "- ", "#") are
// double-quoted; control characters are escaped; invalid UTF-8 becomes U+FFFD; empty maps and
// lists are written {} and []. Object keys come in the JSON's (sorted) order: deterministic.
std::string to_yaml(const nlohmann::json& value);

// A plain aligned table like kubectl's: a header row, columns separated by three spaces, no
// trailing white space. Every cell is escaped with util::escape_for_terminal (bounded) when printed,
// so API-supplied names cannot move the cursor or break the alignment.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Adds a row; missing cells are empty, extra cells are dropped. Cells are shown in their visible
  // form (util/escape.hpp); Text::escaped for cells that already are one (a parser's strings).
  void add_row(std::vector<std::string> cells, util::Text kind = util::Text::raw);
  // A blank line between groups of rows (ignored before the first row and after another blank).
  void add_break();
  [[nodiscard]] std::size_t rows() const { return m_rows; }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> m_headers;
  std::vector<std::vector<std::string>> m_lines;  // escaped cells; an empty vector is a break
  std::size_t m_rows = 0;
};

// A duration as kubectl prints ages (k8s.io/apimachinery duration.HumanDuration): "45s", "9m12s",
// "25m", "5h10m", "36h", "3d4h", "200d", "3y15d". Negative durations print "0s".
std::string human_duration(std::chrono::seconds d);

// The age of an object created at `rfc3339` (metadata.creationTimestamp) at `now`; "<unknown>"
// when the timestamp is missing or malformed.
std::string age_of(const std::string& rfc3339, util::TimePoint now);

// A pod named across namespaces, as `-o name` prints it: "NAMESPACE/pod/NAME". kubectl's own
// "pod/NAME" drops the namespace, which a list spanning namespaces cannot do.
std::string pod_name_ref(const std::string& namespace_name, const std::string& name);

struct PodRef {
  std::string namespace_name;  // "" when the text did not name one
  std::string name;
};

// Parses a pod argument: "NAME", "pod/NAME" (also "pods/" and "po/", as kubectl) or
// "NAMESPACE/pod/NAME" (what `-o name` prints, so output pipes into the next command). Fails with
// Errc::usage for anything else.
Result<PodRef> parse_pod_ref(const std::string& text);

// The -o and --bundle/-O flags of the commands that write a bundle (collect, run): -o is the
// format of the summary on stdout (table, json, yaml); for compatibility a value ending in
// ".tar.gz" or ".tgz" is still taken as the bundle path, which --bundle names otherwise. Errc::usage
// for anything else, and when both name a bundle.
struct SummaryOutput {
  OutputFormat format = OutputFormat::table;
  std::string bundle;  // "" = the default name
};
Result<SummaryOutput> parse_summary_output(const std::string& output, const std::string& bundle);

}  // namespace ir::cli
