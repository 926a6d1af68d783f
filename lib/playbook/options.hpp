#pragma once
// Options bound to the fields of an options struct, declared once per verb: the same declaration
// gives the playbook validator its schema (OptionSpec: name, type, help, default), decodes a
// step's rendered `with:` into the struct (typed, defaulted, validated), and lets the CLI add one
// flag per option (cmd/ turns each Binding into a CLI11 option; lib never sees CLI11).
//
//   OptionSet<triage::IsolateOptions> o;
//   o.flag("ingress", &IsolateOptions::ingress, "deny ingress too");
//   o.text("probe", &IsolateOptions::probe, "HOST:PORT to try from inside the pod");
//   auto opts = o.decode(with);   // Result<IsolateOptions>, defaults from IsolateOptions{}
//
// Names are snake_case as playbooks write them; the CLI flag is the same name with '-' for '_'.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "playbook/step_types.hpp"
#include "playbook/template.hpp"
#include "util/result.hpp"
#include "util/strings.hpp"

namespace ir::playbook {

template <class T>
class OptionSet {
 public:
  // One option: its schema and how it reads and writes the field.
  struct Binding {
    OptionSpec spec;
    // Sets the field from a value already typed by check_rendered_options (the JSON type the
    // spec says). Errc::invalid when the value is out of range (a size or choice that does not
    // parse, a duration that is not positive).
    std::function<Result<void>(T&, const nlohmann::json&)> set;
    // The field's value as JSON (its default, read from T{}).
    std::function<nlohmann::json(const T&)> get;
    // How the CLI gives a value: a flag without value, one text value, or a repeatable one.
    enum class Cli { flag, value, repeated } cli = Cli::value;
  };

  OptionSet& flag(std::string name, bool T::*member, std::string help) {
    Binding b{spec(name, OptionType::boolean, help), nullptr, nullptr, Binding::Cli::flag};
    b.set = [member](T& t, const nlohmann::json& v) -> Result<void> {
      t.*member = v.get<bool>();
      return {};
    };
    b.get = [member](const T& t) { return nlohmann::json(t.*member); };
    return add(std::move(b));
  }

  OptionSet& text(std::string name, std::string T::*member, std::string help) {
    Binding b{spec(name, OptionType::string, help), nullptr, nullptr, Binding::Cli::value};
    b.set = [member](T& t, const nlohmann::json& v) -> Result<void> {
      t.*member = v.get<std::string>();
      return {};
    };
    b.get = [member](const T& t) { return nlohmann::json(t.*member); };
    return add(std::move(b));
  }

  OptionSet& list(std::string name, std::vector<std::string> T::*member, std::string help) {
    Binding b{spec(name, OptionType::string_list, help), nullptr, nullptr, Binding::Cli::repeated};
    b.set = [member](T& t, const nlohmann::json& v) -> Result<void> {
      t.*member = v.get<std::vector<std::string>>();
      return {};
    };
    b.get = [member](const T& t) { return nlohmann::json(t.*member); };
    return add(std::move(b));
  }

  // A map of string -> string or null (labels, annotations; null removes a key), kept as JSON.
  OptionSet& map(std::string name, nlohmann::json T::*member, std::string help) {
    Binding b{spec(name, OptionType::string_map, help), nullptr, nullptr, Binding::Cli::value};
    b.set = [member](T& t, const nlohmann::json& v) -> Result<void> {
      t.*member = v;
      return {};
    };
    b.get = [](const T&) { return nlohmann::json(); };
    b.spec.cli = false;
    return add(std::move(b));
  }

