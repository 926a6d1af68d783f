#pragma once
// The custody flags, written once for every command that takes them:
//   - the S3 destination (--s3-endpoint, --s3-region, --s3-path-style, --s3-ca, --lock-mode,
//     --retain-until, --legal-hold) of `upload`, `collect` and `run`, and the S3 connection they
//     make (TLS, the region and the credentials found as the AWS CLI finds them: cmd/ reads the
//     environment, lib/ is handed the values);
//   - what `collect` and `run` do with their own bundle once it is sealed (--report, --sign-key,
//     --upload, --upload-url): AfterSeal. The bundle's journal.jsonl is sealed before any of it,
//     so what happens after sealing is journaled in the case journal (actions "sign",
//     "report.written", "upload", "upload.skipped") and, when the page is written, shown in its
//     Custody section.

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cmd/io.hpp"
#include "custody/s3.hpp"
#include "custody/sign.hpp"
#include "custody/signed_files.hpp"
#include "evidence/case.hpp"
#include "kube/transport.hpp"
#include "run/verbs.hpp"
#include "util/clock.hpp"
#include "util/outcome.hpp"
#include "util/result.hpp"

namespace ir::cli {

// ---- the S3 destination ------------------------------------------------------------------------

struct S3Flags {
  std::string endpoint;      // --s3-endpoint (else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS's)
  std::string region;        // --s3-region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1)
  bool path_style = false;   // --s3-path-style
  std::string ca_file;       // --s3-ca (else AWS_CA_BUNDLE)
  std::string lock_mode;     // --lock-mode governance|compliance
  std::string retain_until;  // --retain-until DATE|DURATION
  bool legal_hold = false;   // --legal-hold
};

// Adds the S3 destination flags to `app`, writing into `flags` (which must outlive parsing).
void add_s3_flags(CLI::App& app, S3Flags& flags);

// The Object Lock the flags ask for (none when none is given). Errc::usage when --lock-mode and
// --retain-until are not given together or the date is malformed or past.
Result<custody::ObjectLock> lock_of(const S3Flags& flags, util::TimePoint now);

// An S3 connection for one command. Nothing is sent until client() (or a presigned upload) is
// used. Holds the Io's cancel token: Ctrl-C stops a transfer in progress.
class S3Access {
 public:
  // Reads the CA bundle (--s3-ca, else AWS_CA_BUNDLE): Errc::usage naming the flag when it cannot
  // be read. `verbosity` >= 6 traces every request to io.err (never a secret).
  static Result<std::unique_ptr<S3Access>> prepare(const S3Flags& flags, Io& io, int verbosity);
  // Over a transport the caller owns (tests), with credentials and configuration given.
  static std::unique_ptr<S3Access> over(kube::Transport& transport, custody::S3Config config,
                                        custody::AwsCredentials credentials, util::Clock& clock,
                                        const util::CancelToken* cancel);
  ~S3Access();
  S3Access(const S3Access&) = delete;
  S3Access& operator=(const S3Access&) = delete;

  // The client, made on the first call: the region and the credentials are resolved then (web
  // identity asks STS). Fails as custody::resolve_credentials does (the error names what was
  // tried, never a secret); the failure is remembered and returned again.
  Result<custody::S3Client*> client();
  // The transport, for presigned PUTs.
  kube::Transport& transport();
  [[nodiscard]] const custody::Trace& trace() const { return m_trace; }
  [[nodiscard]] const util::CancelToken* cancel() const { return m_cancel; }

