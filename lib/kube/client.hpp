#pragma once
// The REST client: builds URLs against the configured server, adds credentials and impersonation
// headers, retries what is safe to retry, refreshes exec-plugin/token-file credentials after a
// 401, and turns every non-2xx answer into an ir::Error carrying the API server's Status message.

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/credentials.hpp"
#include "kube/kubeconfig.hpp"
#include "kube/transport.hpp"
#include "util/clock.hpp"

namespace ir::kube {

using Query = std::vector<std::pair<std::string, std::string>>;

struct RetryPolicy {
  int max_attempts = 6;                                   // first try + up to 5 retries
  std::chrono::milliseconds base_backoff{250};            // doubled per retry
  std::chrono::milliseconds max_backoff{std::chrono::seconds(8)};
  std::chrono::milliseconds max_retry_after{std::chrono::seconds(60)};  // cap on a server's Retry-After
};

struct ClientOptions {
  std::chrono::milliseconds request_timeout{0};  // --request-timeout; 0 = none
  RetryPolicy retry;
  std::string user_agent = "kubectl-ir";
  // Receives one line per request/attempt for -v >= 6 (method, URL, status, time). Never given
  // credentials. May be empty.
  std::function<void(const std::string&)> trace;
};

// One API call. `what` names the operation for error context ("get pod shop/web-1").
struct Call {
  std::string method = "GET";
  std::string path;  // "/api/v1/namespaces/shop/pods/web-1"
  Query query;
  std::string body;
  std::string content_type;  // for bodies: application/json, application/merge-patch+json, ...
  std::string accept = "application/json";
  BodySink on_body;          // stream a 2xx body instead of buffering it
  std::string what;
  int pass_status = 0;       // a non-2xx status returned as a response instead of an error (e.g. 410)
};

class Client {
 public:
  // `transport`, `credentials` and `clock` must outlive the client.
  Client(RestConfig config, Transport& transport, CredentialProvider& credentials, util::Clock& clock,
         ClientOptions options = {});

  // Sends the call with retries: 429 (any method; Retry-After honoured, capped), 5xx and network
  // errors for GET, connection failures (nothing sent) for any method; after a 401 the credentials
  // are refreshed once if they can change. Returns the 2xx response; any other status becomes an
  // Error (Status message and reason, Errc from the HTTP code) with `call.what` as context.
  Result<HttpResponse> send(const Call& call);

  // send() and parse the body as JSON; a 2xx body that is not JSON is an Errc::protocol error
  // naming the content type (e.g. an HTML page from a proxy).
  Result<nlohmann::json> send_json(const Call& call);

  // GET path?query as JSON.
  Result<nlohmann::json> get_json(const std::string& path, const Query& query, const std::string& what);

  [[nodiscard]] const RestConfig& config() const { return m_config; }
  // --request-timeout (0 = none): also bounds the exec engine's connect and upgrade.
  [[nodiscard]] std::chrono::milliseconds request_timeout() const { return m_options.request_timeout; }
  // Requests sent so far, counting retries (for benchmarks and -v).
  [[nodiscard]] int requests_sent() const { return m_requests; }
  // The URL for a path and query (exposed for the exec engine's handshake and for tests).
  [[nodiscard]] std::string url_for(const std::string& path, const Query& query) const;
  // Authorization and impersonation headers for the current credentials, plus the client
  // certificate to present (exec engine uses these for its own connection).
  Result<std::pair<std::vector<HttpHeader>, Credentials>> auth(bool force_refresh);

 private:
  RestConfig m_config;
  Transport& m_transport;
  CredentialProvider& m_credentials;
  util::Clock& m_clock;
  ClientOptions m_options;
  int m_requests = 0;
};

}  // namespace ir::kube
