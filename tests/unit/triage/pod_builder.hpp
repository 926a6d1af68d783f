#pragma once
// Builders for the Pod and List objects siblings reads, shaped like the API server's (see
// shared/k8s-samples/pod-busybox.json): metadata, then spec, then status.

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ir::testing {

inline const std::string k_web_hex = "ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31";
inline const std::string k_other_hex = "170c589f6bef78c76e74795a92b919896d7c853b82ffeec7b3aa320519e68e01";
inline const std::string k_web_id = "registry.example.com/shop/web@sha256:" + k_web_hex;

class PodBuilder {
 public:
  PodBuilder& ns(std::string v) { m_ns = std::move(v); return *this; }
  PodBuilder& name(std::string v) { m_name = std::move(v); return *this; }
  PodBuilder& node(std::string v) { m_node = std::move(v); return *this; }
  PodBuilder& phase(std::string v) { m_phase = std::move(v); return *this; }
  PodBuilder& created(std::string v) { m_created = std::move(v); return *this; }
  PodBuilder& terminating() { m_terminating = true; return *this; }
  // The controller ownerReference.
  PodBuilder& owner(std::string api_version, std::string kind, std::string name) {
    m_owner = {{"apiVersion", std::move(api_version)}, {"kind", std::move(kind)}, {"name", std::move(name)},
               {"uid", "0000"}, {"controller", true}, {"blockOwnerDeletion", true}};
    return *this;
  }
  // A started container: spec image and status imageID ("" = not started yet).
  PodBuilder& container(std::string cname, std::string image, std::string image_id) {
    return add("containers", "containerStatuses", std::move(cname), std::move(image), std::move(image_id));
  }
  PodBuilder& init_container(std::string cname, std::string image, std::string image_id) {
    return add("initContainers", "initContainerStatuses", std::move(cname), std::move(image), std::move(image_id));
  }
  PodBuilder& ephemeral_container(std::string cname, std::string image, std::string image_id) {
    return add("ephemeralContainers", "ephemeralContainerStatuses", std::move(cname), std::move(image), std::move(image_id));
  }
  // A container in the spec only (the pod is not even scheduled: no status entry at all).
  PodBuilder& spec_only(std::string cname, std::string image) {
    m_spec["containers"].push_back({{"name", std::move(cname)}, {"image", std::move(image)}});
    return *this;
  }

  [[nodiscard]] nlohmann::json json() const {
    nlohmann::json md = {{"name", m_name}, {"namespace", m_ns}, {"uid", "uid-" + m_name},
                         {"creationTimestamp", m_created}, {"labels", {{"app", "x"}}}};
    if (!m_owner.is_null()) md["ownerReferences"] = nlohmann::json::array({m_owner});
    if (m_terminating) md["deletionTimestamp"] = "2026-11-21T16:10:00Z";
    nlohmann::json spec = m_spec;
    if (!m_node.empty()) spec["nodeName"] = m_node;
    nlohmann::json status = m_status;
    status["phase"] = m_phase;
    return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", md}, {"spec", spec}, {"status", status}};
  }

 private:
  PodBuilder& add(const char* spec_key, const char* status_key, std::string cname, std::string image, std::string image_id) {
    m_spec[spec_key].push_back({{"name", cname}, {"image", image}, {"imagePullPolicy", "IfNotPresent"}});
    nlohmann::json st = {{"name", cname}, {"image", image}, {"imageID", image_id}, {"ready", !image_id.empty()},
                         {"restartCount", 0}};
    st["state"] = image_id.empty() ? nlohmann::json{{"waiting", {{"reason", "ContainerCreating"}}}}
                                   : nlohmann::json{{"running", {{"startedAt", "2026-11-21T16:02:28Z"}}}};
    if (!image_id.empty()) st["containerID"] = "containerd://" + k_other_hex;
    m_status[status_key].push_back(std::move(st));
    return *this;
  }

  std::string m_ns = "shop", m_name = "web-1", m_node = "node-1", m_phase = "Running";
  std::string m_created = "2026-11-21T16:00:00Z";
  bool m_terminating = false;
  nlohmann::json m_owner;
  nlohmann::json m_spec = nlohmann::json::object();
  nlohmann::json m_status = nlohmann::json::object();
};

// A List page as JSON text: kind, apiVersion, metadata (continue when given), items.
inline std::string list_page(const std::vector<nlohmann::json>& items, const std::string& cont = {},
                             const std::string& kind = "PodList") {
  nlohmann::json j = {{"kind", kind}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "42"}}}};
  if (!cont.empty()) j["metadata"]["continue"] = cont;
  j["items"] = items;
  return j.dump();
}

// An object with a controller owner (ReplicaSet, Job) as the API server returns it on GET.
inline nlohmann::json owned_object(const std::string& api_version, const std::string& kind, const std::string& ns,
                                   const std::string& name, const std::string& owner_kind = {},
                                   const std::string& owner_name = {}, const std::string& owner_api = "apps/v1") {
  nlohmann::json md = {{"name", name}, {"namespace", ns}, {"uid", "u-" + name}};
  if (!owner_kind.empty()) {
    md["ownerReferences"] = nlohmann::json::array(
        {{{"apiVersion", owner_api}, {"kind", owner_kind}, {"name", owner_name}, {"uid", "x"}, {"controller", true}}});
  }
  return {{"apiVersion", api_version}, {"kind", kind}, {"metadata", md}};
}

inline nlohmann::json node_object(const std::string& name, const std::string& arch) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/arch", arch}, {"kubernetes.io/os", "linux"}}}}},
          {"status", {{"nodeInfo", {{"architecture", arch}}}}}};
}

inline std::string forbidden(const std::string& message) {
  return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                        {"status", "Failure"}, {"message", message}, {"reason", "Forbidden"}, {"code", 403}}
      .dump();
}

inline std::string not_found(const std::string& message) {
  return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                        {"status", "Failure"}, {"message", message}, {"reason", "NotFound"}, {"code", 404}}
      .dump();
}

inline std::string expired(const std::string& fresh_token) {
  nlohmann::json j = {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                      {"status", "Failure"}, {"reason", "Expired"}, {"code", 410},
                      {"message", "The provided continue parameter is too old to display a consistent list result."}};
  if (!fresh_token.empty()) j["metadata"]["continue"] = fresh_token;
  return j.dump();
}

}  // namespace ir::testing
