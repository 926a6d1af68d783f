#include "custody/signed_files.hpp"

#include <fmt/format.h>

#include "util/crypto.hpp"
#include "util/files.hpp"

namespace ir::custody {

namespace {

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

nlohmann::json to_json(const SignedFiles& files) {
  return {{"bundle", files.bundle},
          {"sha256", files.sha256},
          {"key", {{"type", to_string(files.key_type)}, {"fingerprint", files.key_fingerprint}}},
          {"signature", files.signature.empty() ? nlohmann::json() : nlohmann::json(files.signature)},
          {"statement", files.statement},
          {"predicate_source", files.predicate_source}};
}

Result<SignedFiles> write_signatures(const SigningKey& key, const std::string& bundle_path,
                                     const std::string& sha256_hex, const nlohmann::json& predicate) {
  const SignInput input{base_name(bundle_path), sha256_hex, predicate};
  IR_TRY(signatures, sign_bundle(key, input));
  SignedFiles out;
  out.bundle = bundle_path;
  out.sha256 = sha256_hex;
  out.key_type = key.type();
  out.key_fingerprint = key.fingerprint();
  out.predicate_source = predicate.is_object() ? predicate.value("source", "none") : "none";
  if (!signatures.blob_signature.empty()) {
    out.signature = signature_path(bundle_path);
    IR_CHECK_CTX(util::write_file_atomic(out.signature, signatures.blob_signature), "write " + out.signature);
  }
  out.statement = statement_path(bundle_path);
  IR_CHECK_CTX(util::write_file_atomic(out.statement, signatures.envelope), "write " + out.statement);
  return out;
}

Result<SignedFiles> sign_bundle_file(const SigningKey& key, const std::string& bundle_path, SignerInfo signer) {
  IR_TRY(facts, read_bundle_facts(bundle_path));
  if (!facts.report.ok()) {
    const auto& p = facts.report.problems.front();
    return unexpected(
        Error(Errc::failure, fmt::format("the bundle does not match its manifest ({} problem(s): {}{})",
                                         facts.report.problems.size(), p.entry.empty() ? "" : p.entry + ": ", p.problem))
            .with_hint("kubectl ir verify " + bundle_path + " lists them; a bundle that does not verify is not signed"));
  }
  if (signer.key_fingerprint.empty()) signer.key_fingerprint = key.fingerprint();
  const auto* json = facts.acquisition_json ? &*facts.acquisition_json : nullptr;
  const auto* log = facts.acquisition_log ? &*facts.acquisition_log : nullptr;
  return write_signatures(key, bundle_path, facts.report.bundle_sha256, acquisition_predicate(json, log, signer));
}

std::string statement_digest(const std::string& bundle_path) {
  auto text = util::read_file(statement_path(bundle_path), 16 * 1024 * 1024);
  if (!text) return {};
  const auto line = text->substr(0, text->find('\n'));
  const auto envelope = nlohmann::json::parse(line, nullptr, false);
  if (!envelope.is_object() || !envelope.contains("payload") || !envelope["payload"].is_string()) return {};
  auto payload = util::base64_decode(envelope["payload"].get<std::string>());
  if (!payload) return {};
  const auto statement = nlohmann::json::parse(*payload, nullptr, false);
  try {
    std::string d = statement.at("subject").at(0).at("digest").at("sha256").get<std::string>();
    if (d.size() == 64 && d.find_first_not_of("0123456789abcdef") == std::string::npos) return d;
  } catch (const nlohmann::json::exception&) {
  }
  return {};
}

}  // namespace ir::custody
