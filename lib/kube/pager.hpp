#pragma once
// Paged lists (limit/continue): one page at a time, never all pages at once, so memory does not
// grow with the cluster. Handles an expired continue token (410, reason Expired) as the API
// server allows: restart the list once from the beginning, and if it expires again, continue with
// the fresh token the Status carries, marking the result inconsistent.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/client.hpp"

namespace ir::kube {

struct Page {
  nlohmann::json list;     // the List object of this page (items, metadata)
  bool restarted = false;  // the list restarted from the beginning: discard everything seen before
};

class Pager {
 public:
  // `path` is a list URL ("/api/v1/pods"); `query` holds selectors; `limit` > 0 is the page size.
  // `client` must outlive the pager.
  Pager(Client& client, std::string path, Query query, int limit, std::string what);

  // The next page, or nullopt when the list is complete. Errors carry `what` as context; after an
  // error the pager is finished.
  Result<std::optional<Page>> next();

  // True when pages came from an inconsistent continuation (objects changed between pages may be
  // missing or repeated): report the result as such.
  [[nodiscard]] bool inconsistent() const { return m_inconsistent; }
  // How many times the list restarted after an expired token (0 or 1).
  [[nodiscard]] int restarts() const { return m_restarts; }
  // Pages returned so far.
  [[nodiscard]] int pages() const { return m_pages; }

 private:
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
