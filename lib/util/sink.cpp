#include "util/sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "util/strings.hpp"

namespace ir::util {

Result<void> MemorySink::write(std::string_view data) {
  const std::size_t room = m_limit - m_data.size();
  if (data.size() > room) {
    m_overflowed = true;
    data = data.substr(0, room);
  }
  m_data.append(data);
  return {};
}

Result<std::unique_ptr<FileSink>> FileSink::create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io, path + ": " + std::strerror(errno));
  return std::make_unique<FileSink>(fd, true);
}

FileSink::~FileSink() {
  if (m_owned && m_fd >= 0) ::close(m_fd);
}

Result<void> FileSink::write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(m_fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, std::string("write: ") + std::strerror(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> FileSink::finish() {
  if (m_owned && m_fd >= 0) {
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) return fail(Errc::io, std::string("close: ") + std::strerror(errno));
  }
  return {};
}

Result<void> TerminalSink::write(std::string_view data) {
  std::string buf = std::move(m_carry);
  buf.append(data);
  const std::size_t tail = incomplete_utf8_tail(buf);
  m_carry = buf.substr(buf.size() - tail);
  buf.resize(buf.size() - tail);
  return m_inner.write(escape_for_terminal(buf, std::string::npos, Lines::keep));
}

Result<void> TerminalSink::finish() {
  if (!m_carry.empty()) {
    IR_CHECK(m_inner.write(escape_for_terminal(m_carry, std::string::npos, Lines::keep)));
    m_carry.clear();
  }
  return m_inner.finish();
}

}  // namespace ir::util
