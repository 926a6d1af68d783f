#include "kube/client.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "kube/status.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::kube {

using nlohmann::json;

Client::Client(RestConfig config, Transport& transport, CredentialProvider& credentials, util::Clock& clock,
               ClientOptions options)
    : m_config(std::move(config)),
      m_transport(transport),
      m_credentials(credentials),
      m_clock(clock),
      m_options(std::move(options)) {}

std::string Client::url_for(const std::string& path, const Query& query) const {
  std::string url = m_config.server + path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    url += sep;
    url += util::url_encode(k);
    url += '=';
    url += util::url_encode(v);
    sep = '&';
  }
  return url;
}

Result<std::pair<std::vector<HttpHeader>, Credentials>> Client::auth(bool force_refresh) {
  IR_TRY(creds, m_credentials.get(force_refresh));
  std::vector<HttpHeader> headers;
  if (!creds.bearer_token.empty()) {
    headers.push_back({"Authorization", "Bearer " + creds.bearer_token});
  } else if (!creds.basic_user.empty()) {
    headers.push_back({"Authorization", "Basic " + util::base64_encode(creds.basic_user + ":" + creds.basic_password)});
  }
  if (!m_config.impersonate_user.empty()) headers.push_back({"Impersonate-User", m_config.impersonate_user});
  for (const auto& g : m_config.impersonate_groups) headers.push_back({"Impersonate-Group", g});
  return std::make_pair(std::move(headers), std::move(creds));
}

namespace {

// Retry-After is either delta-seconds or an HTTP date; API servers send seconds. Anything else:
// fall back to our own backoff.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value) {
  int seconds = 0;
  const auto v = util::trim(value);
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec != std::errc() || ptr != v.data() + v.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

bool is_idempotent(const std::string& method) { return method == "GET" || method == "HEAD"; }

}  // namespace

Result<HttpResponse> Client::send(const Call& call) {
  const std::string url = url_for(call.path, call.query);
  bool refreshed = false;       // at most one credential refresh per call
  bool force_refresh = false;   // set by a 401: the next attempt asks the source again
  const auto& retry = m_options.retry;
  for (int attempt = 1;; ++attempt) {
    auto auth_result = auth(force_refresh);
    force_refresh = false;
    if (!auth_result) return unexpected(auth_result.error().context(call.what.empty() ? "credentials" : call.what));
    auto& [headers, creds] = *auth_result;

    HttpRequest req;
    req.method = call.method;
    req.url = url;
    req.headers = std::move(headers);
    req.headers.push_back({"Accept", call.accept});
    req.headers.push_back({"User-Agent", m_options.user_agent});
    if (!call.content_type.empty()) req.headers.push_back({"Content-Type", call.content_type});
    req.body = call.body;
    req.timeout = m_options.request_timeout;
    req.client_cert_pem = creds.client_cert_pem;
    req.client_key_pem = creds.client_key_pem;
    req.on_body = call.on_body;

    const auto started = m_clock.now();
    ++m_requests;
    auto res = m_transport.send(req);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.now() - started).count();
    if (m_options.trace) {
      m_options.trace(fmt::format("{} {} {} in {} ms", call.method, url,
                                  res ? std::to_string(res->status) : "error: " + res.error().message, ms));
    }
    const bool can_retry = attempt < retry.max_attempts;
    const auto backoff = std::min(retry.max_backoff, retry.base_backoff * (1 << std::min(attempt - 1, 16)));
    if (!res) {
      const Error& e = res.error();
      const bool retriable = e.code == Errc::network && (is_idempotent(call.method) || e.reason == "connect");
      if (retriable && can_retry) {
        m_clock.sleep_for(backoff);
        continue;
      }
      return unexpected(call.what.empty() ? e : e.context(call.what));
    }
    HttpResponse& r = *res;
    if ((r.status >= 200 && r.status < 300) || (call.pass_status != 0 && r.status == call.pass_status)) {
      return std::move(r);
    }
    if (r.status == 401 && !refreshed && m_credentials.can_refresh()) {
      refreshed = true;  // the exec plugin / token file may have a newer credential
      force_refresh = true;
      continue;
    }
    if (r.status == 429 && can_retry) {
      auto wait = parse_retry_after(r.header("retry-after")).value_or(backoff);
      m_clock.sleep_for(std::min(wait, retry.max_retry_after));
      continue;
    }
    if (r.status >= 500 && is_idempotent(call.method) && can_retry) {
      m_clock.sleep_for(backoff);
      continue;
    }
    Error e = error_from_http(r.status, r.header("content-type"), r.body);
    if (r.status == 401) {
      e = e.with_hint("the API server rejected the credentials: check the token, certificate or exec plugin of user \"" +
                      m_config.user_name + "\"");
    }
    return unexpected(call.what.empty() ? e : e.context(call.what));
  }
}

Result<json> Client::send_json(const Call& call) {
  IR_TRY(resp, send(call));
  json j = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    const auto ct = resp.header("content-type");
    Error e(Errc::protocol, fmt::format("the server answered HTTP {} with {} instead of JSON: {}", resp.status,
                                        ct.empty() ? "no content type" : ct.substr(0, 64),
                                        util::trim(resp.body).substr(0, 80)));
    e = e.with_hint("is --server (" + m_config.server + ") a Kubernetes API server, and no proxy in between?");
    return unexpected(call.what.empty() ? e : e.context(call.what));
  }
  return j;
}

Result<json> Client::get_json(const std::string& path, const Query& query, const std::string& what) {
  Call c;
  c.path = path;
  c.query = query;
  c.what = what;
  return send_json(c);
}

}  // namespace ir::kube
