#include "cmd/completion.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>

#include "cmd/errors.hpp"
#include "cmd/connect.hpp"
#include "kube/api.hpp"
#include "kube/kubeconfig.hpp"
#include "playbook/embedded.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

constexpr auto k_cluster_timeout = std::chrono::seconds(3);
constexpr int k_max_names = 500;

// Subcommands whose first positional argument is a pod.
bool takes_pod(const std::string& verb) {
  static const char* k[] = {"exec", "isolate", "release", "siblings", "collect"};
  return std::find(std::begin(k), std::end(k), verb) != std::end(k);
}

const CLI::App* find_sub(const CLI::App& app, const std::string& name) {
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (s->get_name() == name) return s;
  }
  return nullptr;
}

// The option named by a word ("--fs", "-n", "--fs=x" -> "--fs"), searched in `app` and its parents.
const CLI::Option* find_option(const CLI::App* app, std::string word) {
  if (const auto eq = word.find('='); eq != std::string::npos) word = word.substr(0, eq);
  for (; app != nullptr; app = app->get_parent()) {
    for (const auto* o : app->get_options()) {
      for (const auto& n : o->get_lnames()) {
        if (word == "--" + n) return o;
      }
      for (const auto& n : o->get_snames()) {
        if (word == "-" + n) return o;
      }
    }
  }
  return nullptr;
}

bool takes_value(const CLI::Option* o) { return o != nullptr && o->get_type_size() != 0; }

// The kubectl flags typed so far, to reach the same cluster and namespace.
KubeFlags flags_from(const std::vector<std::string>& words) {
  KubeFlags f;
  const std::size_t typed = words.empty() ? 0 : words.size() - 1;  // the last word is being completed
  for (std::size_t i = 0; i < typed; ++i) {
    const std::string& w = words[i];
    auto value = [&](const char* name, std::string& dst) {
      const std::string n(name);
      if (w == n && i + 1 < typed) dst = words[i + 1];
      else if (w.rfind(n + "=", 0) == 0) dst = w.substr(n.size() + 1);
    };
    value("--kubeconfig", f.kubeconfig);
    value("--context", f.context);
    value("--namespace", f.namespace_name);
    value("-n", f.namespace_name);
  }
  return f;
}

std::vector<std::string> cluster_names(const std::vector<std::string>& words, Io& io, bool namespaces) {
  std::vector<std::string> out;
  KubeFlags f = flags_from(words);
  f.request_timeout = "3s";
  std::ostringstream quiet;
  Io silent{io.out, quiet, io.getenv, io.cancel, nullptr};
  auto s = open_session(f, silent, k_cluster_timeout);
  if (!s) return out;
  if (namespaces) {
    auto list = (*s)->client->get_json("/api/v1/namespaces", {{"limit", std::to_string(k_max_names)}}, "list namespaces");
    if (!list) return out;
    for (const auto& item : list->value("items", nlohmann::json::array())) {
      out.push_back(item.value("metadata", nlohmann::json::object()).value("name", ""));
    }
    return out;
  }
  kube::ListOptions lo;
  lo.namespace_name = (*s)->config.namespace_name;
  lo.limit = k_max_names;
  auto pager = kube::list_pods(*(*s)->client, lo);
  auto page = pager.next();
  if (!page || !*page) return out;
  for (const auto& item : (*page)->list.value("items", nlohmann::json::array())) {
    out.push_back(item.value("metadata", nlohmann::json::object()).value("name", ""));
  }
  return out;
}

void add_matching(Completion& c, const std::string& prefix, const std::string& value, const std::string& description = {}) {
  if (value.rfind(prefix, 0) != 0) return;
  // Names from the cluster are not trusted to be printable: anything escape_for_terminal would
  // change (controls, invalid UTF-8, backslashes) is left out rather than offered to the shell.
  if (util::escape_for_terminal(value) != value) return;
  c.candidates.push_back(description.empty() ? value : value + "\t" + description);
}

}  // namespace

