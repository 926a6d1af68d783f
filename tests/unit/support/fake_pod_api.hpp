#pragma once
// Test doubles that answer by what is asked rather than in a fixed order: a Transport routing
// REST calls by method and path, and a Connector that plays a v5 exec session whose output a
// handler chooses from the command's argv and container. For tests of code that makes many calls
// (collect, playbooks) where the order is an implementation detail.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/fake_connection.hpp"
#include "support/fake_kube.hpp"

namespace ir::testing {

inline std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// Path and query of a URL ("https://h:1/api/v1/x?a=b" -> "/api/v1/x", {{"a","b"}}).
inline std::pair<std::string, std::vector<std::pair<std::string, std::string>>> split_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto path_start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const std::string rest = path_start == std::string::npos ? "/" : url.substr(path_start);
  const auto q = rest.find('?');
  std::vector<std::pair<std::string, std::string>> query;
  if (q != std::string::npos) {
    std::string_view qs(rest);
    qs.remove_prefix(q + 1);
    while (!qs.empty()) {
      const auto amp = qs.find('&');
      const auto part = qs.substr(0, amp);
      const auto eq = part.find('=');
      query.emplace_back(url_decode(part.substr(0, eq)), eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      qs.remove_prefix(amp + 1);
    }
  }
  return {rest.substr(0, q), query};
}

inline std::string status_json(int code, const std::string& reason, const std::string& message) {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":")" + message + R"(","reason":")" + reason +
         R"(","code":)" + std::to_string(code) + "}";
}

// Answers REST calls from routes keyed "METHOD /path" (exact path, query ignored); anything else
// is a 404 Status. Records every request.
class RoutedTransport final : public kube::Transport {
 public:
  using Handler = std::function<kube::HttpResponse(const kube::HttpRequest&)>;
  std::map<std::string, Handler> routes;
  std::vector<kube::HttpRequest> requests;

  void json(const std::string& key, std::string body, int status = 200) {
    routes[key] = [body = std::move(body), status](const kube::HttpRequest&) {
      kube::HttpResponse r;
      r.status = status;
      r.body = body;
      return r;
    };
  }
  // Method and path of each request, in order ("GET /api/v1/...").
  [[nodiscard]] std::vector<std::string> calls() const {
    std::vector<std::string> out;
    for (const auto& r : requests) out.push_back(r.method + " " + split_url(r.url).first);
    return out;
  }

  Result<kube::HttpResponse> send(const kube::HttpRequest& request) override {
    requests.push_back(request);
    const auto key = request.method + " " + split_url(request.url).first;
    kube::HttpResponse r;
    if (auto it = routes.find(key); it != routes.end()) {
      r = it->second(request);
    } else {
      r.status = 404;
      r.body = status_json(404, "NotFound", "the server could not find the requested resource (" + key + ")");
    }
    if (request.on_body && r.status >= 200 && r.status < 300) {
      if (auto s = request.on_body(r.body); !s) return unexpected(s.error());
      r.body.clear();
    }
    return r;
  }
};

// What a command in the fake container does.
struct ExecReply {
  std::string out;
  std::string err;
  int exit_code = 0;
  bool not_found = false;  // "executable file not found in $PATH"

  static ExecReply output(std::string out) { return {std::move(out), "", 0, false}; }
  static ExecReply failure(std::string err, int code) { return {"", std::move(err), code, false}; }
  static ExecReply missing() { return {"", "", 0, true}; }
};

// One exec as the server saw it.
struct ExecCall {
  std::string container;
  std::vector<std::string> argv;
  std::string path;  // the exec URL's path (/api/v1/namespaces/<ns>/pods/<pod>/exec): which pod
};

// Plays a v5 exec session per connect(): the handler picks stdout/stderr/exit from the argv.
class ExecConnector final : public kube::Connector {
 public:
  using Handler = std::function<ExecReply(const ExecCall&)>;
  explicit ExecConnector(Handler handler) : m_handler(std::move(handler)) {}
  std::vector<ExecCall> calls;

  Result<std::unique_ptr<kube::Connection>> connect(const std::string& url, const kube::Credentials&) override {
    ExecCall call;
    call.path = split_url(url).first;
    for (const auto& [k, v] : split_url(url).second) {
      if (k == "command") call.argv.push_back(v);
      if (k == "container") call.container = v;
    }
    calls.push_back(call);
    const ExecReply reply = m_handler(call);
    auto c = std::make_unique<ScriptedConnection>();
    c->steps.push_back(ScriptedConnection::switching("v5.channel.k8s.io"));
    std::string frames;
    constexpr std::size_t k_chunk = 60000;
    for (std::size_t i = 0; i < reply.out.size(); i += k_chunk) frames += channel_frame(1, reply.out.substr(i, k_chunk));
    if (!reply.err.empty()) frames += channel_frame(2, reply.err);
    std::string status;
    if (reply.not_found) {
      status = R"({"metadata":{},"status":"Failure","message":"failed to exec in container: exec: \")" + call.argv.at(0) +
               R"(\": executable file not found in $PATH: unknown","reason":"InternalError"})";
    } else if (reply.exit_code == 0) {
      status = R"({"metadata":{},"status":"Success"})";
    } else {
      status = R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":")" +
               std::to_string(reply.exit_code) + R"("}]}})";
    }
    frames += channel_frame(3, status);
    frames += server_frame(0x88, std::string("\x03\xe8", 2));
    c->steps.push_back(ScriptedConnection::bytes(frames));
    m_connections.push_back(std::move(c));
    auto* raw = m_connections.back().get();
    return std::unique_ptr<kube::Connection>(std::make_unique<ForwardingConnection>(*raw));
  }

 private:
  Handler m_handler;
  std::vector<std::unique_ptr<ScriptedConnection>> m_connections;
};

}  // namespace ir::testing
