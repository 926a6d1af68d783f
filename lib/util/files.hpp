#pragma once
// Local file helpers.

#include <cstddef>
#include <string>

#include "util/result.hpp"

namespace ir::util {

// Reads a whole file of at most `max_bytes`. Fails with Errc::io naming the reason (missing,
// permission denied, a directory) or when the file is larger than max_bytes.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes = 16 * 1024 * 1024);

// Writes `data` to `path` through a temporary file in the same directory and a rename, so the
// path holds either the old or the new content. `mode` is applied to the new file.
Result<void> write_file_atomic(const std::string& path, const std::string& data, unsigned mode = 0644);

// Expands a leading "~/" with `home`.
std::string expand_home(const std::string& path, const std::string& home);

// `path` if absolute, else `base_dir`/`path`, lexically normalised.
std::string resolve_relative(const std::string& path, const std::string& base_dir);

}  // namespace ir::util
