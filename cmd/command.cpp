#include "cmd/command.hpp"

namespace ir::cli {

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& summary,
                      std::initializer_list<std::string_view> examples, std::string_view notes) {
  CLI::App* app = parent.add_subcommand(name, summary);
  std::string footer = "Examples:";
  for (const auto example : examples) {
    footer += "\n  ";
    footer += example;
  }
  if (!notes.empty()) {
    footer += "\n\n";
    footer += notes;
  }
  app->footer(footer);
  return app;
}

}  // namespace ir::cli
