#include "kube/pager.hpp"

#include "kube/status.hpp"

namespace ir::kube {

using nlohmann::json;

Pager::Pager(Client& client, std::string path, Query query, int limit, std::string what)
    : m_client(client), m_path(std::move(path)), m_query(std::move(query)), m_limit(limit), m_what(std::move(what)) {}

Result<std::optional<Page>> Pager::next() {
  if (m_done) return std::optional<Page>{};
  for (;;) {
    Query q = m_query;
    if (m_limit > 0) q.emplace_back("limit", std::to_string(m_limit));
    if (!m_continue.empty()) q.emplace_back("continue", m_continue);
    Call call;
    call.path = m_path;
    call.query = std::move(q);
    call.what = m_what;
    call.pass_status = 410;
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
    json list = json::parse(resp->body, nullptr, false);
    if (list.is_discarded() || !list.is_object()) {
      m_done = true;
      return fail(Errc::protocol, m_what + ": the list page is not JSON");
    }
    std::string cont;
    if (auto md = list.find("metadata"); md != list.end() && md->is_object()) {
      if (auto c = md->find("continue"); c != md->end() && c->is_string()) cont = c->get<std::string>();
    }
    m_continue = cont;
    if (cont.empty()) m_done = true;
    ++m_pages;
    Page page{std::move(list), m_restart_pending};
    m_restart_pending = false;
    return std::optional<Page>(std::move(page));
  }
}

}  // namespace ir::kube