  // A whole number >= `min`; the CLI gives it as text ("5").
  OptionSet& integer(std::string name, std::size_t T::*member, std::int64_t min, std::string help) {
    Binding b{spec(name, OptionType::integer, help), nullptr, nullptr, Binding::Cli::value};
    b.spec.min = min;
    b.set = [member, min](T& t, const nlohmann::json& v) -> Result<void> {
      std::optional<std::int64_t> n;
      if (v.is_number_integer()) n = v.get<std::int64_t>();
      if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        std::int64_t x = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
        if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) n = x;
      }
      if (!n || *n < min) return fail(Errc::invalid, fmt::format("must be a whole number >= {}", min));
      t.*member = static_cast<std::size_t>(*n);
      return {};
    };
    b.get = [member](const T& t) { return nlohmann::json(t.*member); };
    return add(std::move(b));
  }

  // A byte size ("64Mi", "1Gi", 1048576); must be > 0.
  OptionSet& size(std::string name, std::uint64_t T::*member, std::string help) {
    Binding b{spec(name, OptionType::size, help), nullptr, nullptr, Binding::Cli::value};
    b.set = [member, name](T& t, const nlohmann::json& v) -> Result<void> {
      std::optional<std::uint64_t> n;
      if (v.is_number_unsigned() || v.is_number_integer()) n = v.get<std::int64_t>() > 0 ? std::optional<std::uint64_t>(v.get<std::uint64_t>()) : std::nullopt;
      if (v.is_string()) n = util::parse_byte_size(v.get<std::string>());
      if (!n || *n == 0) return fail(Errc::invalid, fmt::format("option \"{}\": {} is not a size > 0 (e.g. 16Mi, 1Gi)", name, util::esc(v.dump(), util::Cap::word)));
      t.*member = *n;
      return {};
    };
    b.get = [member](const T& t) { return nlohmann::json(std::to_string(t.*member)); };
    return add(std::move(b));
  }

  // A duration ("30s", "2m", "1h30m"); must be > 0.
  OptionSet& duration(std::string name, std::chrono::seconds T::*member, std::string help) {
    Binding b{spec(name, OptionType::duration, help), nullptr, nullptr, Binding::Cli::value};
    b.set = [member, name](T& t, const nlohmann::json& v) -> Result<void> {
      auto d = v.is_string() ? parse_duration(v.get<std::string>()) : Result<std::chrono::seconds>(fail(Errc::invalid, ""));
      if (!d) return fail(Errc::invalid, fmt::format("option \"{}\": {} is not a duration like 30s, 2m or 1h30m", name, util::esc(v.dump(), util::Cap::word)));
      t.*member = *d;
      return {};
    };
    b.get = [member](const T& t) { return nlohmann::json(std::to_string((t.*member).count()) + "s"); };
    return add(std::move(b));
  }

  // One of `choices`, parsed into an enum field by `parse` and shown by `show`.
  template <class E>
  OptionSet& choice(std::string name, E T::*member, std::vector<std::string> choices,
                    std::function<std::optional<E>(const std::string&)> parse, std::function<std::string(E)> show,
                    std::string help) {
    Binding b{spec(name, OptionType::choice, help), nullptr, nullptr, Binding::Cli::value};
    b.spec.choices = std::move(choices);
    b.set = [member, name, parse, choices = b.spec.choices](T& t, const nlohmann::json& v) -> Result<void> {
      const auto e = v.is_string() ? parse(v.get<std::string>()) : std::nullopt;
      if (!e) return fail(Errc::invalid, fmt::format("option \"{}\" must be one of {}", name, util::join(choices, ", ")));
      t.*member = *e;
      return {};
    };
    b.get = [member, show](const T& t) { return nlohmann::json(show(t.*member)); };
    return add(std::move(b));
  }

  // The option added last must be given.
  OptionSet& required() {
    m_bindings.back().spec.required = true;
    return *this;
  }
  // The CLI's short flag for the option added last ("c" for -c).
  OptionSet& cli_short(std::string letter) {
    m_bindings.back().spec.cli_short = std::move(letter);
    return *this;
  }
  // The CLI's long flag for the option added last, when it is not the option's name ("path": the
  // CLI repeats --path for the option "paths").
  OptionSet& cli_name(std::string name) {
    m_bindings.back().spec.cli_name = std::move(name);
    return *this;
  }
  // An extra check on the values of the option added last (after its type is checked), e.g. "an
  // absolute path": Errc::invalid with the reason.
  OptionSet& check(std::function<Result<void>(const nlohmann::json&)> valid) {
    auto& b = m_bindings.back();
    b.set = [set = std::move(b.set), valid = std::move(valid)](T& t, const nlohmann::json& v) -> Result<void> {
      IR_CHECK(valid(v));
      return set(t, v);
    };
    return *this;
  }
  // The option added last is for playbooks only (no CLI flag: the CLI takes it another way).
  OptionSet& playbook_only() {
    m_bindings.back().spec.cli = false;
    return *this;
  }

  [[nodiscard]] const std::vector<Binding>& bindings() const { return m_bindings; }

  // The schemas, in declaration order, with their defaults read from `defaults`.
  [[nodiscard]] std::vector<OptionSpec> specs(const T& defaults = T{}) const {
    std::vector<OptionSpec> out;
    for (const auto& b : m_bindings) {
      OptionSpec s = b.spec;
      s.default_value = b.get(defaults);
      out.push_back(std::move(s));
    }
    return out;
  }

  // Applies the options present (not null) in `with` onto `target`; absent options keep the
  // target's value (its default). Values must already be typed as their spec says
  // (check_rendered_options); a value of the wrong JSON type is Errc::invalid. Never throws.
  Result<void> apply(const nlohmann::json& with, T& target) const {
    if (!with.is_object()) return fail(Errc::invalid, "options must be a map");
    for (const auto& b : m_bindings) {
      const auto it = with.find(b.spec.name);
      if (it == with.end() || it->is_null()) continue;
      try {
        IR_CHECK(b.set(target, *it));
      } catch (const nlohmann::json::exception&) {
        return fail(Errc::invalid, fmt::format("option \"{}\" must be {}, got {}", b.spec.name, expected_value(b.spec),
                                               describe_value(*it)));
      }
    }
    return {};
  }

  // A T with its defaults and `with` applied.
  Result<T> decode(const nlohmann::json& with, T defaults = T{}) const {
    IR_CHECK(apply(with, defaults));
    return defaults;
  }

 private:
  static OptionSpec spec(const std::string& name, OptionType type, const std::string& help) {
    OptionSpec s;
    s.name = name;
    s.type = type;
    s.help = help;
    return s;
  }
  OptionSet& add(Binding b) {
    m_bindings.push_back(std::move(b));
    return *this;
  }
  std::vector<Binding> m_bindings;
};

}  // namespace ir::playbook
