#pragma once
// Responses captured from a real Kubernetes v1.26 cluster (../shared/k8s-samples).

#include <doctest/doctest.h>

#include <string>

#include "util/files.hpp"

namespace ir::testing {

inline std::string sample(const std::string& name) {
  auto r = util::read_file(std::string(IR_SAMPLES_DIR) + "/" + name);
  REQUIRE_MESSAGE(r, "missing sample " << name);
  return *r;
}

}  // namespace ir::testing
