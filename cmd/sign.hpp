#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct SignOptions {
  std::string bundle;        // path of the .tar.gz
  std::string key;           // --sign-key: PEM private key (ECDSA P-256 or Ed25519)
  std::string key_pass_env;  // --sign-key-pass-env: the environment variable holding its passphrase
  std::string output;        // "" (report) or "json"
};

// kubectl ir sign BUNDLE --sign-key FILE: verifies the bundle against its manifest (one pass, which
// also gives its SHA-256 and its acquisition record), then writes BUNDLE.sig (cosign blob
// signature, ECDSA keys) and BUNDLE.intoto.jsonl (DSSE envelope of an in-toto statement) beside
// it. Needs no cluster. Exit 0 when both were written, 1 otherwise (the bundle does not verify,
// the key cannot be used).
Command setup_sign(CLI::App& root, const GlobalOptions& global);
int run_sign(const SignOptions& options, Io& io);

}  // namespace ir::cli
