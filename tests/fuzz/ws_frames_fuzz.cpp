// Fuzz target: the WebSocket response-head parser and frame parser on arbitrary server bytes.
// Invariants: no crash, no unbounded buffering (every message within the limit), and once a
// parser fails it stays failed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "exec/websocket.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ir::exec::ws;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)parse_response_head(bytes, 4096);

  constexpr std::size_t k_limit = 64 * 1024;
  MessageParser parser(k_limit);
  // Feed in uneven slices, as a network would.
  std::size_t pos = 0;
  std::size_t slice = 1;
  bool failed = false;
  while (pos < bytes.size() && !failed) {
    const auto n = std::min(slice, bytes.size() - pos);
    parser.feed(bytes.substr(pos, n));
    pos += n;
    slice = slice * 3 % 97 + 1;
    for (;;) {
      auto m = parser.next();
      if (!m) {
        failed = true;
        if (parser.next()) std::abort();  // must stay failed
        break;
      }
      if (!m->has_value()) break;
      if ((*m)->payload.size() > k_limit) std::abort();
    }
  }
  return 0;
}
