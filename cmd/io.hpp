#pragma once
// What a command may touch of the outside world, injected so tests drive the CLI in-process.

#include <functional>
#include <optional>
#include <istream>
#include <ostream>
#include <string>

#include "util/cancel.hpp"

namespace ir::cli {

struct Io {
  std::ostream& out;  // data (table/json/yaml)
  std::ostream& err;  // progress, warnings, errors
  // Environment lookup (getenv in production, a map in tests).
  std::function<std::optional<std::string>(const std::string&)> getenv;
  util::CancelToken* cancel = nullptr;  // set by the SIGINT handler in main
  std::istream* in = nullptr;           // stdin, for commands that forward it (exec -i)
};

}  // namespace ir::cli
