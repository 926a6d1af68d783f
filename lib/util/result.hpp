#pragma once
// Errors as values: ir::Error and ir::Result<T>, shaped like std::expected (C++23), which
// g++ 12 does not offer in C++20 mode. Expected failures travel as values and gain context at
// each level ("get pod shop/web-1: pods \"web-1\" not found"); only the CLI's run() catches
// exceptions.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ir {

// What kind of failure: lets callers react (retry, fall back, choose an exit code) without
// parsing messages.
enum class Errc {
  failure,         // anything not covered below
  usage,           // bad flags or arguments
  config,          // kubeconfig or other configuration problem
  io,              // local file system
  network,         // could not connect, connection reset, DNS
  tls,             // certificate verification or TLS handshake
  timeout,         // request or operation timed out
  unauthorized,    // HTTP 401
  forbidden,       // HTTP 403
  not_found,       // HTTP 404
  conflict,        // HTTP 409 (AlreadyExists, Conflict)
  gone,            // HTTP 410 (Expired continue token)
  invalid,         // HTTP 422 / 400: the server rejected the request as malformed
  too_many_requests,  // HTTP 429 after retries
  server,          // HTTP 5xx after retries
  protocol,        // the peer broke the protocol (garbage instead of JSON, bad frames)
  cancelled,       // interrupted (Ctrl-C)
  exec_not_found,  // exec: the binary does not exist in the container
};

// One failure: a kind, a one-line human message, and for API errors the HTTP code and the
// metav1.Status reason. `hint` is an optional suggestion shown on its own line.
struct Error {
  Errc code = Errc::failure;
  std::string message;
  int http_status = 0;
  std::string reason;
  std::string hint;

  Error() = default;
  Error(Errc c, std::string msg) : code(c), message(std::move(msg)) {}

  // Returns a copy whose message is "<what>: <message>".
  [[nodiscard]] Error context(const std::string& what) const {
    Error e = *this;
    e.message = what + ": " + message;
    return e;
  }
  [[nodiscard]] Error with_hint(std::string h) const {
    Error e = *this;
    e.hint = std::move(h);
    return e;
  }
};

// Wraps an Error so `return unexpected(err)` reads like std::expected code.
struct Unexpected {
  Error error;
};
inline Unexpected unexpected(Error e) { return Unexpected{std::move(e)}; }
inline Unexpected fail(Errc c, std::string msg) { return Unexpected{Error(c, std::move(msg))}; }

// A value of type T or an Error. Accessing the wrong alternative is a programming error
// (asserted).
template <class T>
class Result {
 public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Unexpected u) : m_v(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  [[nodiscard]] bool has_value() const { return m_v.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(m_v); }
  const T& value() const& { assert(has_value()); return std::get<0>(m_v); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const Error& error() const { assert(!has_value()); return std::get<1>(m_v); }
  template <class U>
  T value_or(U&& other) const { return has_value() ? value() : static_cast<T>(std::forward<U>(other)); }

 private:
  std::variant<T, Error> m_v;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : m_error(std::move(u.error)), m_ok(false) {}  // NOLINT
  [[nodiscard]] bool has_value() const { return m_ok; }
  explicit operator bool() const { return m_ok; }
  [[nodiscard]] const Error& error() const { assert(!m_ok); return m_error; }

 private:
  Error m_error;
  bool m_ok = true;
};


}  // namespace ir

// IR_TRY(var, expr): evaluates expr (a Result); on error returns it from the enclosing
// function, else moves the value into a new variable `var`.
#define IR_CONCAT_INNER(a, b) a##b
#define IR_CONCAT(a, b) IR_CONCAT_INNER(a, b)
#define IR_TRY(var, expr)                                              \
  auto IR_CONCAT(ir_try_, __LINE__) = (expr);                          \
  if (!IR_CONCAT(ir_try_, __LINE__)) {                                 \
    return ::ir::unexpected(IR_CONCAT(ir_try_, __LINE__).error());     \
  }                                                                    \
  auto var = std::move(*IR_CONCAT(ir_try_, __LINE__))

// IR_TRY_CTX(var, expr, what): as IR_TRY, adding "what: " to the error's message.
#define IR_TRY_CTX(var, expr, what)                                          \
  auto IR_CONCAT(ir_try_, __LINE__) = (expr);                                \
  if (!IR_CONCAT(ir_try_, __LINE__)) {                                       \
    return ::ir::unexpected(IR_CONCAT(ir_try_, __LINE__).error().context(what)); \
  }                                                                          \
  auto var = std::move(*IR_CONCAT(ir_try_, __LINE__))

// IR_CHECK(expr): for Result<void>; returns the error from the enclosing function.
#define IR_CHECK(expr)                                                 \
  do {                                                                 \
    auto ir_check_r = (expr);                                          \
    if (!ir_check_r) return ::ir::unexpected(ir_check_r.error());      \
  } while (0)
#define IR_CHECK_CTX(expr, what)                                                   \
  do {                                                                             \
    auto ir_check_r = (expr);                                                      \
    if (!ir_check_r) return ::ir::unexpected(ir_check_r.error().context(what));    \
  } while (0)
