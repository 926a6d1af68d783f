#pragma once
// Escaping of untrusted text (pod names, process arguments, file names, log lines) for each
// medium that shows it to a person: one helper per medium, all built on one "visible" form.
//
// The visible form of untrusted bytes is util::escape_for_terminal's (C0 and C1 controls, DEL and
// bytes that are not UTF-8 as \xNN, '\n' as \n, backslash doubled) with, in addition, the Unicode
// characters that reorder or hide text written as \uXXXX (\UXXXXXXXX above U+FFFF): the bidi
// embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069: "Trojan Source", a file
// "exe.txt" shown as "txt.exe"), the marks (U+200E, U+200F, U+061C), zero-width and invisible
// characters (U+00AD, U+180E, U+200B..U+200D, U+2060..U+2064, U+206A..U+206F, U+FEFF,
// U+FFF9..U+FFFB), the line and paragraph separators (U+2028, U+2029) and the tag characters
// (U+E0000..U+E007F, invisible text). It is valid UTF-8, holds no control or invisible character,
// and is reversible (nothing is lost but what max_bytes cuts).
//
// The parsers of container output (procfs, fslist) already store strings escaped for a terminal;
// Text::escaped says so, and then only the Unicode part is added (backslashes are not doubled
// twice). Applying Text::escaped to a visible form again changes nothing.

#include <cstddef>
#include <string>
#include <string_view>

namespace ir::util {

// Named bounds on how much untrusted text is shown in one place (bytes of input rendered), so every
// message, table and log line picks its length from one short list instead of a number of its own.
enum class Cap : std::size_t {
  word = 64,      // a container name, a step id, a flag's value quoted in a usage error
  name = 253,     // a Kubernetes object or host name (DNS-1123 subdomain length)
  field = 256,    // a table cell, a value inside a one-line message
  detail = 1024,  // a reason, an API server's message, a command line, a log line
  path = 4096,    // a file path (PATH_MAX)
};

// The one escaper for a terminal or a one-line message: the visible form (below) of raw `s`, at
// most `cap` input bytes of it.
std::string esc(std::string_view s, Cap cap = Cap::field);

// What a string given to the escapers below already is.
enum class Text {
  raw,      // bytes as the pod or the API server sent them
  escaped,  // already through escape_for_terminal (the parsers' stored form, or a visible form)
};

// `s` between double quotes as esc shows it: a value named inside a one-line message
// ("step \"scan\" not found"). The quotes are the message's; a quote inside `s` is shown as is.
std::string quoted(std::string_view s, Cap cap = Cap::field);

// esc for text that may already be a visible form (Text::escaped: a parser's stored string, or a
// line composed of them): escaping it again changes nothing, so it is shown once, not as "\\x1b".
std::string esc(std::string_view s, Text kind, Cap cap);

// The visible form (above) of `s`. With Text::raw at most `max_bytes` input bytes are rendered and
// a longer input ends in "...(N more bytes)"; with Text::escaped `max_bytes` bounds the input
// likewise. Never fails.
std::string visible_text(std::string_view s, Text kind = Text::raw, std::size_t max_bytes = std::string::npos);

// s with & < > " ' replaced by character references, the apostrophe by `apostrophe` (HTML's
// "&#39;", XML's "&apos;"): safe as markup text content or a quoted attribute value. Never fails.
std::string escape_markup(std::string_view s, std::string_view apostrophe);

// HTML text content or a quoted attribute value: the visible form, then & < > " ' as character
// references. The result cannot open a tag, close an attribute or start an entity.
std::string escape_html(std::string_view s, Text kind = Text::raw, std::size_t max_bytes = std::string::npos);

// Inline Markdown (CommonMark and GitHub's dialect) in a line of text or a table cell: the visible
// form, then every character that could start markup is backslash-escaped (\ ` * _ [ ] ( ) < > &
// | ~ ! # and a leading + - . =), so no link, image, HTML, emphasis, code span or table cell
// boundary can be formed from it.
std::string escape_markdown(std::string_view s, Text kind = Text::raw, std::size_t max_bytes = std::string::npos);

// JSON text to embed in <script type="application/json">: '<', '>' and '&' become \u003c, \u003e,
// \u0026 and U+2028, U+2029 become \u2028, \u2029, so nothing inside can end the script element
// ("</script>"), open a comment ("<!--") or break a JavaScript parser. `json` must be valid JSON
// (these characters then only occur inside strings, where the escapes mean the same characters):
// the JSON value is unchanged.
std::string escape_script_json(std::string_view json);

// Appends `s` as a JSON string literal (quotes included) to `out`, already safe for
// <script type="application/json"> as escape_script_json makes it; bytes that are not UTF-8 become
// U+FFFD. For writers that stream large JSON without building a DOM.
void append_script_json_string(std::string& out, std::string_view s);

}  // namespace ir::util
