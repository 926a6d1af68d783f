#pragma once
// Cooperative cancellation (Ctrl-C). The CLI owns one token and sets it from its SIGINT handler
// (std::atomic<bool> stores are async-signal-safe when lock-free); long operations poll it.

#include <atomic>

namespace ir::util {

class CancelToken {
 public:
  void cancel() noexcept { m_cancelled.store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool cancelled() const noexcept { return m_cancelled.load(std::memory_order_relaxed); }
  void reset() noexcept { m_cancelled.store(false, std::memory_order_relaxed); }

 private:
  std::atomic<bool> m_cancelled{false};
  static_assert(std::atomic<bool>::is_always_lock_free);
};

}  // namespace ir::util
