#pragma once
// Runs the CLI in-process (cmd/cli.hpp's run) with a given environment, capturing its output.

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cmd/cli.hpp"

namespace ir::testing {

struct CliRun {
  int code = 0;
  std::string out;
  std::string err;
};

// `args` without the program name; `env` is all the environment the CLI sees.
inline CliRun run_cli(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
  std::ostringstream out, err;
  cli::Io io{out, err, [env](const std::string& k) -> std::optional<std::string> {
               auto it = env.find(k);
               return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
             }};
  const int code = cli::run(args, io);
  return {code, out.str(), err.str()};
}

}  // namespace ir::testing
