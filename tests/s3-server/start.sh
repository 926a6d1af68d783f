#!/usr/bin/env bash
# Starts a single-node Ceph object gateway (radosgw) for kubectl-ir's S3 tests and benchmark, in
# DIR, listening on 127.0.0.1 only: one monitor, one OSD on memstore (objects live in memory, so
# nothing touches the disk and stop.sh frees everything), radosgw with an http and an https
# endpoint (a CA of its own, written to DIR/ca.pem). It verifies SigV4, versioning, multipart
# uploads and Object Lock, as AWS S3 does.
#
# Usage: start.sh DIR     (needs the packages scripts/setup-deps.sh installs: radosgw, ceph-mon,
#                          ceph-osd, ceph-common)
# Writes DIR/s3.json: {"endpoint", "https_endpoint", "ca", "region", "users": {"tester": {...},
# "other": {...}}}. Stop it with stop.sh DIR.
set -euo pipefail
dir=$(realpath -m "${1:?usage: start.sh DIR}")
mkdir -p "$dir"/{run,log,mon/mon.a,osd/osd.0}
trap 'echo "start.sh: failed at line $LINENO: $BASH_COMMAND" >&2; tail -n 15 "$dir"/log/*.log "$dir"/log/*.err >&2 2>/dev/null' ERR
started=$(date +%s%N)

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mon_port=$(free_port)
http_port=$(free_port)
https_port=$(free_port)
fsid=$(cat /proc/sys/kernel/random/uuid)

# A CA and a server certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=kubectl-ir test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.localhost\n' > "$dir/san.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
  -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null

cat > "$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms bind ipv6 = false
ms bind msgr2 = false
public addr = 127.0.0.1
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 8589934592
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
mon data = $dir/mon/\$name
osd data = $dir/osd/\$name
keyring = $dir/keyring
mon data avail warn = 1
mon data avail crit = 0
# radosgw creates its pools at start-up, each a monitor map change that waits for the next Paxos
# proposal (1 s apart by default): proposing at once halves the start (15 s -> 6 s on 2 cores).
paxos propose interval = 0.05
paxos min wait = 0.01
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$http_port ssl_endpoint=127.0.0.1:$https_port ssl_certificate=$dir/server.pem ssl_private_key=$dir/server.key
rgw dns name = localhost
rgw enable usage log = false
# STS on: a request with a session token is authenticated by the token (decrypted with this key),
# so a forged or expired token is refused as on AWS instead of being ignored for a plain user.
rgw s3 auth use sts = true
rgw sts key = $(od -An -tx1 -N 8 /dev/urandom | tr -d ' \n')
[client.admin]
admin socket =
log file = $dir/log/admin.log
CONF
conf=(-c "$dir/ceph.conf")
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --add a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon "${conf[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
ceph-mon "${conf[@]}" -i a
# The monitor takes a moment to load its map: until then it answers commands with the null fsid,
# and an OSD registering then is refused ("wrong fsid"). Wait until it reports its own fsid.
for _ in $(seq 1 120); do
  [ "$(ceph "${conf[@]}" --connect-timeout 5 fsid 2>/dev/null)" = "$fsid" ] && break
  sleep 0.25
done
# The OSD's uuid given to both the monitor and mkfs: otherwise the OSD registers a random one at
# boot, which the monitor now and then refuses ("wrong fsid") for the id created without one.
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
# The monitor answers commands a moment after it starts ("problem getting command descriptions from
# mon", EPERM, on a busy machine): ask again rather than fail the whole start.
osd_id=
for _ in $(seq 1 80); do
  osd_id=$(ceph "${conf[@]}" --connect-timeout 5 osd create "$osd_uuid" 2>>"$dir/log/osd-create.err") && break
  sleep 0.25
done
if [ -z "$osd_id" ]; then
  echo "start.sh: the monitor did not accept 'osd create' (logs in $dir/log)" >&2
  exit 1
fi
ceph-osd "${conf[@]}" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" 2>"$dir/log/osd-mkfs.err"
started_osd=
for _ in $(seq 1 10); do  # still refused now and then on a busy machine: the start is retried
  ceph-osd "${conf[@]}" -i "$osd_id" 2>>"$dir/log/osd-start.err" && { started_osd=1; break; }
  sleep 0.5
done
if [ -z "$started_osd" ]; then
  echo "start.sh: ceph-osd did not start (logs in $dir/log)" >&2
  exit 1
fi
radosgw "${conf[@]}" -n client.rgw

for _ in $(seq 1 240); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/" || true)
  [ "$code" = 200 ] && break
  sleep 0.25
done
if [ "$code" != 200 ]; then
  echo "start.sh: radosgw did not answer on 127.0.0.1:$http_port (logs in $dir/log)" >&2
  exit 1
fi

user() {  # uid access secret
  radosgw-admin "${conf[@]}" -n client.admin user create --uid "$1" --display-name "$1" --access-key "$2" --secret "$3" >/dev/null
}
rand() { local hex; hex=$(od -An -tx1 -N 32 /dev/urandom | tr -d ' \n'); echo "${hex:0:$1}"; }
tester_key="IRTEST$(rand 14)"; tester_key=${tester_key^^}; tester_secret=$(rand 40)
other_key="IROTHER$(rand 13)"; other_key=${other_key^^}; other_secret=$(rand 40)
user tester "$tester_key" "$tester_secret"
user other "$other_key" "$other_secret"

cat > "$dir/s3.json" <<JSON
{"endpoint": "http://127.0.0.1:$http_port", "https_endpoint": "https://127.0.0.1:$https_port",
 "ca": "$dir/ca.pem", "region": "us-east-1",
 "users": {"tester": {"access_key": "$tester_key", "secret_key": "$tester_secret"},
           "other": {"access_key": "$other_key", "secret_key": "$other_secret"}}}
JSON
echo "s3-server: radosgw on http://127.0.0.1:$http_port and https://127.0.0.1:$https_port, started in $(( ($(date +%s%N) - started) / 1000000 )) ms ($dir/s3.json)" >&2
