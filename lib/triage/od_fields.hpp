#pragma once
// Reading fields of API objects through simdjson's on-demand parser (the large pod lists): never
// throws, never trusts a field to be of the type the API says.

#include <string_view>

#include <simdjson.h>

namespace ir::triage::od_fields {

// A field as a string (a view into the parser's buffers, valid until the next document), or ""
// when it is of another type.
inline std::string_view text(simdjson::ondemand::value v) {
  std::string_view s;
  return v.get_string().get(s) == simdjson::SUCCESS ? s : std::string_view();
}

}  // namespace ir::triage::od_fields
