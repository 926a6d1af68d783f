#include "cmd/sign.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "build_info.hpp"
#include "cmd/errors.hpp"
#include "custody/acquisition.hpp"
#include "custody/sign.hpp"
#include "util/clock.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

std::string esc(const std::string& s) {
  return util::escape_for_terminal(s, 512);
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Command setup_sign(CLI::App& root, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<SignOptions>();
  CLI::App* app = root.add_subcommand("sign", "Sign an evidence bundle (cosign blob signature and in-toto statement)");
  app->footer(
      "Examples:\n"
      "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ir.key && openssl pkey -in ir.key -pubout "
      "-out ir.pub\n"
      "  kubectl ir sign case-20261205-101500-ab12.tar.gz --sign-key ir.key\n"
      "  IR_KEY_PASS=... kubectl ir sign case.tar.gz --sign-key ir-encrypted.key --sign-key-pass-env IR_KEY_PASS\n"
      "  kubectl ir verify case.tar.gz --key ir.pub\n"
      "  cosign verify-blob --key ir.pub --signature case.tar.gz.sig case.tar.gz\n"
      "\nVerifies the bundle first (a bundle that does not match its manifest is not signed), then writes\n"
      "BUNDLE.sig (base64 DER ECDSA P-256 over the SHA-256 of the bundle: cosign verify-blob reads it) and\n"
      "BUNDLE.intoto.jsonl (a DSSE envelope holding an in-toto Statement v1 whose subject is the bundle and\n"
      "whose predicate is its acquisition record). Ed25519 keys sign the statement only. The key is PEM\n"
      "(PKCS#8 or SEC1); an encrypted one needs --sign-key-pass-env, nothing is asked on the terminal.");
  app->add_option("bundle", options->bundle, "The bundle (.tar.gz) to sign")->required();
  app->add_option("--sign-key", options->key, "PEM private key: ECDSA P-256 or Ed25519")->required();
  app->add_option("--sign-key-pass-env", options->key_pass_env,
                  "Name of the environment variable holding the key's passphrase");
  app->add_option("-o,--output", options->output, "Output format: json")->check(CLI::IsMember({"json"}));
  return {app, [options](Io& io) { return run_sign(*options, io); }};
}

int run_sign(const SignOptions& options, Io& io) {
  std::optional<std::string> passphrase;
  if (!options.key_pass_env.empty()) {
    passphrase = io.getenv ? io.getenv(options.key_pass_env) : std::nullopt;
    if (!passphrase) {
      print_error(io,
                  Error(Errc::usage, "--sign-key-pass-env " + esc(options.key_pass_env) + ": the variable is not set"));
      return k_exit_usage;
    }
  }
  auto key = custody::SigningKey::load(options.key, passphrase);
  if (passphrase) std::fill(passphrase->begin(), passphrase->end(), '\0');
  if (!key) {
    print_error(io, key.error().context("sign " + options.bundle));
    return exit_code_for(key.error());
  }
  auto facts = custody::read_bundle_facts(options.bundle);
  if (!facts) {
    print_error(io, facts.error().context("sign " + options.bundle));
    return exit_code_for(facts.error());
  }
  if (!facts->report.ok()) {
    const auto& p = facts->report.problems.front();
    print_error(
        io, Error(Errc::failure,
                  fmt::format("sign {}: the bundle does not match its manifest ({} problem(s): {}{})", options.bundle,
                              facts->report.problems.size(), p.entry.empty() ? "" : p.entry + ": ", p.problem))
                .with_hint("kubectl ir verify " + options.bundle +
                           " lists them; a bundle that does not verify is not signed"));
    return k_exit_failure;
  }
  util::RealClock clock;
  const custody::SignerInfo signer{build::k_version, build::k_git_commit, key->fingerprint(),
                                   util::format_rfc3339(clock.now())};
  const auto* json = facts->acquisition_json ? &*facts->acquisition_json : nullptr;
  const auto* log = facts->acquisition_log ? &*facts->acquisition_log : nullptr;
  custody::SignInput input{base_name(options.bundle), facts->report.bundle_sha256,
                           custody::acquisition_predicate(json, log, signer)};
  auto signatures = custody::sign_bundle(*key, input);
  if (!signatures) {
    print_error(io, signatures.error().context("sign " + options.bundle));
    return k_exit_failure;
  }
  const std::string sig_path = custody::signature_path(options.bundle);
  const std::string statement_path = custody::statement_path(options.bundle);
  if (!signatures->blob_signature.empty()) {
    if (auto w = util::write_file_atomic(sig_path, signatures->blob_signature); !w) {
      print_error(io, w.error().context("sign " + options.bundle + ": write " + sig_path));
      return k_exit_failure;
    }
  }
  if (auto w = util::write_file_atomic(statement_path, signatures->envelope); !w) {
    print_error(io, w.error().context("sign " + options.bundle + ": write " + statement_path));
    return k_exit_failure;
  }
  const std::string source = input.predicate.value("source", "none");
  if (source != custody::k_acquisition_json) {
    print_warning(
        io,
        source == "none"
            ? "the bundle has no acquisition.json nor acquisition.log: the statement's predicate lists them as missing"
            : "the bundle has no acquisition.json: the predicate was read from acquisition.log");
  }
  if (options.output == "json") {
    nlohmann::json out = {
        {"bundle", options.bundle},
        {"sha256", input.sha256_hex},
        {"key", {{"type", custody::to_string(key->type())}, {"fingerprint", key->fingerprint()}}},
        {"signature", signatures->blob_signature.empty() ? nlohmann::json() : nlohmann::json(sig_path)},
        {"statement", statement_path},
        {"predicate_source", source}};
    io.out << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return k_exit_ok;
  }
  io.out << "bundle:    " << esc(options.bundle) << "\n";
  io.out << "sha256:    " << input.sha256_hex << "\n";
  io.out << "key:       " << custody::to_string(key->type()) << " " << key->fingerprint() << "\n";
  if (!signatures->blob_signature.empty()) {
    io.out << "signature: " << esc(sig_path) << "\n";
  } else {
    io.out << "signature: none (Ed25519 keys sign the statement only; use an ECDSA P-256 key for cosign verify-blob)\n";
  }
  io.out << "statement: " << esc(statement_path) << " (in-toto Statement v1, predicate from " << source << ")\n";
  return k_exit_ok;
}

}  // namespace ir::cli
