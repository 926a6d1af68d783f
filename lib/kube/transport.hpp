#pragma once
// The HTTP seam. Client (retries, auth, Status decoding) talks to a Transport; CurlTransport is
// the real one (the only file that includes <curl/curl.h> for REST), FakeTransport (tests/unit)
// answers from a script.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ir::kube {

struct HttpHeader {
  std::string name;
  std::string value;
};

// Receives a 2xx response body as it arrives; an error aborts the transfer and is returned by
// send() unchanged.
using BodySink = std::function<Result<void>(std::string_view chunk)>;

// Supplies a request body as it is sent (a file region, a buffer too large to copy): fills
// `buffer` with up to `capacity` bytes and returns how many. It must deliver exactly the
// request's body_size bytes in all; an error aborts the transfer and is returned by send().
using BodySource = std::function<Result<std::size_t>(char* buffer, std::size_t capacity)>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: "https://host:port/api/v1/pods?limit=500"
  std::vector<HttpHeader> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // whole request; 0 = none
  std::string client_cert_pem;           // TLS client identity for this request, if any
  std::string client_key_pem;
  BodySink on_body;                      // set: a 2xx body streams here and HttpResponse::body stays empty
  std::size_t max_body = 256UL * 1024 * 1024;  // a buffered body larger than this fails (Errc::protocol)
  BodySource body_source;                // set: the request body is read from it (`body` must be empty)
  std::uint64_t body_size = 0;           // with body_source: the exact length (Content-Length)
};

struct HttpResponse {
  int status = 0;
  std::vector<HttpHeader> headers;  // names lower-cased
  std::string body;                 // decoded (gzip removed); empty when streamed to on_body

  // The first header with this (lower-case) name, or "".
  [[nodiscard]] std::string header(std::string_view name) const {
    for (const auto& h : headers)
      if (h.name == name) return h.value;
    return {};
  }
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Performs one exchange. Any HTTP status is a successful send; failures are transport-level:
  // Errc::network (reason "connect" when nothing reached the server, so a retry is always safe),
  // Errc::tls, Errc::timeout, Errc::cancelled, Errc::protocol (body over max_body).
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
};

}  // namespace ir::kube
