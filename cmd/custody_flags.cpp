#include "cmd/custody_flags.hpp"

#include <mutex>

#include <fmt/format.h>

#include "build_info.hpp"
#include "cmd/errors.hpp"
#include "custody/acquisition.hpp"
#include "custody/credentials.hpp"
#include "kube/curl_transport.hpp"
#include "report/report.hpp"
#include "util/escape.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

std::string env(Io& io, const char* name) {
  if (!io.getenv) return {};
  return io.getenv(name).value_or("");
}

// The credential inputs as the AWS CLI reads them from the environment.
custody::CredentialInputs credential_inputs(Io& io, const std::string& region) {
  custody::CredentialInputs in;
  in.access_key_id = env(io, "AWS_ACCESS_KEY_ID");
  in.secret_access_key = env(io, "AWS_SECRET_ACCESS_KEY");
  in.session_token = env(io, "AWS_SESSION_TOKEN");
  in.profile = env(io, "AWS_PROFILE");
  const std::string home = env(io, "HOME");
  in.credentials_file = env(io, "AWS_SHARED_CREDENTIALS_FILE");
  if (in.credentials_file.empty() && !home.empty()) in.credentials_file = home + "/.aws/credentials";
  in.config_file = env(io, "AWS_CONFIG_FILE");
  if (in.config_file.empty() && !home.empty()) in.config_file = home + "/.aws/config";
  if (!home.empty()) {
    in.credentials_file = util::expand_home(in.credentials_file, home);
    in.config_file = util::expand_home(in.config_file, home);
  }
  in.role_arn = env(io, "AWS_ROLE_ARN");
  in.web_identity_token_file = env(io, "AWS_WEB_IDENTITY_TOKEN_FILE");
  in.role_session_name = env(io, "AWS_ROLE_SESSION_NAME");
  in.sts_endpoint = env(io, "AWS_ENDPOINT_URL_STS");
  if (in.sts_endpoint.empty()) in.sts_endpoint = env(io, "AWS_ENDPOINT_URL");
  in.region = region;
  return in;
}

std::string lock_text(const custody::ObjectOutcome& o) {
  std::string s;
  if (!o.lock_mode.empty()) s = o.lock_mode + " until " + o.retain_until;
  if (!o.legal_hold.empty() && util::to_lower(o.legal_hold) == "on")
    s += std::string(s.empty() ? "" : ", ") + "legal hold ON";
  return s;
}

// "Uploaded" and what identifies the object, for the page's Custody section.
report::CustodyNote note_of(const custody::ObjectOutcome& o) {
  using custody::ObjectState;
  report::CustodyNote n;
  switch (o.state) {
    case ObjectState::uploaded: n.action = "Uploaded"; break;
    case ObjectState::unprotected: n.action = "Uploaded, NOT locked"; break;
    case ObjectState::left_for_resume: n.action = "Upload interrupted"; break;
    case ObjectState::failed: n.action = "Upload failed"; break;
    case ObjectState::not_attempted: n.action = "Not uploaded"; break;
  }
  n.detail = o.url;
  if (o.state == ObjectState::uploaded || o.state == ObjectState::unprotected) {
    n.detail += ": version " + (o.version_id.empty() ? std::string("(not versioned)") : o.version_id);
    if (!o.etag.empty()) n.detail += ", ETag " + o.etag;
    if (!o.checksum_sha256.empty()) n.detail += ", x-amz-checksum-sha256 " + o.checksum_sha256;
    if (const auto lock = lock_text(o); !lock.empty()) n.detail += ", lock " + lock;
    if (o.already_there) n.detail += " (already there)";
  }
  if (o.state != ObjectState::uploaded && !o.error.message.empty()) n.detail += ": " + o.error.message;
  return n;
}

}  // namespace

// ---- S3 ------------------------------------------------------------------------------------------

