#pragma once
// A stream too large to hold (a container's `tar cf -` of gigabytes) kept in a bundle as numbered
// entries of a fixed size, "<base>.000", "<base>.001", ...: concatenated in order they are the
// stream byte for byte. Each part is added from memory as soon as it is full, so nothing is
// spooled and copied again, and adding a full part (hashing, tar, gzip, the file write) runs on a
// worker thread while the next part fills: two buffers of `part_bytes` at most, whatever the
// stream's size.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "evidence/bundle.hpp"
#include "util/result.hpp"
#include "util/sink.hpp"

namespace ir::evidence {

// Splits what is written into parts of `part_bytes` added to `bundle`. Parts before the last carry
// `meta` with a note saying they are parts of `base`; the last carries what close() is given. The
// bundle must not be used by anyone else between the first write() and close() (or destruction)
// unless it is itself thread-safe (a locked view): parts are added from the worker thread. One
// producer thread: write() and close() must not be called concurrently.
class PartSink final : public util::Sink {
 public:
  static constexpr std::size_t k_default_part_bytes = 8ULL << 20;

  PartSink(BundleWriter& bundle, std::string base, ArtifactMeta meta, std::size_t part_bytes = k_default_part_bytes);
  // Without close(): waits for the part being added, drops what was not yet a full part and joins.
  ~PartSink() override;
  PartSink(const PartSink&) = delete;
  PartSink& operator=(const PartSink&) = delete;

  // Buffers `data`; each part that fills is handed to the worker (waiting while the previous one
  // is still being added). Fails with the error of an earlier part's add, and from then on.
  Result<void> write(std::string_view data) override;

  // The stream ended: waits for the part in flight, then adds the last part with `last` (its note
  // extended to say it is the last part when there were others). The last part may be empty (an
  // empty stream, or one that filled its parts exactly), so the outcome is always recorded.
  // Returns the first error of any part. Called once.
  Result<void> close(const ArtifactMeta& last);

  // Parts added and their bytes (complete once close() returned).
  [[nodiscard]] std::size_t parts() const { return m_parts; }
  [[nodiscard]] std::uint64_t bytes() const { return m_bytes; }

 private:
  Result<void> hand_off(ArtifactMeta meta);
  Result<void> wait_idle(std::unique_lock<std::mutex>& lock);
  Result<void> add_part(const std::string& data, const ArtifactMeta& meta);
  void work();

  BundleWriter& m_bundle;
  std::string m_base;
  ArtifactMeta m_meta;
  std::size_t m_part_bytes;
  std::string m_fill;  // the part being filled (producer only)

  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::string m_pending;  // the part being added (worker, while m_busy)
  ArtifactMeta m_pending_meta;
  bool m_busy = false;
  bool m_stop = false;
  bool m_closed = false;
  std::optional<Error> m_error;
  std::size_t m_parts = 0;    // the worker's while m_busy; the producer's once it is joined
  std::uint64_t m_bytes = 0;  // likewise
  std::thread m_worker;       // started at the first full part
};

}  // namespace ir::evidence
