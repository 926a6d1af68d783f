// Fuzz target: parse_playbook on arbitrary bytes, then render and evaluate what a valid playbook
// holds. Invariants: no crash, hang or exception (yaml-cpp and nlohmann throw; lib/playbook must
// catch everything); a rejected playbook has at least one diagnostic, each at a 1-based position
// with a one-line message; an accepted one has none.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "playbook/condition.hpp"
#include "playbook/playbook.hpp"
#include "run/verbs.hpp"
#include "playbook/template.hpp"

namespace {

using ir::playbook::Step;

void check(bool ok) {
  if (!ok) std::abort();
}

void visit(const std::vector<Step>& steps, const nlohmann::json& scope) {
  for (const auto& step : steps) {
    (void)ir::playbook::render(step.with, scope);
    if (!step.when.empty()) (void)ir::playbook::evaluate_condition(step.when, scope);
    visit(step.steps, scope);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    std::vector<ir::playbook::Diagnostic> diagnostics;
    const auto playbook = ir::playbook::parse_playbook(text, "fuzz.yaml", ir::run::step_types(), &diagnostics);
    check(playbook.has_value() == diagnostics.empty());
    for (const auto& d : diagnostics) {
      check(d.pos.line >= 1 && d.pos.column >= 1);
      check(!d.message.empty() && d.message.find('\n') == std::string::npos);
    }
    if (playbook) {
      const nlohmann::json scope = {{"pod", "web-1"},
                                    {"namespace", "shop"},
                                    {"case", "c"},
                                    {"params", nlohmann::json::object()},
                                    {"steps", nlohmann::json::object()},
                                    {"item", {{"name", "x"}}}};
      visit(playbook->steps, scope);
      (void)ir::playbook::resolve_params(*playbook, {{"x", "1"}});
    }
  } catch (...) {
    std::abort();
  }
  return 0;
}