void add_s3_flags(CLI::App& app, S3Flags& f) {
  app.add_option("--s3-endpoint", f.endpoint, "S3 endpoint URL (default AWS_ENDPOINT_URL_S3, else AWS's for the region)");
  app.add_option("--s3-region", f.region, "Region for signing (default AWS_REGION, the profile's, else us-east-1)");
  app.add_flag("--s3-path-style", f.path_style,
               "Path-style URLs (endpoint/bucket/key); default: path-style for an endpoint with an IP or a port");
  app.add_option("--s3-ca", f.ca_file,
                 "PEM CA bundle to verify the endpoint's certificate (default AWS_CA_BUNDLE, else the system's)");
  app.add_option("--lock-mode", f.lock_mode, "Object Lock retention mode: governance or compliance")
      ->check(CLI::IsMember({"governance", "compliance"}));
  app.add_option("--retain-until", f.retain_until, "Retain until DATE (2027-01-31, RFC 3339) or for DURATION (90d, 1y)");
  app.add_flag("--legal-hold", f.legal_hold, "Put the objects under legal hold");
}

Result<custody::ObjectLock> lock_of(const S3Flags& flags, util::TimePoint now) {
  custody::ObjectLock lock;
  if (flags.legal_hold) lock.legal_hold = custody::LegalHold::on;
  if (flags.lock_mode.empty() != flags.retain_until.empty()) {
    return fail(Errc::usage, "--lock-mode and --retain-until go together (a retention needs a mode and a date)");
  }
  if (!flags.lock_mode.empty()) {
    lock.mode = flags.lock_mode == "compliance" ? custody::LockMode::compliance : custody::LockMode::governance;
    IR_TRY(until, custody::parse_retain_until(flags.retain_until, now));
    lock.retain_until = until;
  }
  return lock;
}

Result<std::unique_ptr<S3Access>> S3Access::prepare(const S3Flags& flags, Io& io, int verbosity) {
  std::unique_ptr<S3Access> a(new S3Access());
  a->m_flags = flags;
  a->m_io = &io;
  a->m_own_clock = std::make_unique<util::RealClock>();
  a->m_clock = a->m_own_clock.get();
  a->m_cancel = io.cancel;
  kube::TlsOptions tls;
  const std::string ca_file = flags.ca_file.empty() ? env(io, "AWS_CA_BUNDLE") : flags.ca_file;
  if (!ca_file.empty()) {
    auto ca = util::read_file(ca_file, 4 * 1024 * 1024);
    if (!ca) return unexpected(Error(Errc::usage, ca.error().message).context("--s3-ca"));
    tls.ca_pem = *ca;
  }
  if (verbosity >= 6) {
    a->m_trace = [&io](const std::string& line) {
      io.err << "kubectl-ir: " << util::escape_for_terminal(line) << "\n";
    };
  }
  a->m_own_transport = std::make_unique<kube::CurlTransport>(tls, io.cancel);
  a->m_transport = a->m_own_transport.get();
  return a;
}

std::unique_ptr<S3Access> S3Access::over(kube::Transport& transport, custody::S3Config config,
                                         custody::AwsCredentials credentials, util::Clock& clock,
                                         const util::CancelToken* cancel) {
  std::unique_ptr<S3Access> a(new S3Access());
  a->m_clock = &clock;
  a->m_transport = &transport;
  a->m_cancel = cancel;
  a->m_client = std::make_unique<custody::S3Client>(transport, std::move(config), std::move(credentials), clock, cancel);
  return a;
}

S3Access::~S3Access() = default;

kube::Transport& S3Access::transport() { return *m_transport; }

