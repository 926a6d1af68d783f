#pragma once
// A small, bounded XML reader for the answers of S3 and STS (error documents, multipart upload ids,
// part lists, temporary credentials), over expat. The answers come from a server we do not control:
// input size, nesting and element count are bounded, and a DOCTYPE (entity declarations) is refused,
// so neither external entities nor entity expansion can be used against the parser.

#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ir::custody {

// One element: its local name (any "prefix:" removed), its text (character data directly inside it,
// concatenated) and its child elements in document order. Attributes are not kept.
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child called `name`, or nullptr.
  [[nodiscard]] const XmlElement* child(std::string_view child_name) const;
  // The text of the first child called `name`, or "" when there is none.
  [[nodiscard]] std::string child_text(std::string_view child_name) const;
  // Every child called `name`, in order.
  [[nodiscard]] std::vector<const XmlElement*> children_named(std::string_view child_name) const;
};

// Parses a whole document into its root element. Fails with Errc::protocol when the document is
// not well-formed XML, declares a DOCTYPE, nests deeper than 32 levels, has more than 100,000
// elements or is larger than 16 MiB; the message says which (never quoting the document).
Result<XmlElement> parse_xml(std::string_view document);

// Escapes text for an XML element's content or an attribute value (& < > " ').
std::string xml_escape(std::string_view text);

}  // namespace ir::custody
