#pragma once
// Paged lists (limit/continue): one page at a time, never all pages at once, so memory does not
// grow with the cluster. Handles an expired continue token (410, reason Expired) as the API
// server allows: restart the list once from the beginning, and if it expires again, continue with
// the fresh token the Status carries, marking the result inconsistent.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kube/client.hpp"

namespace ir::kube {

struct Page {
  nlohmann::json list;     // the List object of this page (items, metadata)
  bool restarted = false;  // the list restarted from the beginning: discard everything seen before
};

// One page as text, for callers that parse items themselves (a SIMD or streaming parser) because a
// DOM of every page would cost more time and memory than the transfer.
struct RawPage {
  std::string body;        // the List object's JSON text as received (gzip already removed)
  bool restarted = false;  // as Page::restarted
};

// metadata.continue of a List's JSON text, found by a light scan that stops after the top-level
// "metadata" object (API servers write it before "items"; if not, the items are skipped over, not
// parsed). "" when the list has no continue token. Fails (Errc::protocol) when the text is not a
// JSON object or breaks off inside it.
Result<std::string> list_continue_token(std::string_view list_json);

class Pager {
 public:
  // `path` is a list URL ("/api/v1/pods"); `query` holds selectors; `limit` > 0 is the page size.
  // `client` must outlive the pager.
  Pager(Client& client, std::string path, Query query, int limit, std::string what);

  // The next page, or nullopt when the list is complete. Errors carry `what` as context; after an
  // error the pager is finished.
  Result<std::optional<Page>> next();

  // As next(), but the page is not parsed: the continue token comes from list_continue_token() and
  // the body is handed over whole. `buffer` (e.g. an earlier page's body handed back) is cleared
  // and receives this page's text as it arrives, so a long scan reuses its page memory instead of
  // growing a new string for every page. Use one of next() and next_raw() per pager.
  Result<std::optional<RawPage>> next_raw(std::string buffer = {});

  // True when pages came from an inconsistent continuation (objects changed between pages may be
  // missing or repeated): report the result as such.
  [[nodiscard]] bool inconsistent() const { return m_inconsistent; }
  // How many times the list restarted after an expired token (0 or 1).
  [[nodiscard]] int restarts() const { return m_restarts; }
  // Pages returned so far.
  [[nodiscard]] int pages() const { return m_pages; }

 private:
  // Sends the request for the next page, handling 410 Expired; the body of the page, or nullopt
  // when the list is complete. With `stream_into`, a 2xx body is written there as it arrives (and
  // becomes the page's body) instead of being buffered by the transport.
  Result<std::optional<RawPage>> fetch(std::string* stream_into = nullptr);
  // Records the page just fetched and the token of the one after it ("" = none).
  void advance(std::string continue_token);

  Client& m_client;
  std::string m_path;
  Query m_query;
  int m_limit;
  std::string m_what;
  std::string m_continue;
  bool m_done = false;
  bool m_inconsistent = false;
  bool m_restart_pending = false;
  int m_restarts = 0;
  int m_inconsistent_continues = 0;
  static constexpr int k_max_inconsistent_continues = 3;  // a server that keeps expiring tokens: give up
  int m_pages = 0;
};

}  // namespace ir::kube
