#include "kube/pager.hpp"

#include <cstring>

#include "kube/status.hpp"

namespace ir::kube {

using nlohmann::json;

namespace {

// Just enough of a JSON reader (RFC 8259) to walk a List's top-level object and step over values
// without building them: strings are decoded only where asked, containers are skipped by counting
// brackets outside strings. Every read is bounds-checked; malformed text ends the walk (false).
class JsonWalker {
 public:
  explicit JsonWalker(std::string_view text) : m_s(text) {}

  bool at_end() {
    skip_ws();
    return m_i >= m_s.size();
  }
  // Consumes `c` (after white space) if it is next.
  bool consume(char c) {
    skip_ws();
    if (m_i < m_s.size() && m_s[m_i] == c) {
      ++m_i;
      return true;
    }
    return false;
  }
  [[nodiscard]] char peek() {
    skip_ws();
    return m_i < m_s.size() ? m_s[m_i] : '\0';
  }
  // A string; decoded into `out` when given (escapes included, \u as UTF-8).
  bool string(std::string* out) {
    if (!consume('"')) return false;
    for (;;) {
      // Fast path: jump to the next quote or backslash.
      const std::size_t start = m_i;
      while (m_i < m_s.size() && m_s[m_i] != '"' && m_s[m_i] != '\\') ++m_i;
      if (out) out->append(m_s.substr(start, m_i - start));
      if (m_i >= m_s.size()) return false;
      if (m_s[m_i++] == '"') return true;
      if (m_i >= m_s.size()) return false;
      const char e = m_s[m_i++];
      if (e == 'u') {
        if (m_i + 4 > m_s.size()) return false;
        unsigned cp = 0;
        for (int k = 0; k < 4; ++k) {
          const char h = m_s[m_i++];
          cp <<= 4;
          if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
          else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
          else return false;
        }
        if (out) append_utf8(*out, cp);
      } else if (out) {
        static constexpr std::string_view k_from = "\"\\/bfnrt", k_to = "\"\\/\b\f\n\r\t";
        const auto p = k_from.find(e);
        if (p == std::string_view::npos) return false;
        out->push_back(k_to[p]);
      }
    }
  }
  // Steps over one value of any type.
  bool skip_value() {
    const char c = peek();
    if (c == '"') return string(nullptr);
    if (c == '{' || c == '[') {
      int depth = 0;
      while (m_i < m_s.size()) {
        const char x = m_s[m_i];
        if (x == '"') {
          if (!string(nullptr)) return false;
          continue;
        }
        ++m_i;
        if (x == '{' || x == '[') ++depth;
        else if ((x == '}' || x == ']') && --depth == 0) return true;
      }
      return false;
    }
    // number, true, false, null
    const std::size_t start = m_i;
    while (m_i < m_s.size() && std::strchr(",}] \t\r\n", m_s[m_i]) == nullptr) ++m_i;
    return m_i > start;
  }

