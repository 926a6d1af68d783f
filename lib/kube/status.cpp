#include "kube/status.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "util/strings.hpp"

namespace ir::kube {

using nlohmann::json;

namespace {
// Bounds on what a server's answer can put into one error message. Messages are escaped when
// printed (cli), not here, so they stay exact in journals.
constexpr std::size_t k_body_snippet = 120;
constexpr std::size_t k_max_message = 4096;
}  // namespace

Result<ApiStatus> parse_status(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::protocol, "not a JSON object");
  if (j.contains("kind") && j["kind"] != "Status") return fail(Errc::protocol, "not a Status object");
  if (!j.contains("status") || !j["status"].is_string()) return fail(Errc::protocol, "Status without a status field");
  ApiStatus st;
  st.status = j["status"].get<std::string>();
  if (auto it = j.find("message"); it != j.end() && it->is_string()) st.message = it->get<std::string>();
  if (auto it = j.find("reason"); it != j.end() && it->is_string()) st.reason = it->get<std::string>();
  if (auto it = j.find("code"); it != j.end() && it->is_number_integer()) st.code = it->get<int>();
  if (auto it = j.find("metadata"); it != j.end() && it->is_object()) {
    if (auto c = it->find("continue"); c != it->end() && c->is_string()) st.continue_token = c->get<std::string>();
  }
  if (auto it = j.find("details"); it != j.end() && it->is_object()) st.details_json = it->dump();
  return st;
}

Errc errc_for_http_status(int http_status) {
  switch (http_status) {
    case 400:
    case 422: return Errc::invalid;
    case 401: return Errc::unauthorized;
    case 403: return Errc::forbidden;
    case 404: return Errc::not_found;
    case 409: return Errc::conflict;
    case 410: return Errc::gone;
    case 429: return Errc::too_many_requests;
    default: return http_status >= 500 ? Errc::server : Errc::failure;
  }
}

namespace {
const char* reason_phrase(int code) {
  switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}
}  // namespace

Error error_from_http(int http_status, std::string_view content_type, std::string_view body) {
  const Errc code = errc_for_http_status(http_status);
  if (auto st = parse_status(body); st && !st->message.empty()) {
    Error e(code, st->message.substr(0, k_max_message));
    e.http_status = http_status;
    e.reason = st->reason;
    return e;
  }
  std::string msg = fmt::format("the server answered HTTP {}", http_status);
  if (const char* phrase = reason_phrase(http_status); *phrase != '\0') msg += fmt::format(" {}", phrase);
  const auto trimmed = util::trim(body);
  if (!trimmed.empty()) {
    msg += fmt::format(" ({}: {}{})", content_type.empty() ? "no content type" : content_type.substr(0, 64),
                       trimmed.substr(0, k_body_snippet), trimmed.size() > k_body_snippet ? "..." : "");
  }
  Error e(code, msg);
  e.http_status = http_status;
  if (http_status == 401) e.reason = "Unauthorized";
  return e;
}

}  // namespace ir::kube
