#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "forensics/baseline.hpp"
#include "support/forensics_builders.hpp"
#include "util/files.hpp"

using namespace ir::forensics;
using namespace ir::testing;
using nlohmann::json;

namespace {

const BaselineMeta k_meta{"2026-12-01T09:00:00Z", "kubectl-ir 0.1.0", "deployment/web", "shop"};

// The baseline of the demo's two healthy replicas, as `kubectl ir baseline create deployment/web`
// would make it (no suspect: containers come from the members).
Profile demo_profile() {
  ProfileBuilder b;
  for (const char* name : {k_demo_healthy_1, k_demo_healthy_2}) {
    const auto pod = demo_pod(name);
    b.add(member_of(pod), pod);
  }
  return std::move(b).finish();
}

std::string fixture_path() {
  return std::string(IR_TESTDATA_DIR) + "/forensics/baseline-demo.json";
}

std::set<std::pair<std::string, std::string>> rules_and_summaries(const std::vector<Finding>& findings) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& f : findings) out.emplace(f.rule, f.subject.dump());
  return out;
}

// A valid file to break in one place.
json valid() {
  return baseline_to_json(demo_profile(), k_meta);
}

std::string error_of(const std::string& text, const BaselineLimits& limits = {}) {
  const auto r = parse_baseline(text, limits);
  if (r) return "(parsed)";
  CHECK(r.error().code == ir::Errc::invalid);
  return r.error().message;
}

}  // namespace

TEST_CASE(
    "write_baseline: the demo's healthy replicas give tests/testdata/forensics/baseline-demo.json, byte for byte") {
  const std::string text = write_baseline(demo_profile(), k_meta);
  auto fixture = ir::util::read_file(fixture_path());
  REQUIRE(fixture);
  // A difference here is a change of the file format: update the fixture (and README.md) on purpose.
  CHECK(text == *fixture);
  CHECK(text == write_baseline(demo_profile(), k_meta));  // deterministic
}

TEST_CASE("parse_baseline: round trip") {
  const Profile profile = demo_profile();
  auto loaded = parse_baseline(write_baseline(profile, k_meta));
  REQUIRE(loaded);
  CHECK(loaded->meta.created == k_meta.created);
  CHECK(loaded->meta.subject == "deployment/web");
  CHECK(loaded->profile.source == BaselineSource::baseline_file);
  CHECK(loaded->profile.relation() == Relation::baseline_file);
  CHECK(loaded->profile.digest == "sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31");
  REQUIRE(loaded->profile.members.size() == 2);
  CHECK(loaded->profile.members[0].relation == Relation::baseline_file);
  REQUIRE(loaded->profile.containers.size() == 1);
  const auto& a = profile.containers[0];
  const auto& b = loaded->profile.containers[0];
  CHECK(a.members == b.members);
  CHECK(a.executables.size() == b.executables.size());
  CHECK(a.listening == b.listening);
  CHECK(a.connections == b.connections);
  CHECK(a.files.size() == b.files.size());
  // Written again: the same file, but for the members, now from a baseline file.
  json expected = valid();
  for (auto& m : expected["members"]) m["relation"] = "baseline-file";
  CHECK(json(baseline_to_json(loaded->profile, loaded->meta)) == expected);
}

TEST_CASE("drift against a baseline file finds what drift against the live siblings finds") {
  const auto suspect = demo_pod(k_demo_compromised);
  auto file = parse_baseline(write_baseline(demo_profile(), k_meta));
  REQUIRE(file);
  const auto d = drift_document(suspect, file->profile, {}, "2026-12-05T10:00:00Z", "web-baseline.json");
  const auto a = demo_pod(k_demo_healthy_1);
  const auto b = demo_pod(k_demo_healthy_2);
  const auto live = compare(suspect, profile_of_members(suspect, {{member_of(a), &a}, {member_of(b), &b}}), {});
  CHECK(rules_and_summaries(d.findings) == rules_and_summaries(live.findings));
  CHECK(d.findings.size() == 8);
  for (const auto& f : d.findings) {
    CHECK(f.judged_against == Relation::baseline_file);
    CHECK(f.seen_in->of == 2);
    CHECK(f.summary.find("baseline pods") != std::string::npos);
  }
  REQUIRE(d.baseline);
  CHECK(d.baseline->source == BaselineSource::baseline_file);
  CHECK(d.baseline->file == "web-baseline.json");
  CHECK(d.baseline->created == "2026-12-01T09:00:00Z");
  CHECK(d.gaps.empty());
  const json j = to_json(d);
  CHECK(j["baseline"]["members"][0]["relation"] == "baseline-file");
  // A healthy replica against the file: nothing.
  CHECK(drift_document(a, file->profile, {}, "t").findings.empty());
}

