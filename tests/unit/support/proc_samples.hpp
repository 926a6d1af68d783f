#pragma once
// Container output as the kernel and the /proc walk script print it, for tests of the parsers
// (procfs_test) and of the collector that runs them (collect_test).

#include <string>
#include <vector>

namespace ir::testing {

using namespace std::string_literals;

inline std::string make_stat(const std::string& pid, const std::string& comm, const std::string& state = "S",
                      const std::string& ppid = "1", const std::string& starttime = "805984") {
  std::vector<std::string> f(50, "0");
  f[0] = state;
  f[1] = ppid;
  f[19] = starttime;
  f[20] = "3133440";
  std::string s = pid + " (" + comm + ")";
  for (const auto& x : f) s += " " + x;
  return s + "\n";
}

inline std::string make_status(const std::string& name, const std::string& pid, const std::string& uid = "1000\t1000\t1000\t1000") {
  return "Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" + pid + "\nNgid:\t0\nPid:\t" + pid +
         "\nPPid:\t1\nTracerPid:\t0\nUid:\t" + uid + "\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nVmRSS:\t  1024 kB\n";
}

inline const std::string k_b = "0123456789abcdef0123456789abcdef";

// Writes walk output the way the script does: every marker is "echo; echo MARKER".
struct WalkOut {
  std::string b = k_b;
  std::string s;
  WalkOut& marker(const std::string& line) {
    s += "\n" + b + " " + line + "\n";
    return *this;
  }
  WalkOut& raw(const std::string& bytes) {
    s += bytes;
    return *this;
  }
  WalkOut& begin(const std::string& pids, const std::string& readlink = "yes") {
    marker("begin 1 max=4096 listed=0 capped=no readlink=" + readlink);
    return marker("pids" + pids);
  }
  WalkOut& section(const std::string& name, const std::string& content, const std::string& rc = "0") {
    marker(name);
    s += content;
    return marker("rc " + rc);
  }
  WalkOut& proc(const std::string& pid, const std::string& comm = "sh", const std::string& cmdline = "sh\0-c\0x\0"s,
                const std::string& fds = "", const std::string& exe = "/bin/busybox") {
    marker("pid " + pid);
    section("stat", make_stat(pid, comm));
    section("status", make_status(comm, pid));
    section("cmdline", cmdline);
    section("exe", exe + "\n");
    section("cwd", "/\n");
    return section("fds", fds);
  }
  // The header of a version 2 walk (records end with the environ section).
  WalkOut& begin_v2(const std::string& pids) {
    marker("begin 2 max=4096 listed=0 capped=no readlink=yes tr=yes");
    return marker("pids" + pids);
  }
  // A version 2 record: proc() then the environ section (what the LD_PRELOAD filter printed).
  WalkOut& proc_env(const std::string& pid, const std::string& comm, const std::string& environ,
                    const std::string& rc = "0") {
    proc(pid, comm);
    return section("environ", environ, rc);
  }
  WalkOut& end(const std::string& n) { return marker("end " + n); }
};

}  // namespace ir::testing
