#include "kube/curl_transport.hpp"

#include <curl/curl.h>
#include <poll.h>

#include <algorithm>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::kube {

namespace {

// curl_global_init is not thread-safe: run it once, before any handle, from either entry point.
void curl_global_once() {
  struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    ~CurlGlobal() { curl_global_cleanup(); }
  };
  static CurlGlobal global;
}

struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* handle = nullptr;
  Error sink_error;
  bool sink_failed = false;
  bool too_big = false;
  const util::CancelToken* cancel = nullptr;
  std::uint64_t uploaded = 0;  // bytes taken from request->body_source
};

size_t on_header(char* data, size_t size, size_t nmemb, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const std::string_view line(data, size * nmemb);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (e.g. after 100 Continue or a redirect)
    return size * nmemb;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response->headers.push_back(
        {util::to_lower(util::trim(line.substr(0, colon))), std::string(util::trim(line.substr(colon + 1)))});
  }
  return size * nmemb;
}

size_t on_body(char* data, size_t size, size_t nmemb, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &code);
  if (t->request->on_body && code >= 200 && code < 300) {
    if (auto r = t->request->on_body(std::string_view(data, n)); !r) {
      t->sink_failed = true;
      t->sink_error = r.error();
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (t->response->body.size() + n > t->request->max_body) {
    t->too_big = true;
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

size_t on_read(char* buffer, size_t size, size_t nitems, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  const std::uint64_t left = t->request->body_size - t->uploaded;
  const size_t capacity = static_cast<size_t>(std::min<std::uint64_t>(size * nitems, left));
  if (capacity == 0) return 0;
  auto n = t->request->body_source(buffer, capacity);
  if (!n || *n > capacity || *n == 0) {
    t->sink_failed = true;
    t->sink_error = !n ? n.error() : Error(Errc::io, "the request body ended before its announced length");
    return CURL_READFUNC_ABORT;
  }
  t->uploaded += *n;
  return *n;
}

int on_progress(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* t = static_cast<Transfer*>(userp);
  return t->cancel != nullptr && t->cancel->cancelled() ? 1 : 0;
}

Error curl_error(CURLcode rc, const char* errbuf, const std::string& url) {
  const std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: {
      Error e(Errc::network, fmt::format("cannot connect to {}: {}", url, detail));
      e.reason = "connect";
      return e;
    }
    case CURLE_OPERATION_TIMEDOUT:
      return Error(Errc::timeout, fmt::format("request to {} timed out: {}", url, detail));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return Error(Errc::tls, fmt::format("TLS with {} failed: {}", url, detail));
    case CURLE_ABORTED_BY_CALLBACK:
      return Error(Errc::cancelled, "interrupted");
    default:
      return Error(Errc::network, fmt::format("request to {} failed: {}", url, detail));
  }
}

// Splits "https://host:port/path" into host and port (default 443) for CONNECT_TO.
std::pair<std::string, std::string> host_port(const std::string& url) {
  auto rest = std::string_view(url);
  if (auto p = rest.find("://"); p != std::string_view::npos) rest.remove_prefix(p + 3);
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') {  // IPv6 literal
    const auto close = rest.find(']');
    const auto host = rest.substr(0, close + 1);
    const auto port = close + 1 < rest.size() && rest[close + 1] == ':' ? rest.substr(close + 2) : "443";
    return {std::string(host), std::string(port)};
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return {std::string(rest), "443"};
  return {std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
}

// Applies the TLS, proxy and (optional) client-certificate settings common to REST and raw
// connections. Blobs are copied by libcurl (CURL_BLOB_COPY).
void apply_tls(CURL* h, const TlsOptions& tls, const std::string& cert_pem, const std::string& key_pem) {
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(tls.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!tls.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(tls.ca_pem.data()), tls.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, tls.insecure_skip_tls_verify ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, tls.insecure_skip_tls_verify ? 0L : 2L);
  if (!tls.proxy_url.empty()) curl_easy_setopt(h, CURLOPT_PROXY, tls.proxy_url.c_str());
  if (!cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(cert_pem.data()), cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(key_pem.data()), key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
  }
}

// For tls_server_name: ask for the URL under that name (SNI and certificate check) while
// CONNECT_TO sends the connection to the real host. Returns the list to free and the real
// "host:port" for the Host header, or {} when not needed.
std::pair<curl_slist*, std::string> redirect_for_server_name(CURL* h, const TlsOptions& tls, std::string& url) {
  if (tls.tls_server_name.empty()) return {nullptr, {}};
  const auto [host, port] = host_port(url);
  const auto scheme_end = url.find("://") + 3;
  url.replace(scheme_end, host.size(), tls.tls_server_name);
  curl_slist* connect_to =
      curl_slist_append(nullptr, fmt::format("{}:{}:{}:{}", tls.tls_server_name, port, host, port).c_str());
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
  return {connect_to, fmt::format("{}:{}", host, port)};
}

}  // namespace

struct CurlTransport::Impl {
  TlsOptions tls;
  const util::CancelToken* cancel = nullptr;
  CURL* handle = nullptr;
};

CurlTransport::CurlTransport(TlsOptions tls, const util::CancelToken* cancel) : m_impl(std::make_unique<Impl>()) {
  curl_global_once();
  m_impl->tls = std::move(tls);
  m_impl->cancel = cancel;
  m_impl->handle = curl_easy_init();
}

CurlTransport::~CurlTransport() { curl_easy_cleanup(m_impl->handle); }

Result<HttpResponse> CurlTransport::send(const HttpRequest& request) {
  CURL* h = m_impl->handle;
  if (h == nullptr) return fail(Errc::failure, "libcurl: cannot create a handle");
  // reset() keeps the connection cache and TLS session IDs: connections are reused.
  curl_easy_reset(h);
  HttpResponse response;
  Transfer t{&request, &response, h, {}, false, false, m_impl->cancel};
  char errbuf[CURL_ERROR_SIZE] = {0};
  const auto& tls = m_impl->tls;

  std::string url = request.url;
  struct curl_slist* headers = nullptr;
  auto [connect_to, real_host] = redirect_for_server_name(h, tls, url);
  if (!real_host.empty()) headers = curl_slist_append(headers, ("Host: " + real_host).c_str());

  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  if (request.timeout.count() > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  apply_tls(h, tls, request.client_cert_pem, request.client_key_pem);

  for (const auto& hd : request.headers) headers = curl_slist_append(headers, (hd.name + ": " + hd.value).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for bodies
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  if (request.body_source) {
    // Streamed body: PUT as an upload, anything else as a POST-style body with the method
    // overridden. A larger upload buffer than libcurl's 64 KiB default halves the read calls.
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    if (request.method == "PUT") {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    } else {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body_size));
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  } else if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method != "DELETE") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
  }

  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

  const CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  // Drop references to request-owned buffers before the handle is reused.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

  if (t.sink_failed) return unexpected(t.sink_error);
  if (t.too_big) {
    return fail(Errc::protocol, fmt::format("response from {} is larger than {} bytes", request.url, request.max_body));
  }
  if (rc != CURLE_OK) return unexpected(curl_error(rc, errbuf, request.url));
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  response.status = static_cast<int>(code);
  return response;
}

}  // namespace ir::kube

