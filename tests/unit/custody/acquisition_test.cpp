#include <doctest/doctest.h>

#include "custody/acquisition.hpp"

using namespace ir;
using namespace ir::custody;

namespace {
const SignerInfo k_signer{"0.1.0", "abc123", "sha256:k", "2026-12-05T10:20:00Z"};
}

TEST_CASE("acquisition_predicate from acquisition.json keeps the known fields") {
  const std::string doc = R"({"format":"kubectl-ir-acquisition/v1","case":"case-1","examiner":"alice","caller":"",
    "tool":{"name":"kubectl-ir","version":"0.1.0","commit":"6b43b5c"},"cluster":{"context":"prod","server":"https://x"},
    "host":"h","command":"kubectl ir collect web-1","started":"2026-12-05T10:15:00Z","ended":"2026-12-05T10:15:09Z",
    "result":"partial","subjects":[{"namespace":"shop","pod":"web-1","uid":"u","resourceVersion":"1","node":"n",
    "images":[{"container":"web","imageID":"r@sha256:aa","digest":"sha256:aa","evil":{"x":1}}]}],
    "not_collected":["fs: no tar",42],"secret_extra":"dropped"})";
  const auto p = acquisition_predicate(&doc, nullptr, k_signer);
  CHECK(p["source"] == "acquisition.json");
  CHECK(p["case"] == "case-1");
  CHECK(p["caller"] == "");
  CHECK(p["tool"]["commit"] == "6b43b5c");
  CHECK(p["subjects"][0]["images"][0]["digest"] == "sha256:aa");
  CHECK_FALSE(p["subjects"][0]["images"][0].contains("evil"));
  CHECK(p["not_collected"] == nlohmann::json::array({"fs: no tar"}));
  CHECK_FALSE(p.contains("secret_extra"));
  CHECK(p["missing"].empty());
  CHECK(p["signed"]["tool"]["version"] == "0.1.0");
  CHECK(p["signed"]["at"] == "2026-12-05T10:20:00Z");
}

TEST_CASE("acquisition_predicate: wrong types are missing, not copied") {
  const std::string doc = R"({"case":7,"examiner":["x"],"subjects":"no","tool":"kubectl-ir"})";
  const auto p = acquisition_predicate(&doc, nullptr, k_signer);
  CHECK_FALSE(p.contains("case"));
  const auto missing = p["missing"].get<std::vector<std::string>>();
  CHECK(std::find(missing.begin(), missing.end(), "case") != missing.end());
  CHECK(std::find(missing.begin(), missing.end(), "tool.version") != missing.end());
  CHECK(std::find(missing.begin(), missing.end(), "subjects") != missing.end());
}

TEST_CASE("acquisition_predicate falls back to acquisition.log, then to nothing") {
  const std::string log =
      "kubectl-ir acquisition log\ncase:             case-9\nexaminer:         bob\ncaller identity:  bob\n"
      "started (UTC):    2026-12-05T10:00:00Z\ntool:             kubectl-ir v0.1.0\npod uid:          u-9\n"
      "imageID web:      docker.io/library/nginx@sha256:abcd\n\nsteps:\n  pod ok\n";
  const std::string bad_json = "{not json";
  auto p = acquisition_predicate(&bad_json, &log, k_signer);
  CHECK(p["source"] == "acquisition.log");
  CHECK(p["problem"] == "acquisition.json is not a JSON object");
  CHECK(p["case"] == "case-9");
  CHECK(p["tool"]["version"] == "v0.1.0");
  CHECK(p["subjects"][0]["uid"] == "u-9");
  CHECK(p["subjects"][0]["images"][0]["digest"] == "sha256:abcd");
  p = acquisition_predicate(nullptr, nullptr, k_signer);
  CHECK(p["source"] == "none");
  CHECK(p["missing"] == nlohmann::json::array({"acquisition.json", "acquisition.log"}));
}
