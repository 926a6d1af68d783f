#include <doctest/doctest.h>

#include "playbook/options.hpp"

using namespace ir;
using namespace ir::playbook;
using nlohmann::json;

namespace {

enum class Mode { fast, slow };

struct Opts {
  bool flag = false;
  std::string text = "dflt";
  std::vector<std::string> items{"a"};
  std::uint64_t size = 1024;
  std::chrono::seconds wait{30};
  Mode mode = Mode::fast;
  json map = json::object();
};

const OptionSet<Opts>& opts() {
  static const OptionSet<Opts> o = [] {
    OptionSet<Opts> s;
    s.flag("flag", &Opts::flag, "a flag");
    s.text("text", &Opts::text, "a text").check([](const json& v) -> Result<void> {
      if (v.get<std::string>().empty()) return fail(Errc::invalid, "must not be empty");
      return {};
    });
    s.list("items", &Opts::items, "a list").cli_short("i").cli_name("item");
    s.size("size", &Opts::size, "a size");
    s.duration("wait", &Opts::wait, "a duration").required();
    s.choice<Mode>(
        "mode", &Opts::mode, {"fast", "slow"},
        [](const std::string& t) -> std::optional<Mode> {
          if (t == "fast") return Mode::fast;
          if (t == "slow") return Mode::slow;
          return std::nullopt;
        },
        [](Mode m) { return std::string(m == Mode::fast ? "fast" : "slow"); }, "a choice");
    s.map("map", &Opts::map, "a map");
    return s;
  }();
  return o;
}

}  // namespace

TEST_CASE("OptionSet: the schema says names, types, help, defaults and CLI spelling") {
  const auto specs = opts().specs();
  REQUIRE(specs.size() == 7);
  CHECK(specs[0].name == "flag");
  CHECK(specs[0].type == OptionType::boolean);
  CHECK(specs[0].default_value == false);
  CHECK(specs[1].default_value == "dflt");
  CHECK(specs[2].type == OptionType::string_list);
  CHECK(specs[2].cli_short == "i");
  CHECK(specs[2].cli_name == "item");
  CHECK(specs[3].type == OptionType::size);
  CHECK(specs[3].default_value == "1024");
  CHECK(specs[4].type == OptionType::duration);
  CHECK(specs[4].required);
  CHECK(specs[4].default_value == "30s");
  CHECK(specs[5].type == OptionType::choice);
  CHECK(specs[5].choices == std::vector<std::string>{"fast", "slow"});
  CHECK(specs[5].default_value == "fast");
  CHECK(specs[6].type == OptionType::string_map);
  CHECK_FALSE(specs[6].cli);  // maps are playbook-only
  CHECK(specs[1].help == "a text");
}

TEST_CASE("OptionSet::decode: typed values onto the struct; absent ones keep the defaults") {
  auto o = opts().decode({{"flag", true}, {"items", {"x", "y"}}, {"size", "64Ki"}, {"wait", "1m30s"}, {"mode", "slow"},
                          {"map", {{"k", nullptr}}}, {"text", nullptr}, {"unknown", 3}});
  REQUIRE(o);
  CHECK(o->flag);
  CHECK(o->text == "dflt");  // null: not set
  CHECK(o->items == std::vector<std::string>{"x", "y"});
  CHECK(o->size == 65536);
  CHECK(o->wait == std::chrono::seconds(90));
  CHECK(o->mode == Mode::slow);
  CHECK(o->map == json{{"k", nullptr}});
  auto plain = opts().decode(json::object());
  REQUIRE(plain);
  CHECK(plain->size == 1024);
  CHECK(plain->items == std::vector<std::string>{"a"});
  auto from_int = opts().decode({{"size", 4096}});
  REQUIRE(from_int);
  CHECK(from_int->size == 4096);
}

TEST_CASE("OptionSet::decode: values out of range or of the wrong type are Errc::invalid naming the option") {
  struct Case {
    json with;
    const char* message;
  };
  const Case cases[] = {
      {{{"size", "lots"}}, "option \"size\": \"lots\" is not a size > 0 (e.g. 16Mi, 1Gi)"},
      {{{"size", 0}}, "option \"size\": 0 is not a size > 0 (e.g. 16Mi, 1Gi)"},
      {{{"wait", "soon"}}, "option \"wait\": \"soon\" is not a duration like 30s, 2m or 1h30m"},
      {{{"mode", "warp"}}, "option \"mode\" must be one of fast, slow"},
      {{{"text", ""}}, "must not be empty"},
      {{{"flag", "yes"}}, "option \"flag\" must be a bool, got string \"yes\""},
      {{{"items", "x"}}, "option \"items\" must be a list of strings, got string \"x\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.with.dump());
    auto r = opts().decode(c.with);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid);
    CHECK(r.error().message == c.message);
  }
  CHECK_FALSE(opts().decode(json::array()));
}
