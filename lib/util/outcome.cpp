#include "util/outcome.hpp"

namespace ir::util {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::ok: return "ok";
    case Outcome::skipped: return "skipped";
    case Outcome::partial: return "partial";
    case Outcome::failed: return "failed";
    case Outcome::interrupted: return "interrupted";
  }
  return "?";
}

std::optional<Outcome> parse_outcome(std::string_view text) {
  for (const auto o : {Outcome::ok, Outcome::skipped, Outcome::partial, Outcome::failed, Outcome::interrupted}) {
    if (text == to_string(o)) return o;
  }
  return std::nullopt;
}

}  // namespace ir::util
