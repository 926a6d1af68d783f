#include "cmd/verify.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cmd/errors.hpp"
#include "custody/sign.hpp"
#include "evidence/bundle.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {



// "<entry>: <problem>", or the problem alone for the bundle as a whole.
std::string describe(const evidence::VerifyProblem& p) { return p.entry.empty() ? p.problem : p.entry + ": " + p.problem; }

// Entry names in a hostile bundle may hold any bytes: dump() replaces invalid UTF-8 with U+FFFD
// instead of throwing.
std::string dump(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

// One signature file's check, for the report.
struct SignatureCheck {
  std::string kind;  // "signature" or "statement"
  std::string path;
  bool ok = false;
  std::string detail;  // what was verified, or why not
};

// Checks BUNDLE.sig and BUNDLE.intoto.jsonl (or the files given) against `sha256_hex` with the
// public key. An ECDSA key needs both; an Ed25519 key the statement only.
std::vector<SignatureCheck> check_signatures(const VerifyOptions& options, const custody::VerifyKey& key,
                                             const std::string& sha256_hex) {
  std::vector<SignatureCheck> checks;
  const std::string sig_path = options.signature.empty() ? custody::signature_path(options.bundle) : options.signature;
  const std::string statement_path = options.statement.empty() ? custody::statement_path(options.bundle) : options.statement;
  if (key.type() == custody::KeyType::ecdsa_p256) {
    SignatureCheck c{"signature", sig_path, false, {}};
    if (auto text = util::read_file(sig_path, 64 * 1024); !text) {
      c.detail = text.error().message;
    } else if (auto v = custody::verify_blob_signature(key, sha256_hex, *text); !v) {
      c.detail = v.error().message + " (another key, or the bundle changed since it was signed)";
    } else {
      c.ok = true;
      c.detail = "ECDSA P-256 over the bundle's SHA-256, key " + key.fingerprint();
    }
    checks.push_back(std::move(c));
  }
  SignatureCheck c{"statement", statement_path, false, {}};
  if (auto text = util::read_file(statement_path, 16 * 1024 * 1024); !text) {
    c.detail = text.error().message;
  } else if (auto v = custody::verify_envelope(key, sha256_hex, *text); !v) {
    c.detail = v.error().message;
  } else {
    c.ok = true;
    const auto& p = v->predicate;
    const auto field = [&](const char* name) {
      return p.is_object() && p.contains(name) && p[name].is_string() ? p[name].get<std::string>() : std::string("?");
    };
    c.detail = fmt::format("in-toto statement for {}, case {}, examiner {}, signed with {} key {}", v->subject_name,
                           field("case"), field("examiner"), custody::to_string(key.type()), key.fingerprint());
  }
  checks.push_back(std::move(c));
  return checks;
}

}  // namespace

Command setup_verify(CLI::App& root, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* app = add_command(
      root, "verify", "Check an evidence bundle against its manifest (no cluster needed)",
      {
          "kubectl ir verify case-20261121-163229-7f3a.tar.gz",
          "kubectl ir verify evidence/web-7d4b9.tar.gz -o json | jq '.problems'",
          "kubectl ir verify case-20261121-163229-7f3a.tar.gz --key ir.pub",
      },
      "Recomputes the SHA-256 and size of every entry and compares them with manifest.json; reports\n"
      "entries that changed, are missing, are not in the manifest, appear twice or have unsafe names,\n"
      "and prints the SHA-256 of the bundle itself (compare it with the one printed at collection).\n"
      "With --key, also checks BUNDLE.sig (ECDSA keys; what kubectl ir sign and cosign sign-blob write) and\n"
      "the in-toto statement BUNDLE.intoto.jsonl against that SHA-256.\n"
      "Exit 0 when everything matches, 1 otherwise.");
  app->add_option("BUNDLE", options->bundle, "The bundle (.tar.gz) to verify")->required();
  app->add_option("-o,--output", options->output, "Output format: json")->check(CLI::IsMember({"json"}));
  app->add_option("--key", options->key, "PEM public key: also check the bundle's signature and in-toto statement");
  app->add_option("--signature", options->signature, "The detached signature (default BUNDLE.sig)");
  app->add_option("--statement", options->statement, "The DSSE envelope (default BUNDLE.intoto.jsonl)");
  return {app, [options](Io& io) { return run_verify(*options, io); }};
}

int run_verify(const VerifyOptions& options, Io& io) {
  const bool json = options.output == "json";
  std::optional<custody::VerifyKey> key;
  if (!options.key.empty()) {
    auto k = custody::VerifyKey::load(options.key);
    if (!k) return exit_with(io, k.error().context("verify " + options.bundle), k_exit_failure);
    key = std::move(*k);
  }
  const auto report = evidence::verify_bundle(options.bundle);
  if (!report) {
    // File-system errors already start with the path ("x.tar.gz: No such file or directory"):
    // say it once, as "verify x.tar.gz: No such file or directory".
    Error e = report.error();
    if (const std::string prefix = options.bundle + ": "; e.message.rfind(prefix, 0) == 0) {
      e.message.erase(0, prefix.size());
    }
    e = e.context("verify " + options.bundle);
    if (json) io.out << dump({{"bundle", options.bundle}, {"ok", false}, {"error", e.message}}) << "\n";
    print_error(io, e);
    return k_exit_failure;
  }
  std::vector<SignatureCheck> checks;
  if (key) checks = check_signatures(options, *key, report->bundle_sha256);
  const auto failed_check = std::find_if(checks.begin(), checks.end(), [](const SignatureCheck& c) { return !c.ok; });
  if (json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : report->problems) problems.push_back({{"entry", p.entry}, {"problem", p.problem}});
    nlohmann::json out = {{"bundle", options.bundle},
                          {"sha256", report->bundle_sha256},
                          {"ok", report->ok() && failed_check == checks.end()},
                          {"entries", report->entries_checked},
                          {"problems", std::move(problems)}};
    if (key) {
      nlohmann::json sigs = nlohmann::json::array();
      for (const auto& c : checks) sigs.push_back({{"kind", c.kind}, {"path", c.path}, {"ok", c.ok}, {"detail", c.detail}});
      out["signatures"] = std::move(sigs);
    }
    io.out << dump(out) << "\n";
  } else {
    io.out << "bundle: " << util::esc(options.bundle, util::Cap::path) << "\n";
    io.out << "sha256: " << report->bundle_sha256 << "\n";
    if (report->ok()) {
      io.out << "entries: " << report->entries_checked << " verified\n";
    } else {
      io.out << fmt::format("entries: {} checked, {} problem(s)\n", report->entries_checked, report->problems.size());
      for (const auto& p : report->problems) io.out << "problem: " << util::esc(describe(p), util::Cap::detail) << "\n";
    }
    for (const auto& c : checks) {
      io.out << fmt::format("{:<10} {}: {}{}\n", c.kind + ":", util::esc(c.path, util::Cap::path), c.ok ? "ok, " : "FAILED: ",
                            util::esc(c.detail, util::Cap::detail));
    }
  }
  if (!report->ok()) {
    // print_error escapes the message (entry names come from the bundle).
    print_error(io, Error(Errc::failure, fmt::format("verify {}: {} problem(s): {}", options.bundle,
                                                     report->problems.size(), describe(report->problems.front()))));
    return k_exit_failure;
  }
  if (failed_check != checks.end()) {
    print_error(io, Error(Errc::failure, fmt::format("verify {}: {} {}: {}", options.bundle, failed_check->kind,
                                                     failed_check->path, failed_check->detail)));
    return k_exit_failure;
  }
  return k_exit_ok;
}

}  // namespace ir::cli