Completion complete(const CLI::App& root, const std::vector<std::string>& words_in, Io& io) {
  std::vector<std::string> words = words_in.empty() ? std::vector<std::string>{""} : words_in;
  const std::string cur = words.back();
  Completion c;

  // Walk the words before the current one: the subcommand path and the positionals given.
  const CLI::App* app = &root;
  std::vector<std::string> path;
  std::size_t positionals = 0;
  const CLI::Option* pending = nullptr;  // the flag whose value is being typed
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (pending != nullptr) {
      pending = nullptr;
      continue;
    }
    if (w.size() > 1 && w[0] == '-') {
      const auto* o = find_option(app, w);
      if (takes_value(o) && w.find('=') == std::string::npos) pending = o;
      continue;
    }
    if (const auto* sub = find_sub(*app, w); sub != nullptr && positionals == 0) {
      app = sub;
      path.push_back(w);
      continue;
    }
    ++positionals;
  }
  const std::string verb = path.empty() ? "" : path.front();

  if (pending != nullptr) {  // a flag's value
    const std::string name = pending->get_name();
    if (name == "--namespace" || name == "-n") {
      for (const auto& n : cluster_names(words, io, true)) add_matching(c, cur, n);
    } else if (name == "--context") {
      kube::Environment env;
      env.kubeconfig_env = io.getenv("KUBECONFIG");
      env.home = io.getenv("HOME").value_or("");
      kube::Overrides o;
      if (const auto k = flags_from(words).kubeconfig; !k.empty()) o.kubeconfig = k;
      if (auto list = kube::list_contexts(o, env); list) {
        for (const auto& n : *list) add_matching(c, cur, n);
      }
    } else if (name == "--fs") {
      for (const char* v : {"listing", "archive", "none"}) add_matching(c, cur, v);
    } else if (name == "--group-by") {
      for (const char* v : {"workload", "namespace", "node"}) add_matching(c, cur, v);
    } else {
      c.directive = k_directive_default;  // paths and free values: let the shell complete files
    }
    return c;
  }
  if (!cur.empty() && cur[0] == '-') {
    for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
      for (const auto* o : a->get_options()) {
        for (const auto& n : o->get_lnames()) add_matching(c, cur, "--" + n, o->get_description());
      }
    }
    return c;
  }
  if (app == &root || (verb == "playbooks" && path.size() == 1)) {
    for (const auto* s : app->get_subcommands([](const CLI::App*) { return true; })) {
      add_matching(c, cur, s->get_name(), s->get_description());
    }
    return c;
  }
  if (takes_pod(verb) && positionals == 0) {
    for (const auto& n : cluster_names(words, io, false)) add_matching(c, cur, n);
  } else if (verb == "run" && positionals == 0) {
    for (const auto& p : playbook::embedded_playbooks()) add_matching(c, cur, p.name, "shipped playbook");
    c.directive = k_directive_default;  // or a file
  } else if (verb == "run" && positionals == 1) {
    for (const auto& n : cluster_names(words, io, false)) add_matching(c, cur, n);
  } else if (verb == "playbooks" && path.size() == 2 && path[1] == "show" && positionals == 0) {
    for (const auto& p : playbook::embedded_playbooks()) add_matching(c, cur, p.name);
  } else if (verb == "completion" && positionals == 0) {
    for (const char* v : {"bash", "zsh"}) add_matching(c, cur, v);
  } else if (verb == "verify") {
    c.directive = k_directive_default;
  }
  return c;
}

void print_completion(const Completion& completion, Io& io) {
  for (const auto& line : completion.candidates) io.out << line << "\n";
  io.out << ":" << completion.directive << "\n";
}

namespace {

constexpr const char* k_bash = R"(# bash completion for kubectl-ir (kubectl ir ... completes through kubectl_complete-ir)
_kubectl_ir() {
  local cur words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  local out directive
  out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
  directive=${out##*:}
  out=${out%:*}
  COMPREPLY=()
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && COMPREPLY+=("${line%%$'\t'*}")
  done <<< "$out"
  if [ ${#COMPREPLY[@]} -eq 0 ] && [ "$directive" = 0 ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o default -F _kubectl_ir kubectl-ir
)";

constexpr const char* k_zsh = R"(#compdef kubectl-ir
# zsh completion for kubectl-ir (kubectl ir ... completes through kubectl_complete-ir)
_kubectl_ir() {
  local -a lines cands
  local directive
  lines=("${(@f)$(${words[1]} __complete ${words[2,CURRENT]} 2>/dev/null)}")
  directive=${lines[-1]#:}
  lines=(${lines[1,-2]})
  for l in $lines; do cands+=("${l%%$'\t'*}:${l#*$'\t'}"); done
  if (( ${#cands} )); then _describe 'kubectl-ir' cands; elif [[ $directive == 0 ]]; then _files; fi
}
compdef _kubectl_ir kubectl-ir
)";

}  // namespace

Command setup_completion(CLI::App& root, const GlobalOptions& /*global*/) {
  auto shell = std::make_shared<std::string>();
  CLI::App* app =
      add_command(root, "completion", "Print a shell completion script (bash or zsh)",
                  {
                      "source <(kubectl ir completion bash)          # kubectl-ir <TAB>",
                      "kubectl ir completion zsh > \"${fpath[1]}/_kubectl-ir\"",
                  },
                  "`kubectl ir <TAB>` needs no script: kubectl 1.26+ runs kubectl_complete-ir (shipped beside\n"
                  "kubectl-ir; put both on PATH) and reads its answers.");
  app->add_option("shell", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  return {app, [shell](Io& io) {
            io.out << (*shell == "bash" ? k_bash : k_zsh);
            return static_cast<int>(k_exit_ok);
          }};
}

}  // namespace ir::cli