Result<custody::S3Client*> S3Access::client() {
  if (m_client) return m_client.get();
  if (m_failed) return unexpected(*m_failed);
  Io& io = *m_io;
  std::string region = m_flags.region;
  custody::CredentialInputs inputs = credential_inputs(io, region);
  if (region.empty()) region = env(io, "AWS_REGION");
  if (region.empty()) region = env(io, "AWS_DEFAULT_REGION");
  if (region.empty()) {
    if (auto profile = custody::profile_config(inputs); profile && profile->count("region") != 0)
      region = profile->at("region");
  }
  if (region.empty()) region = "us-east-1";
  inputs.region = region;
  auto credentials = custody::resolve_credentials(inputs, *m_transport, *m_clock);
  if (!credentials) {
    m_failed = credentials.error();
    return unexpected(*m_failed);
  }
  if (m_trace) m_trace("S3 credentials: " + credentials->source + ", access key id " + credentials->access_key_id);
  custody::S3Config config;
  config.endpoint = m_flags.endpoint.empty() ? env(io, "AWS_ENDPOINT_URL_S3") : m_flags.endpoint;
  if (config.endpoint.empty()) config.endpoint = env(io, "AWS_ENDPOINT_URL");
  config.region = region;
  config.addressing = m_flags.path_style ? custody::Addressing::path : custody::Addressing::automatic;
  m_client = std::make_unique<custody::S3Client>(*m_transport, config, *credentials, *m_clock, m_cancel, m_trace);
  return m_client.get();
}

// ---- printing ------------------------------------------------------------------------------------

void print_outcome(std::ostream& out, const custody::ObjectOutcome& o) {
  out << util::esc(o.url, util::Cap::path) << ": " << custody::to_string(o.state);
  if (o.already_there) out << " (already there: nothing sent)";
  out << "\n";
  if (o.state == custody::ObjectState::uploaded || o.state == custody::ObjectState::unprotected) {
    out << "  version:  " << (o.version_id.empty() ? "(the bucket is not versioned)" : util::esc(o.version_id, util::Cap::path)) << "\n";
    out << "  etag:     " << util::esc(o.etag, util::Cap::path) << "\n";
    out << "  sha256:   " << o.sha256_hex << "\n";
    if (!o.checksum_sha256.empty()) {
      out << "  checksum: " << util::esc(o.checksum_sha256, util::Cap::path) << " (x-amz-checksum-sha256"
          << (o.parts > 0 ? fmt::format(", of {} part checksums", o.parts) : "") << ")\n";
    }
    if (o.parts_reused > 0)
      out << fmt::format("  resumed:  {} of {} parts were already in the bucket\n", o.parts_reused, o.parts);
    if (const auto lock = lock_text(o); !lock.empty()) out << "  lock:     " << util::esc(lock, util::Cap::path) << "\n";
  } else if (o.state == custody::ObjectState::left_for_resume) {
    out << fmt::format("  multipart upload {}: {} of {} parts in the bucket; run the same command again to resume it\n",
                       util::esc(o.upload_id, util::Cap::path), o.parts_in_bucket, o.parts);
  }
}

void print_signed(std::ostream& out, const custody::SignedFiles& files, SignedLines lines) {
  if (lines == SignedLines::with_bundle) {
    out << "bundle:    " << util::esc(files.bundle, util::Cap::path) << "\n";
    out << "sha256:    " << files.sha256 << "\n";
  }
  out << "key:       " << custody::to_string(files.key_type) << " " << files.key_fingerprint << "\n";
  if (!files.signature.empty()) {
    out << "signature: " << util::esc(files.signature, util::Cap::path) << "\n";
  } else {
    out << "signature: none (Ed25519 keys sign the statement only; use an ECDSA P-256 key for cosign verify-blob)\n";
  }
  out << "statement: " << util::esc(files.statement, util::Cap::path) << " (in-toto Statement v1, predicate from " << files.predicate_source
      << ")\n";
}

Result<custody::SigningKey> load_signing_key(const std::string& path, const std::string& pass_env, Io& io) {
  std::optional<std::string> passphrase;
  if (!pass_env.empty()) {
    passphrase = io.getenv ? io.getenv(pass_env) : std::nullopt;
    if (!passphrase) {
      return fail(Errc::usage, "--sign-key-pass-env " + util::esc(pass_env, util::Cap::word) + ": the variable is not set");
    }
  }
  auto key = custody::SigningKey::load(path, passphrase);
  if (passphrase) std::fill(passphrase->begin(), passphrase->end(), '\0');
  return key;
}

// ---- after sealing -------------------------------------------------------------------------------