 private:
  S3Access() = default;
  S3Flags m_flags;
  Io* m_io = nullptr;
  std::unique_ptr<util::Clock> m_own_clock;
  util::Clock* m_clock = nullptr;
  std::unique_ptr<kube::Transport> m_own_transport;
  kube::Transport* m_transport = nullptr;
  const util::CancelToken* m_cancel = nullptr;
  custody::Trace m_trace;
  std::unique_ptr<custody::S3Client> m_client;
  std::optional<Error> m_failed;
};

// One object's outcome as `kubectl ir upload` prints it: "s3://b/k: uploaded" and its version,
// ETag, SHA-256, checksum, resume and lock lines. Escaped.
void print_outcome(std::ostream& out, const custody::ObjectOutcome& outcome);

// How print_signed starts: with the bundle and its SHA-256 (kubectl ir sign), or without (collect
// and run print them already).
enum class SignedLines { with_bundle, without_bundle };
// "signature: B.sig", "statement: B.intoto.jsonl (...)", "key: ecdsa-p256 sha256:...". Escaped.
void print_signed(std::ostream& out, const custody::SignedFiles& files, SignedLines lines);

// Loads --sign-key, unlocking it with the passphrase in the environment variable `pass_env` when
// one is named. Errc::usage when that variable is not set; else as custody::SigningKey::load.
// The passphrase is wiped after use.
Result<custody::SigningKey> load_signing_key(const std::string& path, const std::string& pass_env, Io& io);

// ---- after sealing: collect and run ---------------------------------------------------------

struct CustodyFlags {
  bool report = false;                   // --report: the HTML page beside the bundle
  std::string sign_key;                  // --sign-key FILE
  std::string sign_key_pass_env;         // --sign-key-pass-env VAR
  std::string upload;                    // --upload s3://BUCKET/PREFIX
  std::vector<std::string> upload_urls;  // --upload-url URL (presigned; one per file, in order)
  S3Flags s3;
};

// Adds --report, --sign-key, --sign-key-pass-env, --upload, --upload-url and the S3 flags.
void add_custody_flags(CLI::App& app, CustodyFlags& flags);

// What collect and run do after sealing, in this order:
//   1. sign (--sign-key): the digest the bundle writer computed and the acquisition.json it
//      sealed, so no pass over the bundle; B.sig (ECDSA) and B.intoto.jsonl beside it;
//   2. upload (--upload / --upload-url): the bundle (its SHA-256 known: a single PUT sends it as
//      the payload hash, nothing re-hashes it first), B.sig, B.intoto.jsonl;
//   3. the page (--report): B.html beside the bundle, its Custody section listing the signature
//      and every object uploaded in 2 (version, ETag, checksum, lock as read back);
//   4. upload of the page, when both were asked.
// Each step is journaled in the case journal; a failure in one does not stop the next (a page is
// still written when the upload failed, and says so). After Ctrl-C during the collection only
// step 1 runs (milliseconds, local); the others are skipped and the commands that do them later
// are printed.
class AfterSeal {
 public:
  // Checks everything that can be checked before the collection starts, so a typo never costs
  // one: the key loads (passphrase included), the destination parses, the lock is valid, the
  // credentials are found (web identity: STS is asked now), --upload and --upload-url are not
  // both given and there is one URL per file. Errc::usage for bad flags (exit 2); credential and
  // key failures keep their codes. `s3` is the command's S3 connection (S3Access::prepare).
  static Result<std::unique_ptr<AfterSeal>> prepare(const CustodyFlags& flags, std::unique_ptr<S3Access> s3, Io& io);

  // Whether any of the steps was asked for.
  [[nodiscard]] bool wanted() const;
  // The signing key (--sign-key), or nullptr.
  [[nodiscard]] const custody::SigningKey* key() const { return m_key ? &*m_key : nullptr; }
  // The lock the flags ask for.
  [[nodiscard]] const custody::ObjectLock& lock() const { return m_lock; }
  // The S3 connection (for the playbook steps sign and upload too).
  [[nodiscard]] S3Access& s3() const { return *m_s3; }

  struct Done {
    util::Outcome outcome = util::Outcome::ok;  // partial when a step failed, interrupted on Ctrl-C
    nlohmann::json doc = nlohmann::json::object();  // for -o json|yaml: "signature", "report", "uploads"
    std::vector<std::string> problems;             // one line per step that failed (already printed)
  };
  // Runs the steps on the bundle `c` just sealed (`sealed`; `collected` is how the collection
  // itself ended). Progress and errors go to io.err; the result lines (print_signed,
  // print_outcome, "report: PATH") to `lines` when given (nullptr with -o json|yaml).
  Done run(evidence::Case& c, const evidence::Case::SealResult& sealed, util::Outcome collected, Io& io,
           std::ostream* lines);

 private:
  AfterSeal() = default;
  CustodyFlags m_flags;
  std::optional<custody::SigningKey> m_key;
  std::optional<custody::S3Location> m_location;
  custody::ObjectLock m_lock;
  std::unique_ptr<S3Access> m_s3;
};

// The steps after sealing that `flags` ask for, prepared (AfterSeal::prepare over a connection
// S3Access::prepare makes when an upload is asked for); nullptr when none is asked for. Fails as
// those do: print the error and exit with exit_code_for(error).
Result<std::unique_ptr<AfterSeal>> prepare_after_seal(const CustodyFlags& flags, int verbosity, Io& io);

// The playbook steps sign and upload, as `kubectl ir run` offers them: sign loads the key (no
// passphrase: an encrypted key fails with a hint) and signs as `kubectl ir sign` does; upload sends
// with the S3 flags of `flags` (endpoint, region, lock), the connection and credentials made on the
// first upload. Safe to call from for_each workers (uploads are serialised).
run::CustodyHooks custody_hooks(const CustodyFlags& flags, int verbosity, Io& io);

// The exit code of collect or run once AfterSeal ran: `code` (the command's own) unless it was 0
// or 3 and the steps after sealing did worse (3 when one failed, 130 when interrupted).
int combine_exit(int code, util::Outcome after_seal);

}  // namespace ir::cli
