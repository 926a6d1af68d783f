#pragma once
// The playbooks shipped with kubectl-ir (playbooks/*.yaml), compiled into the binary so that the
// one-file krew install has them.

#include <string>
#include <string_view>
#include <vector>

namespace ir::playbook {

struct EmbeddedPlaybook {
  std::string name;       // the file name without ".yaml": "triage"
  std::string file;       // "triage.yaml", for diagnostics
  std::string_view text;  // the YAML, static storage
};

// Every shipped playbook, sorted by name. Never throws.
const std::vector<EmbeddedPlaybook>& embedded_playbooks();

// The shipped playbook called `name` ("triage"; "triage.yaml" works too), or nullptr.
const EmbeddedPlaybook* find_embedded(std::string_view name);

}  // namespace ir::playbook
