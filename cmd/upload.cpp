#include "cmd/upload.hpp"

#include <sys/stat.h>

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cmd/errors.hpp"
#include "custody/s3.hpp"
#include "custody/sign.hpp"
#include "custody/signed_files.hpp"
#include "util/clock.hpp"
#include "util/escape.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
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
  CLI::App* app = add_command(
      root, "upload", "Upload evidence bundles to S3-compatible storage, write-once",
      {
          "kubectl ir upload case.tar.gz s3://evidence/cases/ --lock-mode compliance --retain-until 1y",
          "kubectl ir upload case.tar.gz s3://evidence --s3-endpoint https://minio.local:9000 --s3-ca ca.pem",
          "AWS_PROFILE=ir kubectl ir upload a.tar.gz b.tar.gz s3://evidence/2026/ --legal-hold -o json",
          "kubectl ir upload case.tar.gz --upload-url \"$PRESIGNED_PUT_URL\"",
      },
      "Each BUNDLE goes to s3://BUCKET/PREFIX/<file name>, with BUNDLE.sig and BUNDLE.intoto.jsonl (from\n"
      "kubectl ir sign) beside it when they exist. A bundle up to --multipart-threshold goes in one PUT\n"
      "signed with SigV4 over its SHA-256; larger ones go in parts streamed from the file, each checked by\n"
      "the server against its Content-MD5 and x-amz-checksum-sha256 (hashed while the previous part is\n"
      "sent), retried on failure; an interrupted upload is resumed by running the same command again.\n"
      "--lock-mode/--retain-until/--legal-hold store the objects under S3 Object Lock: a bucket without it\n"
      "refuses, and each lock is read back after the upload. Credentials: AWS_ACCESS_KEY_ID/\n"
      "AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, or AWS_PROFILE\n"
      "in ~/.aws/credentials and ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE).\n"
      "Exit 0 when every object is in the bucket, 3 when only some are, 1 when none, 130 when interrupted.");
  app->add_option("args", o->args, "BUNDLE... then s3://BUCKET/PREFIX")->required();
  app->add_option("--upload-url", o->upload_urls, "A presigned PUT URL, one per file in order (no credentials needed)");
  add_s3_flags(*app, o->s3);
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
    if (!loc) return exit_with(io, loc.error(), k_exit_usage);
    location = *loc;
    bundles.pop_back();
  }
  std::vector<custody::UploadItem> items;
  for (const auto& b : bundles) {
    if (!file_exists(b))
      return exit_with(io, Error(Errc::usage, "upload: " + util::esc(b, util::Cap::path) + ": no such file"));
    items.push_back({b, location ? custody::object_key(*location, b) : std::string(), custody::statement_digest(b)});
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
    return exit_with(
        io, Error(Errc::usage, "--part-size " + util::esc(options.part_size, util::Cap::word) + ": give 8Mi to 64Mi"));
  }
  if (!threshold) {
    return exit_with(
        io, Error(Errc::usage,
                  "--multipart-threshold " + util::esc(options.multipart_threshold, util::Cap::word) + ": not a size"));
  }
  auto lock = lock_of(options.s3, clock.now());
  if (!lock) return exit_with(io, lock.error(), k_exit_usage);
  auto access = S3Access::prepare(options.s3, io, verbosity);
  if (!access) return exit_with(io, access.error(), k_exit_usage);
  S3Access& s3 = **access;

  std::vector<custody::ObjectOutcome> outcomes;
  bool cancelled = false;
  if (!options.upload_urls.empty()) {
    // Presigned URLs: one per file, in order. The lock, if any, is whatever the URL was signed with.
    if (options.upload_urls.size() != items.size()) {
      std::string names;
      for (const auto& i : items) names += (names.empty() ? "" : ", ") + i.path;
      print_error(
          io, Error(Errc::usage, fmt::format("upload: {} --upload-url for {} file(s) ({})", options.upload_urls.size(),
                                             items.size(), util::esc(names, util::Cap::path)))
                  .with_hint("give one presigned URL per file, in that order (or --no-signatures)"));
      return k_exit_usage;
    }
    if (lock->requested()) {
      print_warning(
          io,
          "--lock-mode/--retain-until/--legal-hold are ignored with --upload-url: the URL's signer decides the lock");
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto r = custody::upload_presigned(s3.transport(), options.upload_urls[i], items[i], s3.cancel(), s3.trace());
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
    auto client = s3.client();
    if (!client) return exit_with(io, client.error().context("upload"));
    custody::UploadOptions upload;
    upload.lock = *lock;
    upload.part_size = *part_size;
    upload.multipart_threshold = *threshold;
    auto report = (*client)->upload(*location, items, upload);
    outcomes = std::move(report.objects);
    cancelled = report.cancelled;
  }

  if (json) {
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& o : outcomes) objects.push_back(custody::outcome_json(o));
    io.out << nlohmann::json({{"objects", objects}, {"interrupted", cancelled}})
                  .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
           << "\n";
  } else {
    for (const auto& o : outcomes) print_outcome(io.out, o);
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
