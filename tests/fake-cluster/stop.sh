#!/bin/sh
# stop.sh DIR: stops the server started by start.sh DIR (SIGTERM: the runtime cleans every process,
# mount and namespace), waits for it, SIGKILL after 30 s. Idempotent.
set -u
[ $# -ge 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
[ -f "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
# Alive and not a zombie (an exited server may wait a moment for its adoptive parent to reap it).
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
if alive "$pid"; then
  kill -TERM "$pid" 2>/dev/null
  i=0
  while alive "$pid"; do
    i=$((i + 1))
    if [ $i -ge 300 ]; then
      echo "stop.sh: server $pid did not stop in 30s; killing" >&2
      kill -KILL "$pid" 2>/dev/null
      break
    fi
    sleep 0.1
  done
fi
rm -f "$dir/pid" "$dir/port"
exit 0