namespace ir::kube {

namespace {

class CurlConnection final : public Connection {
 public:
  explicit CurlConnection(CURL* h) : m_handle(h) {}
  ~CurlConnection() override { curl_easy_cleanup(m_handle); }
  CurlConnection(const CurlConnection&) = delete;
  CurlConnection& operator=(const CurlConnection&) = delete;

  Result<void> send_all(std::string_view data) override {
    while (!data.empty()) {
      size_t sent = 0;
      const CURLcode rc = curl_easy_send(m_handle, data.data(), data.size(), &sent);
      if (rc == CURLE_AGAIN) {
        if (!wait_socket(POLLOUT, std::chrono::seconds(30))) return fail(Errc::timeout, "send: the connection stalled");
        continue;
      }
      if (rc != CURLE_OK) return fail(Errc::network, std::string("send: ") + curl_easy_strerror(rc));
      data.remove_prefix(sent);
    }
    return {};
  }

  Result<Received> receive(char* buffer, std::size_t capacity, std::chrono::milliseconds wait) override {
    // Ask libcurl first: TLS may hold decrypted bytes the socket no longer shows as readable.
    for (int round = 0; round < 2; ++round) {
      size_t n = 0;
      const CURLcode rc = curl_easy_recv(m_handle, buffer, capacity, &n);
      if (rc == CURLE_OK) return Received{n, n == 0};
      if (rc != CURLE_AGAIN) return fail(Errc::network, std::string("receive: ") + curl_easy_strerror(rc));
      if (round == 0 && !wait_socket(POLLIN, wait)) return Received{0, false};
    }
    return Received{0, false};
  }

 private:
  bool wait_socket(short events, std::chrono::milliseconds wait) {
    curl_socket_t fd = CURL_SOCKET_BAD;
    curl_easy_getinfo(m_handle, CURLINFO_ACTIVESOCKET, &fd);
    if (fd == CURL_SOCKET_BAD) return true;  // let the next call report the failure
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
    return r != 0;
  }
  CURL* m_handle;
};

}  // namespace

Result<std::unique_ptr<Connection>> CurlConnector::connect(const std::string& url_in, const Credentials& credentials) {
  curl_global_once();
  CURL* h = curl_easy_init();
  if (h == nullptr) return fail(Errc::failure, "libcurl: cannot create a handle");
  std::string url = url_in;
  char errbuf[CURL_ERROR_SIZE] = {0};
  auto [connect_to, real_host] = redirect_for_server_name(h, m_tls, url);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  apply_tls(h, m_tls, credentials.client_cert_pem, credentials.client_key_pem);
  const CURLcode rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(connect_to);
  if (rc != CURLE_OK) {
    Error e = curl_error(rc, errbuf, url_in);
    curl_easy_cleanup(h);
    return unexpected(e);
  }
  return std::unique_ptr<Connection>(std::make_unique<CurlConnection>(h));
}

}  // namespace ir::kube
