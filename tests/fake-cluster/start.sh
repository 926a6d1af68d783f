#!/bin/sh
# start.sh DIR [--scenario NAME|scale:N|PATH] [--k8s-version 1.32|1.26]
# Starts the fake API server in the background (TLS on 127.0.0.1, a free port), waits until /readyz
# answers and prints DIR/kubeconfig. Idempotent: a server already running from DIR is left alone.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 DIR [--scenario NAME|scale:N|PATH] [--k8s-version 1.32|1.26]" >&2; exit 2; }
dir=$1; shift
scenario=demo; version=1.32; port=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario=$2; shift 2 ;;
    --scenario=*) scenario=${1#*=}; shift ;;
    --k8s-version) version=$2; shift 2 ;;
    --k8s-version=*) version=${1#*=}; shift ;;
    --port) port=$2; shift 2 ;;
    *) echo "start.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case "$scenario" in
  demo|hostile|scale:*|/*) ;;
  *) [ -f "$scenario" ] && scenario=$(cd "$(dirname "$scenario")" && pwd)/$(basename "$scenario") ;;
esac

alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
if [ -f "$dir/pid" ] && alive "$(cat "$dir/pid")" && [ -f "$dir/kubeconfig" ]; then
  echo "$dir/kubeconfig"
  exit 0
fi

# Certificates (EC P-256, fast): CA, server (SAN 127.0.0.1, localhost), client CN=cert-user O=system:masters.
if [ ! -f "$dir/client.crt" ]; then
  (
    cd "$dir"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -subj "/CN=fake-cluster-ca" -days 3650 -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
    openssl req -new -key server.key -subj "/CN=kube-apiserver" -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out client.key.ec 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in client.key.ec -out client.key 2>/dev/null
    rm -f client.key.ec
    openssl req -new -key client.key -subj "/O=system:masters/CN=cert-user" -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' > client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out client.crt 2>/dev/null
    rm -f server.csr client.csr server.ext client.ext ca.srl
    chmod 600 ca.key server.key client.key
  )
fi

rm -f "$dir/kubeconfig" "$dir/port"
: > "$dir/exec-plugin.calls"
cd "$here"
setsid /usr/bin/python3 -m fakecluster serve --dir "$dir" --scenario "$scenario" --k8s-version "$version" \
  --port "$port" >>"$dir/server.log" 2>&1 < /dev/null &
echo $! > "$dir/pid"

# Wait for the kubeconfig (port bound), then /readyz.
i=0
while :; do
  if ! alive "$(cat "$dir/pid")"; then
    echo "start.sh: server exited; see $dir/server.log" >&2
    tail -n 20 "$dir/server.log" >&2
    exit 1
  fi
  if [ -f "$dir/port" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" "https://127.0.0.1:$(cat "$dir/port")/readyz" || true)
    [ "$code" = 200 ] && break
  fi
  i=$((i + 1))
  [ $i -lt 1200 ] || { echo "start.sh: server not ready after 120s; see $dir/server.log" >&2; exit 1; }
  sleep 0.1
done
echo "$dir/kubeconfig"
