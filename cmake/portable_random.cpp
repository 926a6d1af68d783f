// IR_PORTABLE only (cmake/IrPortable.cmake, compiled into what links expat): arc4random_buf for the static libexpat.a.
//
// Debian bookworm's libexpat.a salts its hash tables with arc4random_buf, new in glibc 2.36; a
// binary referencing it would not start on Ubuntu 22.04 LTS (glibc 2.35), the oldest system the
// release archive claims. The link wraps the symbol (--wrap=arc4random_buf) to this definition:
// the same contract (fill the buffer with cryptographically strong random bytes, never fail) on
// getrandom(2), which glibc has had since 2.25.

#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>

extern "C" void __wrap_arc4random_buf(void* buf, std::size_t n) {
  auto* out = static_cast<unsigned char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = getrandom(out + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no kernel entropy at all: arc4random_buf cannot fail either, it aborts too
    }
    done += static_cast<std::size_t>(got);
  }
}
