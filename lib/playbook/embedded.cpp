#include "playbook/embedded.hpp"

#include "playbook/embedded_data.hpp"

namespace ir::playbook {

const std::vector<EmbeddedPlaybook>& embedded_playbooks() {
  static const std::vector<EmbeddedPlaybook> k_all = [] {
    std::vector<EmbeddedPlaybook> all;
    for (std::size_t i = 0; i < detail::k_embedded_file_count; ++i) {
      const detail::EmbeddedFile& f = detail::k_embedded_files[i];
      std::string file = f.file;
      std::string name = file.substr(0, file.size() - std::string_view(".yaml").size());
      all.push_back(
          {std::move(name), std::move(file), std::string_view(reinterpret_cast<const char*>(f.data), f.size)});
    }
    return all;
  }();
  return k_all;
}

const EmbeddedPlaybook* find_embedded(std::string_view name) {
  for (const auto& p : embedded_playbooks()) {
    if (p.name == name || p.file == name) return &p;
  }
  return nullptr;
}

}  // namespace ir::playbook
