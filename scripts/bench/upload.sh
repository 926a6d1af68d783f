#!/usr/bin/env bash
# Benchmark (issue 18: custody): upload of a BYTES bundle to a local radosgw (tests/s3-server) with
#   kubectl ir upload FILE s3://bench/ir-N --s3-endpoint ...        (SigV4 over each part's SHA-256,
#                                                                    x-amz-checksum-sha256, multipart)
# and with the floor, curl doing one streamed PUT without hashing anything:
#   curl -T FILE --aws-sigv4 aws:amz:us-east-1:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' ...
# alternating for ROUNDS rounds (each object deleted after its round, to keep the in-memory OSD
# small); prints the median throughput of each, their ratio, and kubectl-ir's peak RSS. Asserts
# nothing. Needs root and the packages scripts/setup-deps.sh installs.
#   scripts/bench/upload.sh [BYTES] [ROUNDS]     default 1073741824 3
set -euo pipefail
cd "$(dirname "$0")/../.."
bytes=${1:-1073741824}
rounds=${2:-3}
cmake --preset release >/dev/null && cmake --build --preset release --target kubectl-ir >/dev/null
ir=$PWD/build/release/cmd/kubectl-ir

dir=$(mktemp -d)
trap 'tests/s3-server/stop.sh "$dir/s3" >/dev/null 2>&1; rm -rf "$dir"' EXIT
tests/s3-server/start.sh "$dir/s3"
endpoint=$(jq -r .endpoint "$dir/s3/s3.json")
key=$(jq -r .users.tester.access_key "$dir/s3/s3.json")
secret=$(jq -r .users.tester.secret_key "$dir/s3/s3.json")
head -c "$bytes" /dev/urandom > "$dir/bundle.tar.gz"

s3curl() { curl -sS --fail --aws-sigv4 aws:amz:us-east-1:s3 --user "$key:$secret" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
s3curl -X PUT "$endpoint/bench" -o /dev/null
export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1
unset AWS_CA_BUNDLE AWS_PROFILE

m=scripts/bench/measure.py
ir_runs=()
curl_runs=()
for ((i = 0; i < rounds; i++)); do
  ir_runs+=("$($m -- "$ir" upload "$dir/bundle.tar.gz" "s3://bench/ir-$i/" --s3-endpoint "$endpoint")")
  s3curl -X DELETE "$endpoint/bench/ir-$i/bundle.tar.gz" -o /dev/null
  curl_runs+=("$($m -- curl -sS --fail -T "$dir/bundle.tar.gz" --aws-sigv4 aws:amz:us-east-1:s3 --user "$key:$secret" \
               -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$endpoint/bench/curl-$i")")
  s3curl -X DELETE "$endpoint/bench/curl-$i" -o /dev/null
done

scripts/bench/throughput.py "$bytes" ", radosgw (memstore) on this machine" "kubectl-ir upload: " "$(printf '%s\n' "${ir_runs[@]}")" \
  "curl -T (floor):   " "$(printf '%s\n' "${curl_runs[@]}")" "throughput ratio kubectl-ir/curl = {ratio}  (goal >= 0.9, RSS <= 64 MiB)"
