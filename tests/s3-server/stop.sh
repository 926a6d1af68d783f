#!/usr/bin/env bash
# Stops what start.sh DIR started (radosgw, the OSD, the monitor) and removes DIR.
set -uo pipefail
dir=$(realpath -m "${1:?usage: stop.sh DIR}")
for name in client.rgw osd.0 mon.a; do
  pidfile="$dir/run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  # Only a process started from this directory's configuration.
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$dir/ceph.conf"; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null
  fi
done
rm -rf "$dir"
