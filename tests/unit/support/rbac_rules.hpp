#pragma once
// The grants of RBAC roles in the form tests compare: "verb resource[/subresource][.group]", as
// kube::qualified_resource names a resource (doctor_test.cpp's ClusterRole and
// responder_rbac_test.cpp's Roles, both under scripts/rbac/).

#include <set>
#include <string>

#include <yaml-cpp/yaml.h>

#include "kube/api.hpp"

namespace ir::testing {

inline std::string grant(const std::string& verb, const std::string& group, const std::string& resource,
                         const std::string& subresource = "") {
  return verb + " " + kube::qualified_resource({verb, group, resource, subresource, "", ""});
}

// Every grant of a Role or ClusterRole's rules: each verb on each resource of each API group.
inline std::set<std::string> rules_of(const YAML::Node& role) {
  std::set<std::string> out;
  for (const auto& rule : role["rules"]) {
    for (const auto& g : rule["apiGroups"]) {
      for (const auto& r : rule["resources"]) {
        const auto res = r.as<std::string>();
        const auto slash = res.find('/');
        for (const auto& v : rule["verbs"]) {
          out.insert(grant(v.as<std::string>(), g.as<std::string>(), res.substr(0, slash),
                           slash == std::string::npos ? "" : res.substr(slash + 1)));
        }
      }
    }
  }
  return out;
}

}  // namespace ir::testing
