#pragma once
// Internal to the playbook module: the bytes of playbooks/*.yaml, defined in a source that
// cmake/EmbedFiles.cmake generates at build time (build/<preset>/generated/embedded_playbooks.cpp).

#include <cstddef>

namespace ir::playbook::detail {

struct EmbeddedFile {
  const char* file;           // base name, "triage.yaml"
  const unsigned char* data;  // `size` bytes, then a NUL
  std::size_t size;
};

// Sorted by file name; k_embedded_file_count entries are valid.
extern const EmbeddedFile k_embedded_files[];
extern const std::size_t k_embedded_file_count;

}  // namespace ir::playbook::detail