void add_custody_flags(CLI::App& app, CustodyFlags& f) {
  app.add_flag("--report", f.report, "After sealing, write the HTML report beside the bundle (case.tar.gz: case.html)");
  app.add_option("--sign-key", f.sign_key,
                 "After sealing, sign the bundle with this PEM key (ECDSA P-256 or Ed25519): <bundle>.sig, "
                 "<bundle>.intoto.jsonl");
  app.add_option("--sign-key-pass-env", f.sign_key_pass_env,
                 "Name of the environment variable holding the key's passphrase");
  app.add_option("--upload", f.upload,
                 "After sealing, upload the bundle, its signatures and report to s3://BUCKET/PREFIX");
  app.add_option("--upload-url", f.upload_urls,
                 "Presigned PUT URL, one per file in order: bundle, .sig, .intoto.jsonl, .html (repeatable)");
  add_s3_flags(app, f.s3);
}

Result<std::unique_ptr<AfterSeal>> AfterSeal::prepare(const CustodyFlags& flags, std::unique_ptr<S3Access> s3, Io& io) {
  std::unique_ptr<AfterSeal> a(new AfterSeal());
  a->m_flags = flags;
  a->m_s3 = std::move(s3);
  if (!flags.upload.empty() && !flags.upload_urls.empty()) {
    return fail(Errc::usage, "give --upload or --upload-url, not both");
  }
  IR_TRY(lock, lock_of(flags.s3, util::RealClock().now()));
  a->m_lock = lock;
  if (!flags.upload_urls.empty() && lock.requested()) {
    print_warning(io,
                  "--lock-mode/--retain-until/--legal-hold are ignored with --upload-url: the URL's signer decides the lock");
  }
  if (!flags.sign_key.empty()) {
    IR_TRY_CTX(key, load_signing_key(flags.sign_key, flags.sign_key_pass_env, io), "--sign-key");
    a->m_key = std::move(key);
  } else if (!flags.sign_key_pass_env.empty()) {
    return fail(Errc::usage, "--sign-key-pass-env without --sign-key");
  }
  if (!flags.upload_urls.empty()) {
    std::vector<std::string> files = {"the bundle"};
    if (a->m_key && a->m_key->type() == custody::KeyType::ecdsa_p256) files.emplace_back("its .sig");
    if (a->m_key) files.emplace_back("its .intoto.jsonl");
    if (flags.report) files.emplace_back("its page");
    if (files.size() != flags.upload_urls.size()) {
      return unexpected(Error(Errc::usage, fmt::format("{} --upload-url for {} file(s) ({})", flags.upload_urls.size(),
                                                       files.size(), util::join(files, ", ")))
                            .with_hint("give one presigned URL per file, in that order"));
    }
  }
  if (!flags.upload.empty()) {
    IR_TRY(location, custody::parse_s3_url(flags.upload));
    a->m_location = location;
    if (a->m_s3 == nullptr) return fail(Errc::failure, "no S3 connection");
    IR_TRY_CTX(client, a->m_s3->client(), "--upload " + flags.upload);
    (void)client;  // the credentials are found now, before anything is collected
  }
  return a;
}

Result<std::unique_ptr<AfterSeal>> prepare_after_seal(const CustodyFlags& flags, int verbosity, Io& io) {
  const bool uploading = !flags.upload.empty() || !flags.upload_urls.empty();
  if (!flags.report && flags.sign_key.empty() && flags.sign_key_pass_env.empty() && !uploading) {
    return std::unique_ptr<AfterSeal>();
  }
  std::unique_ptr<S3Access> s3;
  if (uploading) {
    IR_TRY(access, S3Access::prepare(flags.s3, io, verbosity));
    s3 = std::move(access);
  }
  return AfterSeal::prepare(flags, std::move(s3), io);
}

bool AfterSeal::wanted() const {
  return m_flags.report || m_key || m_location || !m_flags.upload_urls.empty();
}

