#pragma once
// Running a local program (used for kubeconfig exec credential plugins). A seam: RealProcessRunner
// forks and execs; FakeProcessRunner (tests) answers from a script.

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ir::util {

struct ProcessSpec {
  std::vector<std::string> argv;                            // argv[0] is looked up in PATH
  std::vector<std::pair<std::string, std::string>> env_add;  // added to (overriding) the inherited environment
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::size_t max_output = 1024 * 1024;  // per stream; more fails the run
};

struct ProcessResult {
  int exit_code = 0;  // 128+N if killed by signal N
  std::string out;
  std::string err;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs to completion. Fails (not a ProcessResult) when the program cannot be started
  // (Errc::not_found: not in PATH), exceeds the timeout (Errc::timeout; it is killed) or writes
  // more than max_output (Errc::failure). Standard input is /dev/null.
  virtual Result<ProcessResult> run(const ProcessSpec& spec) = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> run(const ProcessSpec& spec) override;
};

// Test double: each call is recorded and answered by `handler`.
class FakeProcessRunner final : public ProcessRunner {
 public:
  using Handler = std::function<Result<ProcessResult>(const ProcessSpec&)>;
  explicit FakeProcessRunner(Handler h) : m_handler(std::move(h)) {}
  Result<ProcessResult> run(const ProcessSpec& spec) override {
    calls.push_back(spec);
    return m_handler(spec);
  }
  std::vector<ProcessSpec> calls;

 private:
  Handler m_handler;
};

}  // namespace ir::util
