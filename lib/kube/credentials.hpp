#pragma once
// Credentials for a RestConfig: static token/cert/basic auth, a token file re-read on use, or an
// exec credential plugin whose result is cached until its expirationTimestamp and refreshed after a
// 401. The CredentialProvider interface lets the REST client ask again after a 401.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "kube/kubeconfig.hpp"
#include "util/clock.hpp"
#include "util/process.hpp"
#include "util/result.hpp"

namespace ir::kube {

// What goes on a request. Secret: never print.
struct Credentials {
  std::string bearer_token;  // "Authorization: Bearer ..."
  std::string basic_user;    // basic auth, when set
  std::string basic_password;
  std::string client_cert_pem;  // TLS client certificate (with key), when set
  std::string client_key_pem;
};

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // Current credentials. `force_refresh` (after a 401) drops any cache and asks the source again.
  // Fails (Errc::config / Errc::timeout) when a token file cannot be read or a plugin fails; the
  // message names the plugin command and says why (exit code and first stderr line, bad JSON,
  // wrong apiVersion/kind, missing token, cert without key, timeout).
  virtual Result<Credentials> get(bool force_refresh) = 0;
  // True when a refresh could yield different credentials (token file, exec plugin).
  virtual bool can_refresh() const = 0;
};

// Builds the provider for a resolved config. `runner` and `clock` must outlive the provider.
// Which source is used follows client-go's transport: a token or token file (the file wins while
// it is readable; the static token is the fallback), else basic auth and/or the static client
// certificate, else the exec plugin (client-go skips the plugin whenever token, basic or cert auth
// is configured), else anonymous.
// A token file is read on first use, re-read at most every 60 s and on force_refresh; if a
// periodic re-read fails the last good token is kept (client-go's cachingTokenSource).
// The exec plugin is run with its `env` added and KUBERNETES_EXEC_INFO set to an ExecCredential
// (spec.interactive=false; spec.cluster when provideClusterInfo), killed after `exec_timeout`
// (60 s, as client-go); its result is cached until status.expirationTimestamp (for the provider's
// life without one). The provider is safe to call from several threads.
std::unique_ptr<CredentialProvider> make_credential_provider(
    const RestConfig& config, util::ProcessRunner& runner, util::Clock& clock,
    std::chrono::milliseconds exec_timeout = std::chrono::seconds(60));

}  // namespace ir::kube
