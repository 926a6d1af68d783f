#include "triage/debug_container.hpp"

#include <fmt/format.h>

#include "kube/api.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::triage {

using nlohmann::json;

Result<std::string> add_debug_container(kube::Client& client, const DebugContainerOptions& o, util::Clock& clock,
                                        const util::CancelToken* cancel) {
  const std::string name = o.name_prefix + util::sha256_hex(util::random_bytes(8)).substr(0, 6);
  json sc = {{"allowPrivilegeEscalation", false},
             {"capabilities", {{"drop", json::array({"ALL"})}}},
             {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  if (o.run_as_user) {
    sc["runAsUser"] = *o.run_as_user;
  } else {
    sc["runAsUser"] = 65534;
    sc["runAsNonRoot"] = true;
  }
  json c = {{"name", name},
            {"image", o.image},
            {"imagePullPolicy", "IfNotPresent"},
            {"command", json::array({"sleep", std::to_string(o.lifetime.count())})},
            {"stdin", false},
            {"tty", false},
            {"terminationMessagePolicy", "File"},
            {"securityContext", sc}};
  if (!o.target_container.empty()) c["targetContainerName"] = o.target_container;
  const std::string what = fmt::format("add debug container to {}/{}", o.namespace_name, o.pod);
  const std::string path = "/api/v1/namespaces/" + util::url_encode(o.namespace_name) + "/pods/" +
                           util::url_encode(o.pod) + "/ephemeralcontainers";
  IR_CHECK(kube::patch_object(client, path, {{"spec", {{"ephemeralContainers", json::array({c})}}}},
                              "application/strategic-merge-patch+json", kube::DryRun::none, what));
  const auto deadline = clock.now() + o.start_timeout;
  for (;;) {
    if (cancel && cancel->cancelled())
      return fail(Errc::cancelled, "cancelled while waiting for debug container " + name);
    IR_TRY_CTX(pod, kube::get_pod(client, o.namespace_name, o.pod), "waiting for debug container " + name);
    for (const auto& cs : pod.value("status", json::object()).value("ephemeralContainerStatuses", json::array())) {
      if (cs.value("name", "") != name) continue;
      const json state = cs.value("state", json::object());
      if (state.contains("running")) return name;
      if (state.contains("terminated")) return fail(Errc::failure, "debug container " + name + " terminated at once");
      const json waiting = state.value("waiting", json::object());
      const std::string reason = waiting.value("reason", "");
      if (reason == "ErrImagePull" || reason == "ImagePullBackOff" || reason == "InvalidImageName" ||
          reason == "CreateContainerError" || reason == "CreateContainerConfigError") {
        return fail(Errc::failure,
                    fmt::format("debug container {} cannot start: {}: {}", name, reason, waiting.value("message", "")));
      }
    }
    if (clock.now() >= deadline) {
      return fail(Errc::timeout,
                  fmt::format("debug container {} did not start within {}s", name, o.start_timeout.count()));
    }
    clock.sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace ir::triage
