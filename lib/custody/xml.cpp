#include "custody/xml.hpp"

#include <expat.h>

#include <fmt/format.h>

#include "util/escape.hpp"

namespace ir::custody {

namespace {

constexpr std::size_t k_max_document = 16UL * 1024 * 1024;
constexpr std::size_t k_max_depth = 32;
constexpr std::size_t k_max_elements = 100000;

struct ParseState {
  XML_Parser parser = nullptr;
  XmlElement root;
  std::vector<XmlElement*> stack;  // the open elements, innermost last (see on_start)
  std::size_t elements = 0;
  std::string failure;  // set when a handler stopped the parser
};

std::string local_name(const XML_Char* name) {
  std::string_view n(name);
  if (const auto colon = n.rfind(':'); colon != std::string_view::npos) n.remove_prefix(colon + 1);
  return std::string(n);
}

void stop(ParseState* s, std::string why) {
  if (s->failure.empty()) s->failure = std::move(why);
  XML_StopParser(s->parser, XML_FALSE);
}

void on_start(void* user, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* s = static_cast<ParseState*>(user);
  if (++s->elements > k_max_elements) return stop(s, fmt::format("more than {} elements", k_max_elements));
  if (s->stack.size() >= k_max_depth) return stop(s, fmt::format("nested deeper than {} levels", k_max_depth));
  if (s->stack.empty()) {
    s->root.name = local_name(name);
    s->stack.push_back(&s->root);
    return;
  }
  // Only the innermost open element gains children, so pointers to its ancestors (elements of
  // vectors that do not grow meanwhile) stay valid.
  XmlElement* parent = s->stack.back();
  parent->children.push_back(XmlElement{local_name(name), {}, {}});
  s->stack.push_back(&parent->children.back());
}

void on_end(void* user, const XML_Char* /*name*/) {
  auto* s = static_cast<ParseState*>(user);
  if (!s->stack.empty()) s->stack.pop_back();
}

void on_text(void* user, const XML_Char* text, int len) {
  auto* s = static_cast<ParseState*>(user);
  if (!s->stack.empty() && len > 0) s->stack.back()->text.append(text, static_cast<std::size_t>(len));
}

void on_doctype(void* user, const XML_Char* /*name*/, const XML_Char* /*sysid*/, const XML_Char* /*pubid*/,
                int /*has_internal_subset*/) {
  stop(static_cast<ParseState*>(user), "a DOCTYPE is not accepted");
}

}  // namespace

const XmlElement* XmlElement::child(std::string_view child_name) const {
  for (const auto& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

std::string XmlElement::child_text(std::string_view child_name) const {
  const XmlElement* c = child(child_name);
  return c != nullptr ? c->text : std::string();
}

std::vector<const XmlElement*> XmlElement::children_named(std::string_view child_name) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children)
    if (c.name == child_name) out.push_back(&c);
  return out;
}

Result<XmlElement> parse_xml(std::string_view document) {
  // S3 servers may send white space before the XML declaration (CompleteMultipartUpload keeps the
  // connection alive with it while it assembles the object); expat wants the declaration first.
  while (!document.empty() && (document.front() == ' ' || document.front() == '\n' || document.front() == '\r' ||
                               document.front() == '\t')) {
    document.remove_prefix(1);
  }
  if (document.size() > k_max_document) {
    return fail(Errc::protocol, fmt::format("XML document larger than {} bytes", k_max_document));
  }
  ParseState state;
  state.parser = XML_ParserCreate("UTF-8");
  if (state.parser == nullptr) return fail(Errc::failure, "expat: cannot create a parser");
  XML_SetUserData(state.parser, &state);
  XML_SetElementHandler(state.parser, on_start, on_end);
  XML_SetCharacterDataHandler(state.parser, on_text);
  XML_SetStartDoctypeDeclHandler(state.parser, on_doctype);
  const auto status = XML_Parse(state.parser, document.data(), static_cast<int>(document.size()), XML_TRUE);
  std::string why;
  if (!state.failure.empty()) {
    why = state.failure;
  } else if (status != XML_STATUS_OK) {
    why = fmt::format("{} at line {}", XML_ErrorString(XML_GetErrorCode(state.parser)),
                      XML_GetCurrentLineNumber(state.parser));
  }
  XML_ParserFree(state.parser);
  if (!why.empty()) return fail(Errc::protocol, "malformed XML: " + why);
  if (state.root.name.empty()) return fail(Errc::protocol, "malformed XML: no root element");
  return std::move(state.root);
}

std::string xml_escape(std::string_view text) {
  return util::escape_markup(text, "&apos;");
}

}  // namespace ir::custody
