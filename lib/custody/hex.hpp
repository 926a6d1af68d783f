#pragma once
// Hexadecimal text <-> bytes (digests on the wire and in files).

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ir::custody {

// Lowercase hex of `bytes`.
std::string hex_encode(std::string_view bytes);

// Bytes of hex text (either case, even length). Fails with Errc::invalid otherwise.
Result<std::string> hex_decode(std::string_view hex);

}  // namespace ir::custody