AfterSeal::Done AfterSeal::run(evidence::Case& c, const evidence::Case::SealResult& sealed, util::Outcome collected,
                               Io& io, std::ostream* lines) {
  Done done;
  const std::string& bundle = sealed.sealed.path;
  const bool interrupted = collected == util::Outcome::interrupted || (io.cancel != nullptr && io.cancel->cancelled());
  const bool uploading = m_location.has_value() || !m_flags.upload_urls.empty();
  const std::string destination =
      m_location ? m_flags.upload : (m_flags.upload_urls.empty() ? std::string() : "the presigned URLs");
  std::vector<report::CustodyNote> notes;
  const auto journal = [&](const std::string& action, const json& fields) {
    if (auto r = c.log(action, fields); !r) print_warning(io, "journal: " + r.error().message);
  };
  const auto failed = [&](const Error& e) {
    print_error(io, e);
    done.problems.push_back(e.message);
    done.outcome = util::worst(done.outcome, util::Outcome::partial);
  };
  // The command that does a skipped step later, for the messages.
  std::string upload_command = "kubectl ir upload " + bundle + " " + m_flags.upload;
  if (!m_flags.s3.endpoint.empty()) upload_command += " --s3-endpoint " + m_flags.s3.endpoint;

  // 1. Signatures over the digest the bundle writer computed: no pass over the bundle.
  std::optional<custody::SignedFiles> signed_files;
  if (m_key) {
    const custody::SignerInfo signer{build::k_version, build::k_git_commit, m_key->fingerprint(),
                                     util::format_rfc3339(c.clock().now())};
    const std::string* acquisition = sealed.acquisition_json.empty() ? nullptr : &sealed.acquisition_json;
    auto s = custody::write_signatures(*m_key, bundle, sealed.sealed.sha256,
                                       custody::acquisition_predicate(acquisition, nullptr, signer));
    if (s) {
      signed_files = *s;
      journal("sign", custody::to_json(*s));
      done.doc["signature"] = custody::to_json(*s);
      if (lines != nullptr) print_signed(*lines, *s, SignedLines::without_bundle);
      notes.push_back({"Signed", fmt::format("{} key {}: {}{}", custody::to_string(s->key_type), s->key_fingerprint,
                                             s->signature.empty() ? "" : s->signature + ", ", s->statement)});
    } else {
      journal("sign.failed", {{"bundle", bundle}, {"error", s.error().message}});
      failed(s.error().context("sign " + bundle));
    }
  }

  // 2. and 4. Uploads: files in order, each journaled with what the bucket holds.
  std::size_t next_url = 0;  // --upload-url: bundle, .sig (ECDSA), .intoto.jsonl, .html
  bool upload_interrupted = false;
  std::vector<custody::ObjectOutcome> all;
  const auto upload = [&](const std::vector<custody::UploadItem>& items, const std::vector<std::size_t>& url_slots) {
    std::vector<custody::ObjectOutcome> outcomes;
    for (const auto& item : items) io.err << "upload: " << util::esc(item.path, util::Cap::path) << " to " << util::esc(destination, util::Cap::path) << "\n" << std::flush;
    if (m_location) {
      auto client = m_s3->client();
      if (!client) {
        for (const auto& item : items) {
          custody::ObjectOutcome o;
          o.path = item.path;
          o.key = item.key;
          o.url = "s3://" + m_location->bucket + "/" + item.key;
          o.state = custody::ObjectState::failed;
          o.error = client.error();
          outcomes.push_back(o);
        }
      } else {
        custody::UploadOptions options;
        options.lock = m_lock;
        auto report = (*client)->upload(*m_location, items, options);
        outcomes = std::move(report.objects);
        upload_interrupted = upload_interrupted || report.cancelled;
      }
    } else {
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string& url = m_flags.upload_urls.at(url_slots.at(i));
        if (upload_interrupted) {
          custody::ObjectOutcome skipped;
          skipped.path = items[i].path;
          skipped.url = custody::redact_url(url);
          skipped.error = Error(Errc::cancelled, "interrupted before it started");
          outcomes.push_back(skipped);
          continue;
        }
        auto r = custody::upload_presigned(m_s3->transport(), url, items[i], m_s3->cancel(), m_s3->trace());
        if (r) {
          outcomes.push_back(*r);
          continue;
        }
        custody::ObjectOutcome o;
        o.path = items[i].path;
        o.url = custody::redact_url(url);
        o.state = custody::ObjectState::failed;
        o.error = r.error();
        outcomes.push_back(o);
        if (r.error().code == Errc::cancelled) upload_interrupted = true;
      }
    }
    for (const auto& o : outcomes) {
      json entry = custody::outcome_json(o);
      entry["bundle"] = bundle;
      journal("upload", entry);
      notes.push_back(note_of(o));
      if (lines != nullptr) print_outcome(*lines, o);
      if (o.state != custody::ObjectState::uploaded && o.error.code != Errc::cancelled &&
          !(o.state == custody::ObjectState::not_attempted && upload_interrupted)) {
        print_error(io, o.error.message.empty()
                            ? Error(Errc::failure, o.url + ": " + std::string(custody::to_string(o.state)))
                            : o.error);
      }
      all.push_back(o);
    }
  };
  if (uploading && interrupted) {
    journal("upload.skipped", {{"bundle", bundle}, {"destination", destination}, {"reason", "interrupted"}});
    print_warning(io, "not uploaded (interrupted): the bundle is sealed at " + bundle +
                          (m_location ? "; " + upload_command + " uploads it" : ""));
    done.outcome = util::worst(done.outcome, util::Outcome::interrupted);
  } else if (uploading) {
    std::vector<custody::UploadItem> items;
    std::vector<std::size_t> slots;
    const auto key_of = [&](const std::string& path) {
      return m_location ? custody::object_key(*m_location, path) : std::string();
    };
    items.push_back({bundle, key_of(bundle), sealed.sealed.sha256});
    slots.push_back(next_url++);
    if (m_key && m_key->type() == custody::KeyType::ecdsa_p256) {
      if (signed_files && !signed_files->signature.empty()) {
        items.push_back({signed_files->signature, key_of(signed_files->signature), ""});
        slots.push_back(next_url);
      }
      ++next_url;
    }
    if (m_key) {
      if (signed_files) {
        items.push_back({signed_files->statement, key_of(signed_files->statement), ""});
        slots.push_back(next_url);
      }
      ++next_url;
    }
    upload(items, slots);
  }

  // 3. The page, with what happened after sealing in its Custody section.
  std::optional<report::Summary> page;
  const std::string page_path = report::page_path_for(bundle);
  if (m_flags.report && (interrupted || upload_interrupted)) {
    journal("report.skipped", {{"bundle", bundle}, {"reason", "interrupted"}});
    print_warning(io, "report not written (interrupted): kubectl ir report " + bundle + " writes it");
  } else if (m_flags.report) {
    report::Options ro;
    ro.tool = std::string("kubectl-ir ") + build::k_version + " (" + build::k_git_commit + ")";
    ro.generated_at = util::format_rfc3339(c.clock().now());
    ro.after_seal = notes;
    ro.after_seal_source = "Done after the bundle was sealed, so not in its journal.jsonl: recorded in the journal of case " +
                           c.id() + " (" + c.journal().path() + "), actions sign and upload.";
    auto s = report::write_html(bundle, page_path, ro);
    if (s) {
      page = *s;
      journal("report.written", {{"bundle", bundle}, {"path", page_path}, {"sha256", s->sha256}, {"verified", s->verified}});
      done.doc["report"] = {{"path", page_path}, {"sha256", s->sha256}, {"verified", s->verified}};
      if (lines != nullptr) *lines << "report:    " << util::esc(page_path, util::Cap::path) << "\n";
      if (!s->verified) {
        failed(Error(Errc::failure, fmt::format("report {}: the bundle does not verify ({} problem(s)); the page says which",
                                                bundle, s->problems)));
      }
    } else {
      journal("report.failed", {{"bundle", bundle}, {"path", page_path}, {"error", s.error().message}});
      failed(s.error().context("report " + bundle));
    }
  }
  // 4. The page goes last: it lists the objects before it.
  if (page && uploading && !interrupted && !upload_interrupted) {
    upload({{page_path, m_location ? custody::object_key(*m_location, page_path) : std::string(), page->sha256}},
           {next_url});
  }

  if (!all.empty()) {
    json uploads = json::array();
    std::size_t in_bucket = 0;
    for (const auto& o : all) {
      uploads.push_back(custody::outcome_json(o));
      if (o.state == custody::ObjectState::uploaded) ++in_bucket;
    }
    done.doc["uploads"] = uploads;
    if (upload_interrupted) {
      done.outcome = util::worst(done.outcome, util::Outcome::interrupted);
      print_error(io, Error(Errc::cancelled,
                            fmt::format("upload interrupted: {} of {} object(s) in the bucket; the evidence is sealed "
                                        "at {}, untouched",
                                        in_bucket, all.size(), bundle))
                          .with_hint(m_location ? upload_command + " resumes it (complete objects are recognised, "
                                                                        "a multipart upload continues)"
                                                : "upload it again with fresh presigned URLs"));
    } else if (in_bucket < all.size()) {
      failed(Error(Errc::failure, fmt::format("upload: {} of {} object(s) did not reach {}; the evidence is sealed at {}",
                                              all.size() - in_bucket, all.size(), destination, bundle))
                 .with_hint(m_location ? upload_command + " sends what is missing" : "the case journal lists each object"));
    }
  }
  return done;
}

