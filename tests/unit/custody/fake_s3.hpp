#pragma once
// A scripted HTTP transport for the custody tests: each request (its streamed body read in full)
// goes to a handler that answers it; every request is recorded with its body's SHA-256.

#include <functional>
#include <string>
#include <vector>

#include "kube/transport.hpp"
#include "util/crypto.hpp"

namespace ir::testing {

struct SeenRequest {
  kube::HttpRequest request;  // body_source cleared
  std::string body;           // the body as sent (streamed ones read in full)
  [[nodiscard]] std::string header(const std::string& name) const {
    for (const auto& h : request.headers)
      if (h.name == name) return h.value;
    return {};
  }
};

class ScriptedTransport final : public kube::Transport {
 public:
  using Handler = std::function<Result<kube::HttpResponse>(const SeenRequest&)>;
  explicit ScriptedTransport(Handler handler) : m_handler(std::move(handler)) {}

  Result<kube::HttpResponse> send(const kube::HttpRequest& request) override {
    SeenRequest seen{request, request.body};
    if (request.body_source) {
      seen.body.clear();
      char buf[65536];
      while (seen.body.size() < request.body_size) {
        const auto want = std::min<std::uint64_t>(sizeof buf, request.body_size - seen.body.size());
        auto n = request.body_source(buf, static_cast<std::size_t>(want));
        if (!n) return unexpected(n.error());
        if (*n == 0) break;
        seen.body.append(buf, *n);
      }
      seen.request.body_source = nullptr;
    }
    requests.push_back(seen);
    return m_handler(requests.back());
  }

  std::vector<SeenRequest> requests;

 private:
  Handler m_handler;
};

inline kube::HttpResponse answer(int status, std::string body = {}, std::vector<kube::HttpHeader> headers = {}) {
  kube::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

}  // namespace ir::testing
