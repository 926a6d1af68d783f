#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct VerifyOptions {
  std::string bundle;  // path of the .tar.gz
  std::string output;  // "" (report) or "json"
  std::string key;        // --key: PEM public key; set, the signature and statement are checked too
  std::string signature;  // --signature: default BUNDLE.sig
  std::string statement;  // --statement: default BUNDLE.intoto.jsonl
};

// kubectl ir verify BUNDLE [-o json]: recomputes the SHA-256 of every entry of an evidence bundle
// and compares it with its manifest.json; with --key, also checks BUNDLE.sig (ECDSA keys) and the
// DSSE envelope BUNDLE.intoto.jsonl against the recomputed SHA-256. Needs no cluster. Exit 0 when
// everything matches, 1 on any problem or when the file is not a readable bundle.
Command setup_verify(CLI::App& root, const GlobalOptions& global);
int run_verify(const VerifyOptions& options, Io& io);

}  // namespace ir::cli
