#pragma once
// Test data: deterministic pseudo-random bytes (incompressible, distinct per seed and offset).

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>

namespace ir::testing {

inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(s.data() + i, &v, std::min<std::size_t>(8, n - i));
  }
  return s;
}

}  // namespace ir::testing
