#pragma once
// The CLI side of the verb table: one flag per option a verb declares (lib/run/verbs.hpp), so a
// verb's options are written once and the command line and playbooks take the same ones. The
// flag is the option's name with '-' for '_' (allow_dns -> --allow-dns), its help the option's;
// after parsing, the flags given are applied onto the options struct through the same setters
// playbooks use (sizes, durations and choices are validated there).

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "playbook/options.hpp"
#include "util/result.hpp"
#include "util/strings.hpp"

namespace ir::cli {

template <class T>
class BoundFlags {
 public:
  // Adds the flags of every option of `set` that the CLI takes to `app`. `set` must outlive this.
  BoundFlags(CLI::App& app, const playbook::OptionSet<T>& set) : m_set(set) {
    for (const auto& b : set.bindings()) {
      if (!b.spec.cli) continue;
      std::string name = b.spec.cli_name.empty() ? b.spec.name : b.spec.cli_name;
      for (auto& c : name) {
        if (c == '_') c = '-';
      }
      const std::string flags = (b.spec.cli_short.empty() ? "" : "-" + b.spec.cli_short + ",") + "--" + name;
      Slot& slot = m_slots.emplace_back(Slot{&b, nullptr, false, {}, {}});
      using Cli = typename playbook::OptionSet<T>::Binding::Cli;
      switch (b.cli) {
        case Cli::flag: slot.option = app.add_flag(flags, slot.flag, b.spec.help); break;
        case Cli::value: slot.option = app.add_option(flags, slot.text, b.spec.help); break;
        case Cli::repeated: slot.option = app.add_option(flags, slot.list, b.spec.help); break;
      }
    }
  }

  // Applies the flags that were given onto `target` (the others keep its values). Errc::usage
  // naming the flag when a value does not convert ("invalid --max-log-bytes \"x\": ...").
  Result<void> apply(T& target) const {
    using Cli = typename playbook::OptionSet<T>::Binding::Cli;
    for (const auto& slot : m_slots) {
      if (slot.option == nullptr || slot.option->count() == 0) continue;
      nlohmann::json value;
      switch (slot.binding->cli) {
        case Cli::flag: value = slot.flag; break;
        case Cli::value: value = slot.text; break;
        case Cli::repeated: value = slot.list; break;
      }
      if (auto r = slot.binding->set(target, value); !r) {
        const std::string shown = slot.binding->cli == Cli::repeated ? util::join(slot.list, ",") : slot.text;
        return fail(Errc::usage, "invalid " + slot.option->get_name() + " " + util::quoted(shown, util::Cap::word) + ": " +
                                     r.error().message);
      }
    }
    return {};
  }

 private:
  struct Slot {
    const typename playbook::OptionSet<T>::Binding* binding;
    CLI::Option* option;
    bool flag;
    std::string text;
    std::vector<std::string> list;
  };
  const playbook::OptionSet<T>& m_set;
  std::deque<Slot> m_slots;  // stable addresses: CLI11 writes into them
};

}  // namespace ir::cli
