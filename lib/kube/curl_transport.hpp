#pragma once
// Transport over libcurl: one easy handle (connections and TLS sessions are reused between
// requests), HTTP/1.1, gzip accepted, TLS verified against the kubeconfig's CA (or the system's)
// unless insecure_skip_tls_verify.

#include <memory>
#include <string>

#include "kube/connection.hpp"
#include "kube/transport.hpp"
#include "util/cancel.hpp"

namespace ir::kube {

struct TlsOptions {
  std::string ca_pem;  // empty: system CA store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // SNI and verification name, when it differs from the server's host
  std::string proxy_url;        // empty: libcurl's defaults (HTTPS_PROXY/NO_PROXY, as kubectl)
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
};

class CurlTransport final : public Transport {
 public:
  // `cancel` (may be null) aborts a transfer in progress when set; it must outlive the transport.
  explicit CurlTransport(TlsOptions tls, const util::CancelToken* cancel = nullptr);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> send(const HttpRequest& request) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ir::kube

namespace ir::kube {

// Connections for the exec engine: CURLOPT_CONNECT_ONLY on the https URL (libcurl does TCP, TLS,
// CA, client certificate and proxy), HTTP/1.1 forced so ALPN does not pick h2, then
// curl_easy_send/recv.
class CurlConnector final : public Connector {
 public:
  explicit CurlConnector(TlsOptions tls) : m_tls(std::move(tls)) {}
  Result<std::unique_ptr<Connection>> connect(const std::string& url, const Credentials& credentials) override;

 private:
  TlsOptions m_tls;
};

}  // namespace ir::kube
