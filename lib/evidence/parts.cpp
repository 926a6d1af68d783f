#include "evidence/parts.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace ir::evidence {

PartSink::PartSink(BundleWriter& bundle, std::string base, ArtifactMeta meta, std::size_t part_bytes)
    : m_bundle(bundle), m_base(std::move(base)), m_meta(std::move(meta)), m_part_bytes(std::max<std::size_t>(part_bytes, 1)) {}

PartSink::~PartSink() {
  {
    const std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_worker.joinable()) m_worker.join();
}

Result<void> PartSink::write(std::string_view data) {
  if (m_closed) return fail(Errc::failure, "parts of " + m_base + ": written after close");
  while (!data.empty()) {
    // Reserved, not touched: pages become resident only as bytes arrive.
    if (m_fill.capacity() < m_part_bytes) m_fill.reserve(m_part_bytes);
    const std::size_t n = std::min(data.size(), m_part_bytes - m_fill.size());
    m_fill.append(data.substr(0, n));
    data.remove_prefix(n);
    if (m_fill.size() == m_part_bytes) {
      ArtifactMeta meta = m_meta;
      meta.note = "part of a stream: concatenate " + m_base + ".* in order";
      IR_CHECK(hand_off(std::move(meta)));
    }
  }
  return {};
}

Result<void> PartSink::close(const ArtifactMeta& last) {
  if (m_closed) return fail(Errc::failure, "parts of " + m_base + ": closed twice");
  m_closed = true;
  {
    std::unique_lock lock(m_mutex);
    auto idle = wait_idle(lock);
    m_stop = true;
    lock.unlock();
    m_cv.notify_all();
    if (m_worker.joinable()) m_worker.join();
    IR_CHECK(idle);
  }
  // The worker is gone: the last part is added here.
  ArtifactMeta meta = last;
  if (m_parts > 0) meta.note += (meta.note.empty() ? "" : "; ") + std::string("last part of ") + m_base + ".*";
  return add_part(m_fill, meta);
}

Result<void> PartSink::hand_off(ArtifactMeta meta) {
  std::unique_lock lock(m_mutex);
  IR_CHECK(wait_idle(lock));
  std::swap(m_fill, m_pending);
  m_pending_meta = std::move(meta);
  m_busy = true;
  if (!m_worker.joinable()) m_worker = std::thread([this] { work(); });
  lock.unlock();
  m_cv.notify_all();
  m_fill.clear();  // the buffer the worker emptied last (or a new one): keeps its capacity
  return {};
}

Result<void> PartSink::wait_idle(std::unique_lock<std::mutex>& lock) {
  m_cv.wait(lock, [this] { return !m_busy; });
  if (m_error) return unexpected(*m_error);
  return {};
}

Result<void> PartSink::add_part(const std::string& data, const ArtifactMeta& meta) {
  IR_CHECK(m_bundle.add(fmt::format("{}.{:03}", m_base, m_parts), data, meta));
  ++m_parts;
  m_bytes += data.size();
  return {};
}

void PartSink::work() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_cv.wait(lock, [this] { return m_busy || m_stop; });
    if (!m_busy) return;
    lock.unlock();
    // m_pending, m_pending_meta, m_parts and m_bytes are the worker's while m_busy.
    auto r = add_part(m_pending, m_pending_meta);
    lock.lock();
    if (!r && !m_error) m_error = r.error();
    m_pending.clear();
    m_busy = false;
    m_cv.notify_all();
  }
}

}  // namespace ir::evidence
