#pragma once
// metav1.Status: the body of every API error. Turns an HTTP answer into an ir::Error whose message
// is the server's own ("pods \"web-1\" is forbidden: User \"alice\" cannot patch ...").

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ir::kube {

struct ApiStatus {
  std::string status;   // "Success" | "Failure"
  std::string message;
  std::string reason;   // NotFound, Forbidden, Expired, NonZeroExitCode, InternalError, ...
  int code = 0;
  std::string continue_token;  // metadata.continue (410 Expired may carry a fresh token)
  std::string details_json;           // details as JSON text ("" if absent)
};

// Parses a Status object. Fails (Errc::protocol) if the text is not JSON or not a
// Status (kind must be "Status" when present; "status" must be present).
Result<ApiStatus> parse_status(std::string_view body);

// Maps an HTTP status code to an error kind (401 unauthorized, 403 forbidden, 404 not_found,
// 409 conflict, 410 gone, 400/422 invalid, 429 too_many_requests, 5xx server, else failure).
Errc errc_for_http_status(int http_status);

// The error for a non-2xx answer: the Status message and reason when the body is a Status;
// otherwise "the server answered HTTP <code> <text>" with the start of the body (bounded) so an
// HTML error page or garbage is recognisable but cannot flood the terminal. Messages are not
// escaped here: whoever prints them escapes (util::escape_for_terminal).
Error error_from_http(int http_status, std::string_view content_type, std::string_view body);

}  // namespace ir::kube
