#!/usr/bin/env bash
# Installs what the report's browser tests need, idempotently: Debian's chromium (the tests drive
# /usr/bin/chromium; no browser is ever downloaded) and the pinned playwright-core of
# tests/browser/package-lock.json (npm ci, from the npm registry). Fast when both are there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(chromium fonts-dejavu-core nodejs)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # nodejs may come from another Debian-format source under the same name; npm must exist too.
    missing+=("$p")
  fi
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup-browser: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

lock=tests/browser/package-lock.json
stamp=tests/browser/node_modules/.installed-lock
if [ -f "$stamp" ] && cmp -s "$lock" "$stamp"; then
  echo "setup-browser: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), playwright-core present"
  exit 0
fi
echo "setup-browser: npm ci (tests/browser)"
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
cp "$lock" "$stamp"
echo "setup-browser: done"
