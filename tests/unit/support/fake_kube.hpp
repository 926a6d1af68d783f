#pragma once
// Test doubles for the kube seams: a Transport that answers from a queue and records requests,
// and a CredentialProvider that counts refreshes.

#include <deque>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/credentials.hpp"
#include "kube/transport.hpp"
#include "util/clock.hpp"

namespace ir::testing {

class FakeTransport final : public kube::Transport {
 public:
  // Queues an HTTP answer.
  FakeTransport& reply(int status, std::string body, std::vector<kube::HttpHeader> headers = {}) {
    kube::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    m_queue.emplace_back(std::move(r));
    return *this;
  }
  // Queues a transport failure.
  FakeTransport& fail_with(Errc code, std::string reason = {}) {
    Error e(code, "simulated transport failure");
    e.reason = std::move(reason);
    m_queue.emplace_back(unexpected(e));
    return *this;
  }

  Result<kube::HttpResponse> send(const kube::HttpRequest& request) override {
    requests.push_back(request);
    if (m_queue.empty()) return fail(Errc::failure, "FakeTransport: no answer queued for " + request.url);
    auto r = std::move(m_queue.front());
    m_queue.pop_front();
    if (r && request.on_body && r->status >= 200 && r->status < 300) {
      if (auto s = request.on_body(r->body); !s) return unexpected(s.error());
      r->body.clear();
    }
    return r;
  }

  [[nodiscard]] std::size_t pending() const { return m_queue.size(); }
  std::vector<kube::HttpRequest> requests;

 private:
  std::deque<Result<kube::HttpResponse>> m_queue;
};

class FakeCredentials final : public kube::CredentialProvider {
 public:
  explicit FakeCredentials(bool refreshable = false) : m_refreshable(refreshable) {}
  Result<kube::Credentials> get(bool force_refresh) override {
    if (force_refresh) ++refreshes;
    kube::Credentials c;
    c.bearer_token = "token-" + std::to_string(refreshes);
    return c;
  }
  bool can_refresh() const override { return m_refreshable; }
  int refreshes = 0;

 private:
  bool m_refreshable;
};

// Header value from a recorded request, or "".
inline std::string header_of(const kube::HttpRequest& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (h.name == name) return h.value;
  return {};
}

inline kube::RestConfig test_config() {
  kube::RestConfig c;
  c.server = "https://127.0.0.1:6443";
  c.context_name = "test";
  c.user_name = "tester";
  return c;
}

// A client over a fake transport, clock and credentials, for one test.
struct ClientFixture {
  FakeTransport transport;
  FakeCredentials credentials{true};
  util::FakeClock clock;
  kube::Client client{test_config(), transport, credentials, clock};
};

}  // namespace ir::testing
