B=17d57b68a209d90882abb4386efc04fc
M=4096
F=1024
RL=no
command -v readlink >/dev/null 2>&1 && RL=yes
P=
n=0
c=no
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  case $p in ''|*[!0-9]*) continue;; esac
  [ -d "$d" ] || continue
  if [ "$n" -ge "$M" ]; then c=yes; break; fi
  n=$((n+1))
  P="$P $p"
done
echo; echo "$B begin 1 max=$M listed=$n capped=$c readlink=$RL"
echo; echo "$B pids$P"
w=0
for p in $P; do
  d=/proc/$p
  w=$((w+1))
  echo; echo "$B pid $p"
  for s in stat status cmdline; do
    echo; echo "$B $s"; cat "$d/$s"; r=$?; echo; echo "$B rc $r"
  done
  if [ "$RL" = yes ]; then
    echo; echo "$B exe"; readlink "$d/exe"; r=$?; echo; echo "$B rc $r"
  else
    echo; echo "$B exe unavailable"; echo; echo "$B rc 127"
  fi
  echo; echo "$B cwd"; (cd -P "$d/cwd" && pwd -P); r=$?; echo; echo "$B rc $r"
  if [ "$RL" = yes ]; then
    echo; echo "$B fds"; r=0; k=0
    for f in "$d"/fd/*; do
      if [ "$k" -ge "$F" ]; then r=truncated; break; fi
      k=$((k+1))
      t=$(readlink "$f" 2>/dev/null) || continue
      case $t in 'socket:['*']') echo "${f##*/} $t";; esac
    done
    echo; echo "$B rc $r"
  else
    echo; echo "$B fds unavailable"; echo; echo "$B rc 127"
  fi
done
echo; echo "$B end $w"
