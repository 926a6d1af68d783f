#include "cmd/sign.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "build_info.hpp"
#include "cmd/custody_flags.hpp"
#include "cmd/errors.hpp"
#include "custody/acquisition.hpp"
#include "custody/sign.hpp"
#include "custody/signed_files.hpp"
#include "util/clock.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {


Command setup_sign(CLI::App& root, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<SignOptions>();
  CLI::App* app = add_command(
      root, "sign", "Sign an evidence bundle (cosign blob signature and in-toto statement)",
      {
          "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ir.key && openssl pkey -in ir.key "
          "-pubout -out ir.pub",
          "kubectl ir sign case-20261205-101500-ab12.tar.gz --sign-key ir.key",
          "IR_KEY_PASS=... kubectl ir sign case.tar.gz --sign-key ir-encrypted.key --sign-key-pass-env IR_KEY_PASS",
          "kubectl ir verify case.tar.gz --key ir.pub",
          "cosign verify-blob --key ir.pub --signature case.tar.gz.sig case.tar.gz",
      },
      "Verifies the bundle first (a bundle that does not match its manifest is not signed), then writes\n"
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
  auto key = load_signing_key(options.key, options.key_pass_env, io);
  if (!key) {
    return exit_with(io, key.error().code == Errc::usage ? key.error() : key.error().context("sign " + options.bundle),
                     exit_code_for(key.error()));
  }
  util::RealClock clock;
  auto signed_files = custody::sign_bundle_file(
      *key, options.bundle, {build::k_version, build::k_git_commit, key->fingerprint(), util::format_rfc3339(clock.now())});
  if (!signed_files) return exit_with(io, signed_files.error().context("sign " + options.bundle));
  const custody::SignedFiles& files = *signed_files;
  const std::string& source = files.predicate_source;
  if (source != custody::k_acquisition_json) {
    print_warning(
        io,
        source == "none"
            ? "the bundle has no acquisition.json nor acquisition.log: the statement's predicate lists them as missing"
            : "the bundle has no acquisition.json: the predicate was read from acquisition.log");
  }
  if (options.output == "json") {
    io.out << custody::to_json(files).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return k_exit_ok;
  }
  print_signed(io.out, files, SignedLines::with_bundle);
  return k_exit_ok;
}

}  // namespace ir::cli