 private:
  void skip_ws() {
    while (m_i < m_s.size() && (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r')) ++m_i;
  }
  static void append_utf8(std::string& out, unsigned cp) {
    // Surrogate halves come out as themselves: continue tokens are base64, this is never reached
    // in practice and must only not crash.
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view m_s;
  std::size_t m_i = 0;
};

}  // namespace

Result<std::string> list_continue_token(std::string_view list_json) {
  const auto bad = [] { return fail(Errc::protocol, "the list page is not a JSON object"); };
  JsonWalker w(list_json);
  if (!w.consume('{')) return bad();
  if (w.consume('}')) return std::string();
  for (;;) {
    std::string key;
    if (!w.string(&key) || !w.consume(':')) return bad();
    if (key == "metadata" && w.peek() == '{') {
      w.consume('{');
      std::string token;
      if (!w.consume('}')) {
        for (;;) {
          std::string field;
          if (!w.string(&field) || !w.consume(':')) return bad();
          if (field == "continue" && w.peek() == '"') {
            token.clear();
            if (!w.string(&token)) return bad();
          } else if (!w.skip_value()) {
            return bad();
          }
          if (w.consume(',')) continue;
          if (w.consume('}')) break;
          return bad();
        }
      }
      // Everything the caller needs is known; the rest (items) is the caller's to parse.
      return token;
    }
    if (!w.skip_value()) return bad();
    if (w.consume(',')) continue;
    if (w.consume('}')) return std::string();
    return bad();
  }
}

Pager::Pager(Client& client, std::string path, Query query, int limit, std::string what)
    : m_client(client), m_path(std::move(path)), m_query(std::move(query)), m_limit(limit), m_what(std::move(what)) {}

Result<std::optional<RawPage>> Pager::fetch(std::string* stream_into) {
  if (m_done) return std::optional<RawPage>{};
  for (;;) {
    Query q = m_query;
    if (m_limit > 0) q.emplace_back("limit", std::to_string(m_limit));
    if (!m_continue.empty()) q.emplace_back("continue", m_continue);
    Call call;
    call.path = m_path;
    call.query = std::move(q);
    call.what = m_what;
    call.pass_status = 410;
    if (stream_into != nullptr) {
      stream_into->clear();
      int attempt = -1;
      call.on_body = [this, stream_into, attempt](std::string_view chunk) mutable -> Result<void> {
        // The client counts a request before sending it: a new count means this chunk begins the
        // body of a retried request (the last one broke off midway), which starts over.
        if (const int now = m_client.requests_sent(); now != attempt) {
          stream_into->clear();
          attempt = now;
        }
        stream_into->append(chunk);
        return {};
      };
    }
    auto resp = m_client.send(call);
    if (!resp) {
      m_done = true;
      return unexpected(resp.error());
    }
    if (resp->status == 410) {
      auto st = parse_status(resp->body);
      const bool expired = st && st->reason == "Expired" && !m_continue.empty();
      if (expired && m_restarts == 0) {
        // First expiry: start over for a consistent snapshot; the caller drops what it has.
        ++m_restarts;
        m_continue.clear();
        m_restart_pending = true;
        continue;
      }
      if (expired && !st->continue_token.empty() && m_inconsistent_continues < k_max_inconsistent_continues) {
        ++m_inconsistent_continues;
        // Expired again: continue from the server's fresh token. The rest of the list may miss or
        // repeat objects that changed in between, so the result is marked inconsistent.
        m_inconsistent = true;
        m_continue = st->continue_token;
        continue;
      }
      m_done = true;
      Error e = error_from_http(resp->status, resp->header("content-type"), resp->body).context(m_what);
      return unexpected(e.with_hint("the list took longer than the server keeps a continue token; run the command again"));
    }
    RawPage page{stream_into != nullptr ? std::move(*stream_into) : std::move(resp->body), m_restart_pending};
    m_restart_pending = false;
    return std::optional<RawPage>(std::move(page));
  }
}

void Pager::advance(std::string continue_token) {
  m_continue = std::move(continue_token);
  if (m_continue.empty()) m_done = true;
  ++m_pages;
}

Result<std::optional<Page>> Pager::next() {
  IR_TRY(raw, fetch());
  if (!raw) return std::optional<Page>{};
  json list = json::parse(raw->body, nullptr, false);
  if (list.is_discarded() || !list.is_object()) {
    m_done = true;
    return fail(Errc::protocol, m_what + ": the list page is not JSON");
  }
  std::string cont;
  if (auto md = list.find("metadata"); md != list.end() && md->is_object()) {
    if (auto c = md->find("continue"); c != md->end() && c->is_string()) cont = c->get<std::string>();
  }
  advance(std::move(cont));
  return std::optional<Page>(Page{std::move(list), raw->restarted});
}

Result<std::optional<RawPage>> Pager::next_raw(std::string buffer) {
  IR_TRY(raw, fetch(&buffer));
  if (!raw) return raw;
  auto token = list_continue_token(raw->body);
  if (!token) {
    m_done = true;
    return unexpected(token.error().context(m_what));
  }
  advance(std::move(*token));
  return raw;
}

}  // namespace ir::kube