TEST_CASE("drift against a baseline of another image says so first, loudly") {
  auto file = parse_baseline(write_baseline(demo_profile(), k_meta));
  REQUIRE(file);
  auto suspect = demo_pod(k_demo_healthy_1);
  suspect.containers[0].digest = "sha256:" + sha_of('e');
  const auto d = drift_document(suspect, file->profile, {}, "t", "old.json");
  REQUIRE_FALSE(d.gaps.empty());
  CHECK(d.gaps[0].rfind("IMAGE DIFFERS: the baseline of container web was made from sha256:ce8b", 0) == 0);
  CHECK(d.gaps[0].find("the pod runs sha256:eeee") != std::string::npos);

  SUBCASE("no container of the name or the image: still loud, not a quiet gap") {
    auto other = demo_pod(k_demo_healthy_1);
    other.containers[0].name = "cart";
    other.containers[0].digest = "sha256:" + sha_of('e');
    const auto o = drift_document(other, file->profile, {}, "t", "web.json");
    CHECK(o.findings.empty());
    REQUIRE_FALSE(o.gaps.empty());
    CHECK(o.gaps[0].rfind("IMAGE DIFFERS: the baseline has no container cart and no container of its image sha256:eeee", 0) == 0);
  }
}

TEST_CASE("parse_baseline: hostile and broken files fail with where and why") {
  struct Case {
    const char* what;
    std::function<std::string()> text;
    std::string error;  // the message starts with it
  };
  auto edit = [](std::function<void(json&)> f) {
    return [f] {
      json j = valid();
      f(j);
      return j.dump(1);
    };
  };
  const std::vector<Case> cases = {
      {"not JSON", [] { return std::string("{\n \"format\": \"kubectl-ir-baseline/v1\",\n oops\n}"); },
       "line 3, column"},
      {"nested too deep", [] { return std::string(40, '[') + std::string(40, ']'); },
       "line 1, column 17: nested deeper than 16 levels"},
      {"not an object", [] { return std::string("[]"); }, "/: expected an object"},
      {"another format", edit([](json& j) { j["format"] = "kubectl-ir-baseline/v9"; }),
       "/format: \"kubectl-ir-baseline/v9\" is not kubectl-ir-baseline/v1"},
      {"a field missing", edit([](json& j) { j.erase("members"); }), "/: \"members\" is missing"},
      {"a field of the wrong type", edit([](json& j) { j["containers"][0]["executables"] = "x"; }),
       "/containers/0/executables: expected an array, found string"},
      {"a count above its members", edit([](json& j) { j["containers"][0]["executables"][0]["count"] = 5; }),
       "/containers/0/executables/0/count: 5 is more than the 2 members with executables"},
      {"a negative count", edit([](json& j) { j["containers"][0]["listening"][0]["count"] = -1; }),
       "/containers/0/listening/0/count: expected a non-negative integer, found number"},
      {"a bad hash", edit([](json& j) {
         j["containers"][0]["executables"][0]["sha256"] = {{"XYZ", 1}};
       }),
       "/containers/0/executables/0/sha256: a key is not 64 lower-case hex digits"},
      {"a control character", edit([](json& j) { j["containers"][0]["files"][0]["path"] = "/\x1b[2J"; }),
       "/containers/0/files/0/path: holds control characters or invalid UTF-8"},
      {"an unknown file type", edit([](json& j) { j["containers"][0]["files"][0]["type"] = "door"; }),
       "/containers/0/files/0/type: not a file type kubectl-ir writes"},
      {"a relative path", edit([](json& j) { j["containers"][0]["files"][0]["path"] = "etc"; }),
       "/containers/0/files/0/path: not an absolute path"},
      {"a bad mode", edit([](json& j) { j["containers"][0]["files"][0]["mode"] = "rwxr-xr-x"; }),
       "/containers/0/files/0/mode: expected four octal digits"},
      {"a bad relation", edit([](json& j) { j["members"][0]["relation"] = "friend"; }),
       "/members/0/relation: expected same-workload, same-digest or baseline-file"},
      {"a bad time", edit([](json& j) { j["created"] = "yesterday"; }), "/created: not an RFC 3339 time"},
      {"an item twice",
       edit([](json& j) { j["containers"][0]["listening"].push_back(j["containers"][0]["listening"][0]); }),
       "/containers/0/listening/1/key: listed twice"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const std::string e = error_of(c.text());
    CHECK_MESSAGE(e.rfind(c.error, 0) == 0, e);
  }
}

TEST_CASE("parse_baseline: bounded") {
  const std::string text = write_baseline(demo_profile(), k_meta);
  BaselineLimits small;
  small.max_bytes = 1000;
  CHECK(error_of(text, small).find("more than the 1000 accepted") != std::string::npos);
  BaselineLimits few;
  few.max_items = 10;
  CHECK(error_of(text, few).find("more than 10 items in the file") != std::string::npos);
  BaselineLimits short_strings;
  short_strings.max_string_bytes = 8;
  CHECK(error_of(text, short_strings).rfind("/format: a string of 22 bytes, more than the 8 accepted", 0) == 0);
}
