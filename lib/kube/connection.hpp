#pragma once
// A raw connected byte stream to the API server (TCP + TLS + proxy + client certificate, all by
// libcurl), for the protocol libcurl 7.88 cannot speak itself: the WebSocket upgrade of exec.
// CurlConnector is the real one (kube/curl_transport.cpp); tests use scripted fakes.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "kube/credentials.hpp"
#include "util/result.hpp"

namespace ir::kube {

class Connection {
 public:
  virtual ~Connection() = default;
  // Sends every byte or fails (Errc::network).
  virtual Result<void> send_all(std::string_view data) = 0;

  struct Received {
    std::size_t bytes = 0;  // bytes placed in the buffer
    bool eof = false;       // the peer closed the connection
  };
  // Waits up to `wait` for bytes. {0, false}: nothing arrived in time. A reset is Errc::network.
  virtual Result<Received> receive(char* buffer, std::size_t capacity, std::chrono::milliseconds wait) = 0;
};

class Connector {
 public:
  virtual ~Connector() = default;
  // Opens a connection to the host of `url` (https or http), presenting `credentials`' client
  // certificate if any. HTTP/1.1 only (no ALPN h2). Errors as Transport::send's.
  virtual Result<std::unique_ptr<Connection>> connect(const std::string& url, const Credentials& credentials) = 0;
};

}  // namespace ir::kube
