#pragma once
// The one outcome model of every command, step and playbook: how far an action reached its goal.
// An action whose goal was not reached (not contained, not collected, forbidden) is never `ok`,
// whatever the exit status of what it ran; a whole (a collection, a playbook) is as good as its
// worst part.

#include <optional>
#include <string_view>

namespace ir::util {

// In order of severity: worst() keeps the later one.
enum class Outcome {
  ok,           // the goal was reached
  skipped,      // not attempted, by design (a `when:` that was false, a container not running)
  partial,      // reached in part: evidence is missing, a direction is not contained
  failed,       // not reached
  interrupted,  // stopped by Ctrl-C (or a step's timeout) before it could finish
};

// "ok", "skipped", "partial", "failed", "interrupted".
const char* to_string(Outcome outcome);

// The inverse of to_string; nullopt for anything else.
std::optional<Outcome> parse_outcome(std::string_view text);

// The more severe of the two.
constexpr Outcome worst(Outcome a, Outcome b) { return static_cast<int>(a) >= static_cast<int>(b) ? a : b; }

// True for ok and skipped: nothing that was asked for is missing.
constexpr bool complete(Outcome o) { return o == Outcome::ok || o == Outcome::skipped; }

}  // namespace ir::util
