#!/usr/bin/env bash
# Regenerates the captured listings that tests/unit/forensics/fslist_test.cpp parses: a tree of
# hostile names under /tmp/fslist-sample/root, listed by GNU find and by busybox find + stat with
# the argv of fslist::listing_command (boundary FSLISTSAMPLEBOUNDARY0001). Run as any user with
# GNU findutils and busybox installed; the owner is normalised in the test (uid/gid vary).
#   tests/testdata/fslist/make_samples.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=/tmp/fslist-sample
B=FSLISTSAMPLEBOUNDARY0001
rm -rf "$top"
mkdir -p "$top/root" "$top/bin"
cd "$top/root"
printf 'hello' > plain
printf '' > empty
touch $'new\nline' $'esc\x1b[31mred' "quo'te" 'a -> b' "x' -> 'y" $'bad\xff\xfeutf' -- '-leading' '...' $'back\\slash'
printf 'suid' > suid && chmod 4755 suid
printf 'sgid' > sgid && chmod 2710 sgid
mkdir sub && chmod 1777 sub
touch sub/inner
ln -s plain link
ln -s ../../etc/shadow up
ln -s "t' -> 'u" $'weird\nlink'
ln -s $'tgt\nwith\nnl' nllink
mkfifo fifo
touch -h -d @1700000000 -- * ... sub/inner
touch -d @-315619200 empty
touch -h -d @1700000000 sub .
ln -sf "$(command -v busybox)" "$top/bin/find"
ln -sf "$(command -v busybox)" "$top/bin/stat"
/usr/bin/find "$top/root/" -xdev -printf '%y %m %U %G %s %T@\0%p\0%l\0' > "$here/gnu_find.out"
PATH="$top/bin" find "$top/root/" -xdev -exec stat -c "
$B e %f %u %g %s %Y
%n
$B l
%N" {} + > "$here/busybox_stat.out"
echo "wrote $here/gnu_find.out $here/busybox_stat.out"
