#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "playbook/embedded.hpp"
#include "playbook/playbook.hpp"
#include "run/verbs.hpp"

using namespace ir::playbook;

TEST_CASE("playbook::embedded_playbooks: every shipped playbook, byte for byte, and each validates") {
  const std::filesystem::path dir = std::filesystem::path(IR_TESTDATA_DIR) / ".." / ".." / "playbooks";
  std::vector<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") on_disk.push_back(entry.path().stem().string());
  }
  std::sort(on_disk.begin(), on_disk.end());
  std::vector<std::string> embedded;
  for (const auto& p : embedded_playbooks()) embedded.push_back(p.name);
  CHECK(embedded == on_disk);
  CHECK(embedded ==
        std::vector<std::string>{"contain-siblings", "cryptominer", "exfiltration", "shell-less", "triage"});

  for (const auto& p : embedded_playbooks()) {
    CAPTURE(p.file);
    std::ifstream in(dir / p.file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(p.text == text);
    CHECK(p.file == p.name + ".yaml");
    const auto parsed = parse_playbook(p.text, p.file, ir::run::step_types());
    REQUIRE_MESSAGE(parsed, parsed.error().message);
    CHECK(parsed->name == p.name);
    CHECK_FALSE(parsed->description.empty());
    for (const auto& step : parsed->steps) {
      CAPTURE(step.id);
      CHECK_FALSE(step.description.empty());
    }
  }
}

TEST_CASE("playbook::find_embedded") {
  REQUIRE(find_embedded("triage") != nullptr);
  CHECK(find_embedded("triage")->file == "triage.yaml");
  CHECK(find_embedded("triage.yaml") == find_embedded("triage"));
  CHECK(find_embedded("nope") == nullptr);
  CHECK(find_embedded("") == nullptr);
}

TEST_CASE("playbook::embedded_playbooks: what the shipped playbooks do") {
  const auto triage = parse_playbook(find_embedded("triage")->text, "triage.yaml", ir::run::step_types()).value();
  REQUIRE(triage.steps.size() == 5);
  // Containment first, never after an analysis; drift (read-only) then tightens it when the pod
  // talks to something no sibling does.
  CHECK(triage.steps[0].uses == "isolate");
  CHECK(triage.steps[1].uses == "drift");
  CHECK(triage.steps[2].uses == "isolate");
  CHECK(triage.steps[2].when == "steps.drift.connections > 0");
  CHECK(triage.steps[2].with["ingress"] == true);
  CHECK(triage.steps[2].with["allow_dns"] == false);
  CHECK(triage.steps[3].with["fs"] == "listing");
  CHECK(triage.steps[4].uses == "siblings");
  CHECK(triage.params[0].name == "allow_dns");
  CHECK(triage.params[0].default_value == true);

  const auto miner = parse_playbook(find_embedded("cryptominer")->text, "cryptominer.yaml", ir::run::step_types()).value();
  CHECK(miner.steps[1].with["paths"] == nlohmann::json::array({"/tmp", "/var/tmp", "/dev/shm"}));
  CHECK(miner.steps[1].with["fs"] == "archive");
  CHECK(miner.steps.back().with["labels"]["kubectl-ir/finding"] == "{{ params.finding }}");

  const auto exfil = parse_playbook(find_embedded("exfiltration")->text, "exfiltration.yaml", ir::run::step_types()).value();
  CHECK(exfil.steps[0].with["ingress"] == true);
  CHECK(exfil.steps.back().when == "steps.siblings.count > 0");
  CHECK(exfil.steps.back().with["parallel"] == 2);
  REQUIRE(exfil.steps.back().steps.size() == 1);
  CHECK(exfil.steps.back().steps[0].with["ingress"] == true);

  const auto shell_less = parse_playbook(find_embedded("shell-less")->text, "shell-less.yaml", ir::run::step_types()).value();
  CHECK(shell_less.steps[0].with["ephemeral"] == true);
  CHECK(shell_less.params[0].default_value == "busybox");

  const auto contain = parse_playbook(find_embedded("contain-siblings")->text, "contain-siblings.yaml", ir::run::step_types()).value();
  REQUIRE(contain.steps.back().steps.size() == 3);
  CHECK(contain.steps.back().steps[1].uses == "drift");  // drift reported for every sibling visited
  CHECK(contain.params[0].default_value == 2);
}