run::CustodyHooks custody_hooks(const CustodyFlags& flags, int verbosity, Io& io) {
  struct State {
    std::mutex mutex;
    S3Flags s3;
    int verbosity = 0;
    Io* io = nullptr;
    std::unique_ptr<S3Access> access;
  };
  auto state = std::make_shared<State>();
  state->s3 = flags.s3;
  state->verbosity = verbosity;
  state->io = &io;
  run::CustodyHooks hooks;
  hooks.sign = [](const std::string& path, const std::string& key_path) -> Result<json> {
    auto key = custody::SigningKey::load(key_path, std::nullopt);
    if (!key) {
      return unexpected(key.error().context("key " + key_path).with_hint(
          "the step cannot take a passphrase: sign with kubectl ir sign --sign-key-pass-env, or use a key file that is not encrypted"));
    }
    util::RealClock clock;
    IR_TRY(files, custody::sign_bundle_file(*key, path,
                                            {build::k_version, build::k_git_commit, key->fingerprint(),
                                             util::format_rfc3339(clock.now())}));
    return custody::to_json(files);
  };
  hooks.upload = [state](const std::vector<std::string>& paths, const std::string& destination) -> Result<json> {
    std::lock_guard lock(state->mutex);
    IR_TRY(location, custody::parse_s3_url(destination));
    IR_TRY(object_lock, lock_of(state->s3, util::RealClock().now()));
    if (!state->access) {
      IR_TRY(access, S3Access::prepare(state->s3, *state->io, state->verbosity));
      state->access = std::move(access);
    }
    IR_TRY(client, state->access->client());
    std::vector<custody::UploadItem> items;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      items.push_back({paths[i], custody::object_key(location, paths[i]), i == 0 ? custody::statement_digest(paths[i]) : ""});
    }
    custody::UploadOptions options;
    options.lock = object_lock;
    const auto report = client->upload(location, items, options);
    json out = json::array();
    for (const auto& o : report.objects) out.push_back(custody::outcome_json(o));
    if (report.cancelled) return fail(Errc::cancelled, "upload interrupted");
    return out;
  };
  return hooks;
}

int combine_exit(int code, util::Outcome after_seal) {
  if (code != k_exit_ok && code != k_exit_partial) return code;
  if (after_seal == util::Outcome::interrupted) return k_exit_interrupted;
  if (after_seal == util::Outcome::partial || after_seal == util::Outcome::failed) return k_exit_partial;
  return code;
}

}  // namespace ir::cli
