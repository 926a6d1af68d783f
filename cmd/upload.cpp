#include "cmd/upload.hpp"

#include <sys/stat.h>

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cmd/errors.hpp"
#include "custody/credentials.hpp"
#include "custody/s3.hpp"
#include "custody/sign.hpp"
#include "kube/curl_transport.hpp"
#include "util/clock.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

std::string esc(const std::string& s) {
  return util::escape_for_terminal(s, 512);
}

std::string env(Io& io, const char* name) {
  if (!io.getenv) return {};
  return io.getenv(name).value_or("");
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The digest a bundle's statement names (not verified here: it is only the value the upload must
// match, so a statement that lies makes the upload fail, never pass).
std::string statement_digest(const std::string& bundle) {
  auto text = util::read_file(custody::statement_path(bundle), 16 * 1024 * 1024);
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

nlohmann::json to_json(const custody::ObjectOutcome& o) {
  nlohmann::json j = {{"path", o.path},
                      {"url", o.url},
                      {"state", custody::to_string(o.state)},
                      {"size", o.size},
                      {"sha256", o.sha256_hex},
                      {"checksum_sha256", o.checksum_sha256},
                      {"etag", o.etag},
                      {"version_id", o.version_id},
                      {"already_there", o.already_there}};
  if (!o.upload_id.empty()) {
    j["multipart"] = {{"upload_id", o.upload_id},
                      {"parts", o.parts},
                      {"parts_in_bucket", o.parts_in_bucket},
                      {"parts_reused", o.parts_reused}};
  }
  if (!o.lock_mode.empty() || !o.legal_hold.empty()) {
    j["lock"] = {{"mode", o.lock_mode}, {"retain_until", o.retain_until}, {"legal_hold", o.legal_hold}};
  }
  if (o.state != custody::ObjectState::uploaded) j["error"] = o.error.message;
  return j;
}

void print_outcome(Io& io, const custody::ObjectOutcome& o) {
  io.out << esc(o.url) << ": " << custody::to_string(o.state);
  if (o.already_there) io.out << " (already there: nothing sent)";
  io.out << "\n";
  if (o.state == custody::ObjectState::uploaded || o.state == custody::ObjectState::unprotected) {
    io.out << "  version:  " << (o.version_id.empty() ? "(the bucket is not versioned)" : esc(o.version_id)) << "\n";
    io.out << "  etag:     " << esc(o.etag) << "\n";
    io.out << "  sha256:   " << o.sha256_hex << "\n";
    if (!o.checksum_sha256.empty()) {
      io.out << "  checksum: " << esc(o.checksum_sha256) << " (x-amz-checksum-sha256"
             << (o.parts > 0 ? fmt::format(", of {} part checksums", o.parts) : "") << ")\n";
    }
    if (o.parts_reused > 0)
      io.out << fmt::format("  resumed:  {} of {} parts were already in the bucket\n", o.parts_reused, o.parts);
    if (const auto lock = lock_text(o); !lock.empty()) io.out << "  lock:     " << esc(lock) << "\n";
  } else if (o.state == custody::ObjectState::left_for_resume) {
    io.out << fmt::format(
        "  multipart upload {}: {} of {} parts in the bucket; run the same command again to resume it\n",
        esc(o.upload_id), o.parts_in_bucket, o.parts);
  }
}

Result<custody::ObjectLock> lock_of(const UploadOptions& options, util::TimePoint now) {
  custody::ObjectLock lock;
  if (options.legal_hold) lock.legal_hold = custody::LegalHold::on;
  if (options.lock_mode.empty() != options.retain_until.empty()) {
    return fail(Errc::usage, "--lock-mode and --retain-until go together (a retention needs a mode and a date)");
  }
  if (!options.lock_mode.empty()) {
    lock.mode = options.lock_mode == "compliance" ? custody::LockMode::compliance : custody::LockMode::governance;
    IR_TRY(until, custody::parse_retain_until(options.retain_until, now));
    lock.retain_until = until;
  }
  return lock;
}

int exit_for(const std::vector<custody::ObjectOutcome>& objects, bool cancelled) {
  if (cancelled) return k_exit_interrupted;
  std::size_t done = 0;
  for (const auto& o : objects)
    if (o.state == custody::ObjectState::uploaded) ++done;
  if (done == objects.size()) return k_exit_ok;
  return done == 0 ? k_exit_failure : k_exit_partial;
}

}  // namespace

Command setup_upload(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<UploadOptions>();
  CLI::App* app = root.add_subcommand("upload", "Upload evidence bundles to S3-compatible storage, write-once");
  app->footer(
      "Examples:\n"
      "  kubectl ir upload case.tar.gz s3://evidence/cases/ --lock-mode compliance --retain-until 1y\n"
      "  kubectl ir upload case.tar.gz s3://evidence --s3-endpoint https://minio.local:9000 --s3-ca ca.pem\n"
      "  AWS_PROFILE=ir kubectl ir upload a.tar.gz b.tar.gz s3://evidence/2026/ --legal-hold -o json\n"
      "  kubectl ir upload case.tar.gz --upload-url \"$PRESIGNED_PUT_URL\"\n"
      "\nEach BUNDLE goes to s3://BUCKET/PREFIX/<file name>, with BUNDLE.sig and BUNDLE.intoto.jsonl (from\n"
      "kubectl ir sign) beside it when they exist. Requests are signed with SigV4 over the body's SHA-256\n"
      "and carry x-amz-checksum-sha256; bundles above --multipart-threshold go in parts, each with its own\n"
      "checksum, retried on failure; an interrupted upload is resumed by running the same command again.\n"
      "--lock-mode/--retain-until/--legal-hold store the objects under S3 Object Lock: a bucket without it\n"
      "refuses, and each lock is read back after the upload. Credentials: AWS_ACCESS_KEY_ID/\n"
      "AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, or AWS_PROFILE\n"
      "in ~/.aws/credentials and ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE).\n"
      "Exit 0 when every object is in the bucket, 3 when only some are, 1 when none, 130 when interrupted.");
  app->add_option("args", o->args, "BUNDLE... then s3://BUCKET/PREFIX")->required();
  app->add_option("--upload-url", o->upload_urls, "A presigned PUT URL, one per file in order (no credentials needed)");
  app->add_option("--s3-endpoint", o->endpoint,
                  "S3 endpoint URL (default AWS_ENDPOINT_URL_S3, else AWS's for the region)");
  app->add_option("--s3-region", o->region, "Region for signing (default AWS_REGION, the profile's, else us-east-1)");
  app->add_flag("--s3-path-style", o->path_style,
                "Path-style URLs (endpoint/bucket/key); default: path-style for an endpoint with an IP or a port");
  app->add_option("--s3-ca", o->ca_file,
                  "PEM CA bundle to verify the endpoint's certificate (default AWS_CA_BUNDLE, else the system's)");
  app->add_option("--lock-mode", o->lock_mode, "Object Lock retention mode: governance or compliance")
      ->check(CLI::IsMember({"governance", "compliance"}));
  app->add_option("--retain-until", o->retain_until,
                  "Retain until DATE (2027-01-31, RFC 3339) or for DURATION (90d, 1y)");
  app->add_flag("--legal-hold", o->legal_hold, "Put the objects under legal hold");
  app->add_flag("--no-signatures", o->no_signatures, "Upload the bundles only, not their .sig and .intoto.jsonl");
  app->add_option("--part-size", o->part_size, "Multipart part size, 8Mi to 64Mi (default 16Mi)");
  app->add_option("--multipart-threshold", o->multipart_threshold, "Files larger than this go in parts (default 64Mi)");
  app->add_option("-o,--output", o->output, "Output format: json")->check(CLI::IsMember({"json"}));
  return {app, [o, &global](Io& io) { return run_upload(*o, global.kube.verbosity, io); }};
}

int run_upload(const UploadOptions& options, int verbosity, Io& io) {
  const bool json = options.output == "json";
  // complete: files, destination, sizes, lock
  std::vector<std::string> bundles = options.args;
  std::optional<custody::S3Location> location;
  if (options.upload_urls.empty()) {
    if (bundles.size() < 2) {
      print_error(io, Error(Errc::usage, "upload: give the bundles, then the destination s3://BUCKET/PREFIX")
                          .with_hint("or a presigned URL with --upload-url"));
      return k_exit_usage;
    }
    auto loc = custody::parse_s3_url(bundles.back());
    if (!loc) {
      print_error(io, loc.error());
      return k_exit_usage;
    }
    location = *loc;
    bundles.pop_back();
  }
  std::vector<custody::UploadItem> items;
  for (const auto& b : bundles) {
    if (!file_exists(b)) {
      print_error(io, Error(Errc::usage, "upload: " + esc(b) + ": no such file"));
      return k_exit_usage;
    }
    items.push_back({b, location ? custody::object_key(*location, b) : std::string(), statement_digest(b)});
    if (options.no_signatures) continue;
    for (const auto& extra : {custody::signature_path(b), custody::statement_path(b)}) {
      if (file_exists(extra))
        items.push_back({extra, location ? custody::object_key(*location, extra) : std::string(), ""});
    }
  }
  util::RealClock clock;
  const auto part_size = util::parse_byte_size(options.part_size);
  const auto threshold = util::parse_byte_size(options.multipart_threshold);
  if (!part_size || *part_size < 8ULL * 1024 * 1024 || *part_size > 64ULL * 1024 * 1024) {
    print_error(io, Error(Errc::usage, "--part-size " + esc(options.part_size) + ": give 8Mi to 64Mi"));
    return k_exit_usage;
  }
  if (!threshold) {
    print_error(io, Error(Errc::usage, "--multipart-threshold " + esc(options.multipart_threshold) + ": not a size"));
    return k_exit_usage;
  }
  auto lock = lock_of(options, clock.now());
  if (!lock) {
    print_error(io, lock.error());
    return k_exit_usage;
  }
  kube::TlsOptions tls;
  const std::string ca_file = options.ca_file.empty() ? env(io, "AWS_CA_BUNDLE") : options.ca_file;
  if (!ca_file.empty()) {
    auto ca = util::read_file(ca_file, 4 * 1024 * 1024);
    if (!ca) {
      print_error(io, ca.error().context("--s3-ca"));
      return k_exit_usage;
    }
    tls.ca_pem = *ca;
  }
  custody::Trace trace;
  if (verbosity >= 6)
    trace = [&io](const std::string& line) { io.err << "kubectl-ir: " << util::escape_for_terminal(line) << "\n"; };
  kube::CurlTransport transport(tls, io.cancel);

  std::vector<custody::ObjectOutcome> outcomes;
  bool cancelled = false;
  if (!options.upload_urls.empty()) {
    // Presigned URLs: one per file, in order. The lock, if any, is whatever the URL was signed with.
    if (options.upload_urls.size() != items.size()) {
      std::string names;
      for (const auto& i : items) names += (names.empty() ? "" : ", ") + i.path;
      print_error(io, Error(Errc::usage, fmt::format("upload: {} --upload-url for {} file(s) ({})",
                                                     options.upload_urls.size(), items.size(), esc(names)))
                          .with_hint("give one presigned URL per file, in that order (or --no-signatures)"));
      return k_exit_usage;
    }
    if (lock->requested()) {
      print_warning(
          io,
          "--lock-mode/--retain-until/--legal-hold are ignored with --upload-url: the URL's signer decides the lock");
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto r = custody::upload_presigned(transport, options.upload_urls[i], items[i], io.cancel, trace);
      if (r) {
        outcomes.push_back(*r);
        continue;
      }
      custody::ObjectOutcome failed;
      failed.path = items[i].path;
      failed.url = custody::redact_url(options.upload_urls[i]);
      failed.state = custody::ObjectState::failed;
      failed.error = r.error();
      outcomes.push_back(failed);
      if (r.error().code == Errc::cancelled) {
        cancelled = true;
        break;
      }
    }
  } else {
    std::string region = options.region;
    custody::CredentialInputs inputs = credential_inputs(io, region);
    if (region.empty()) region = env(io, "AWS_REGION");
    if (region.empty()) region = env(io, "AWS_DEFAULT_REGION");
    if (region.empty()) {
      if (auto profile = custody::profile_config(inputs); profile && profile->count("region") != 0)
        region = profile->at("region");
    }
    if (region.empty()) region = "us-east-1";
    inputs.region = region;
    auto credentials = custody::resolve_credentials(inputs, transport, clock);
    if (!credentials) {
      print_error(io, credentials.error().context("upload"));
      return exit_code_for(credentials.error());
    }
    if (trace) trace("S3 credentials: " + credentials->source + ", access key id " + credentials->access_key_id);
    custody::S3Config config;
    config.endpoint = options.endpoint.empty() ? env(io, "AWS_ENDPOINT_URL_S3") : options.endpoint;
    if (config.endpoint.empty()) config.endpoint = env(io, "AWS_ENDPOINT_URL");
    config.region = region;
    config.addressing = options.path_style ? custody::Addressing::path : custody::Addressing::automatic;
    custody::S3Client client(transport, config, *credentials, clock, io.cancel, trace);
    custody::UploadOptions upload;
    upload.lock = *lock;
    upload.part_size = *part_size;
    upload.multipart_threshold = *threshold;
    auto report = client.upload(*location, items, upload);
    outcomes = std::move(report.objects);
    cancelled = report.cancelled;
  }

  if (json) {
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& o : outcomes) objects.push_back(to_json(o));
    io.out << nlohmann::json({{"objects", objects}, {"interrupted", cancelled}})
                  .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
           << "\n";
  } else {
    for (const auto& o : outcomes) print_outcome(io, o);
  }
  for (const auto& o : outcomes) {
    if (o.state == custody::ObjectState::uploaded) continue;
    if (o.state == custody::ObjectState::not_attempted && cancelled) continue;
    if (o.error.code == Errc::cancelled) continue;
    print_error(io, o.error.message.empty()
                        ? Error(Errc::failure, o.url + ": " + std::string(custody::to_string(o.state)))
                        : o.error);
  }
  if (cancelled) {
    std::size_t done = 0;
    for (const auto& o : outcomes)
      if (o.state == custody::ObjectState::uploaded) ++done;
    print_error(
        io, Error(Errc::cancelled, fmt::format("upload interrupted: {} of {} object(s) in the bucket; the local files "
                                               "are untouched",
                                               done, items.size()))
                .with_hint("run the same command again: complete objects are recognised, a multipart upload resumes"));
  }
  return exit_for(outcomes, cancelled);
}

}  // namespace ir::cli
