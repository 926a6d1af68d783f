#include "util/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>

extern char** environ;

namespace ir::util {

namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void close_end(int i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
};

std::vector<std::string> merged_environment(const ProcessSpec& spec) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : spec.env_add) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

Result<ProcessResult> RealProcessRunner::run(const ProcessSpec& spec) {
  if (spec.argv.empty()) return fail(Errc::usage, "no command given");
  Pipe out_pipe, err_pipe;
  if (::pipe2(out_pipe.fds, O_CLOEXEC) != 0 || ::pipe2(err_pipe.fds, O_CLOEXEC) != 0) {
    return fail(Errc::io, fmt::format("pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe.fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe.fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A new process group, so a timeout kills the plugin and anything it started.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto env_strings = merged_environment(spec);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return fail(rc == ENOENT ? Errc::not_found : Errc::failure,
                fmt::format("cannot run {}: {}", spec.argv[0], std::strerror(rc)));
  }
  out_pipe.close_end(1);
  err_pipe.close_end(1);

  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  bool out_open = true, err_open = true;
  std::string overflow;
  bool timed_out = false;
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfds[2] = {{out_open ? out_pipe.fds[0] : -1, POLLIN, 0}, {err_open ? err_pipe.fds[0] : -1, POLLIN, 0}};
    const int pr = ::poll(pfds, 2, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(pfds[i].fd, buf, sizeof buf);
      std::string& dst = i == 0 ? result.out : result.err;
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else if (dst.size() + static_cast<std::size_t>(n) > spec.max_output) {
        overflow = i == 0 ? "standard output" : "standard error";
        out_open = err_open = false;
      } else {
        dst.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  if (timed_out || !overflow.empty()) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return fail(Errc::timeout, fmt::format("{} did not finish within {}s and was killed", spec.argv[0],
                                           std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count()));
  }
  if (!overflow.empty()) {
    return fail(Errc::failure, fmt::format("{} wrote more than {} bytes to {}", spec.argv[0], spec.max_output, overflow));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace ir::util
