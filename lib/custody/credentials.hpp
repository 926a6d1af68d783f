#pragma once
// AWS credentials found as the AWS CLI finds them, from values the CLI layer gathers (lib/ never
// reads the environment):
//   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//   2. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (or the profile's role_arn +
//      web_identity_token_file), exchanged at STS with AssumeRoleWithWebIdentity (unsigned; the
//      STS endpoint is https://sts.<region>.amazonaws.com unless overridden);
//   3. the profile (AWS_PROFILE, else "default") in the shared credentials file
//      (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials: sections "[name]");
//   4. the same profile in the config file (AWS_CONFIG_FILE, else ~/.aws/config: "[profile name]",
//      and "[default]").
// Not supported (an explicit error naming it, never a silent fallback to the next source): a
// profile that assumes a role from a source_profile, credential_process, SSO, and the instance
// metadata service.

#include <map>
#include <string>

#include "custody/sigv4.hpp"
#include "kube/transport.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ir::custody {

// What the CLI found. Empty strings mean "not set".
struct CredentialInputs {
  std::string access_key_id;            // AWS_ACCESS_KEY_ID
  std::string secret_access_key;        // AWS_SECRET_ACCESS_KEY
  std::string session_token;            // AWS_SESSION_TOKEN
  std::string profile;                  // AWS_PROFILE ("" = "default")
  std::string credentials_file;         // resolved path of the shared credentials file
  std::string config_file;              // resolved path of the config file
  std::string role_arn;                 // AWS_ROLE_ARN
  std::string web_identity_token_file;  // AWS_WEB_IDENTITY_TOKEN_FILE
  std::string role_session_name;        // AWS_ROLE_SESSION_NAME ("" = "kubectl-ir-<time>")
  std::string sts_endpoint;             // AWS_ENDPOINT_URL_STS or a flag ("" = regional AWS endpoint)
  std::string region;                   // for the STS endpoint; "" = us-east-1
};

// An INI file as the AWS CLI reads it: section name -> key -> value (keys lower-cased; values
// trimmed; '#' and ';' comment lines; nested "key =\n  sub = v" blocks are skipped).
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile parse_ini(std::string_view text);

// The settings of `profile` from the config file (its "[profile name]" section, or "[default]"),
// or empty when the file or section is absent. Fails only when the file exists but cannot be read
// (Errc::io).
Result<std::map<std::string, std::string>> profile_config(const CredentialInputs& inputs);

// Resolves credentials in the order above. Web identity asks STS through `transport` (the token
// file is read anew each time). Fails with Errc::config when no source has credentials (the
// message lists what was tried), when a source is incomplete (a key id without a secret) or
// unsupported; with STS's error (Errc::forbidden, Errc::invalid ... and STS's code and message)
// when the exchange is refused. No message ever contains a secret, a session token or a web
// identity token.
Result<AwsCredentials> resolve_credentials(const CredentialInputs& inputs, kube::Transport& transport,
                                           util::Clock& clock);

// AssumeRoleWithWebIdentity at `endpoint` ("https://sts.amazonaws.com"): the temporary
// credentials, with their expiration. Fails as resolve_credentials describes.
Result<AwsCredentials> assume_role_with_web_identity(kube::Transport& transport, const std::string& endpoint,
                                                     const std::string& role_arn, const std::string& session_name,
                                                     const std::string& web_identity_token);

}  // namespace ir::custody
