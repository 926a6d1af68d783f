"""The ``hostile`` profile: a container built to break a forensic tool's parsers and terminal.

On a busybox root:
- processes whose comm (the exec'd file's name, or set with prctl) and cmdline carry terminal
  escapes (CSI ``ESC [ 31m``, OSC ``ESC ] 0;title BEL``, clear-screen), newlines, carriage
  returns, ``../`` and bytes that are not UTF-8, and one with a 64 KiB argument;
- files under /tmp with such names, a symlink escaping upwards, a symlink loop, a 255-byte name,
  a name that looks like an option, absurd mtimes, and a multi-GiB sparse file (nothing written);
- a ``ps`` that prints forever (``/bin/ps``);
- a ``tar`` (``/bin/tar``) that ignores its arguments and emits a tar stream whose members have
  absolute and ``../`` names, a hard link to /etc/shadow, a symlink to / with a member through it,
  a device node and a setuid file;
- a malformed ``/proc/net/tcp`` inside the container: bind-mounted over /proc/1/net/tcp in the
  container's mount namespace, and over /proc/self/net/tcp for each exec'd process (so ``cat
  /proc/net/tcp`` exec'd directly sees it; a process forked later by an exec'd shell reads the
  real one through its own /proc/self);
- log lines with terminal escapes, a carriage return, invalid UTF-8 and a 100 KiB line.
"""

from __future__ import annotations

import io
import tarfile

from . import images
from .profiles import COPY_FCAPP, ContainerSpec, FileSpec, ProfileContext

ESC = b"\x1b"
BEL = b"\x07"

RED = ESC + b"[31m"
RESET = ESC + b"[0m"
TITLE = ESC + b"]0;pwned" + BEL          # OSC 0: set the terminal's title
CLEAR = ESC + b"[2J" + ESC + b"[H"       # clear the screen, cursor home
NOT_UTF8 = b"\xff\xfe\xe9\xc3\x28"       # invalid UTF-8 (and Latin-1 looking)

SPARSE_SIZE = 6 * 1024 ** 3

# (file name under /tmp of a copy of fcapp, comm override or None, argv[1:]).
# comm is the file name's first 15 bytes unless overridden (prctl PR_SET_NAME may hold "/").
HOSTILE_PROCESSES: list[tuple[bytes, bytes | None, list[bytes]]] = [
    (RED + b"red" + RESET, None, [b"--color=" + RED + b"always" + RESET]),
    (TITLE, None, [b"--title", TITLE]),
    (b"line1\nline2", None, [b"first\nsecond", b"\r\x1b[Kfake line"]),
    (NOT_UTF8 + b"bin", None, [NOT_UTF8]),
    (b"dotdot", b"../../etc/pass", [b"../../../../etc/passwd", b"/../root"]),
    (b"clear", CLEAR + b"x", [CLEAR]),
    (b"longarg", None, [b"A" * 65536]),
]

_NET_TCP_HEADER = (b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
                   b"   uid  timeout inode                                                     \n")
_NET_TCP_TAIL = b" 00000000:00000000 00:00000000 00000000     0        0 "


def malformed_net_tcp() -> bytes:
    """A /proc/net/tcp that no kernel writes: bad hex, wrong field counts, overlong fields, an
    unknown state, escapes, invalid UTF-8, a huge line, and no final newline."""
    good = b"   0: 00000000:1F90 00000000:0000 0A" + _NET_TCP_TAIL + b"31337 1 0000000000000000 100 0 0 10 0\n"
    lines = [
        _NET_TCP_HEADER,
        good,
        b"   1: 0100007F:ZZZZ 0100007F:0050 01" + _NET_TCP_TAIL + b"1 1 0 20 4 30 10 -1\n",
        b"   2: 0100007F\n",
        b"   3: 0100007F:1F90:0001 076433C6:0D05 01" + _NET_TCP_TAIL + b"2 1 0\n",
        b"   4: FFFFFFFFFFFF:FFFFFF 00000000:0000 0A" + _NET_TCP_TAIL + b"3 1 0\n",
        b"   5: " + RED + b"0100007F:0050" + RESET + b" " + TITLE + b":0D05 01" + _NET_TCP_TAIL + b"4\n",
        b"\n",
        b"  -1: 0100007F:0050 076433C6:0D05 99" + _NET_TCP_TAIL + b"5 1 0\n",
        b"   6: 0100007F:0050 " + NOT_UTF8 + b":0D05 01" + _NET_TCP_TAIL + b"6 1 0\n",
        b"   7: 0100007F:0050 076433C6:0D05 01" + _NET_TCP_TAIL + b"18446744073709551616 1 0\n",
        b"   8: 0100007F:0050 076433C6:0D05 01 " + b"0" * 100_000 + b"\n",
        b"\tgarbage\x00with\x00nul bytes\n",
        b"   9: 0100007F:0050 076433C6:0D05 01" + _NET_TCP_TAIL + b"7 1 0",  # no newline
    ]
    return b"".join(lines)


def evil_tar() -> bytes:
    """A well-formed GNU tar stream whose member names try to escape the extraction dir."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        def add(name: bytes, data: bytes = b"", **attrs) -> None:
            info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            for key, value in attrs.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add(b"tmp/", type=tarfile.DIRTYPE, mode=0o1777)
        add(b"tmp/ok.txt", b"an innocent file\n")
        add(b"/etc/cron.d/evil", b"* * * * * root sh -c 'id > /tmp/pwned'\n")
        add(b"../../../../../../tmp/escaped", b"written outside the extraction dir\n")
        add(b"tmp/../../escaped-too", b"also outside\n")
        add(b"shadow-link", type=tarfile.LNKTYPE, linkname="/etc/shadow")
        add(b"rootlink", type=tarfile.SYMTYPE, linkname="/", mode=0o777)
        add(b"rootlink/etc/evil-through-symlink", b"follows the symlink\n")
        add(TITLE + b"title-" + RED + b"red", b"escape sequences in a member name\n")
        add(b"new\nline", b"newline in a member name\n")
        add(NOT_UTF8 + b".bin", b"not UTF-8\n")
        add(b"dev-null", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        add(b"setuid-sh", b"#!/bin/sh\nid\n", mode=0o4755)
    return out.getvalue()


_PS_FOREVER = b"""\
#!/bin/sh
# a ps that never stops talking
echo 'PID   USER     COMMAND'
exec yes '    1 root     /bin/sh /entrypoint.sh'
"""

_TAR = b"""\
#!/bin/sh
# whatever it is asked, this tar emits the same stream
exec cat /usr/share/.hostile/evil.tar
"""


def _sh_quote(value: bytes) -> bytes:
    return b"'" + value.replace(b"'", b"'\\''") + b"'"


def _entrypoint() -> bytes:
    lines = [b"#!/bin/sh", b"# hostile: processes, files and logs that attack their readers"]
    for name, comm, args in HOSTILE_PROCESSES:
        prefix = b""
        if comm is not None:
            prefix = b"FC_COMM_HEX=" + comm.hex().encode() + b" "
        lines.append(prefix + b" ".join(_sh_quote(a) for a in [b"/tmp/" + name, *args]) + b" &")
    lines += [
        b"unset FC_COMM_HEX",
        b"printf '\\033]0;pwned-by-log\\007\\033[31mred log line\\033[0m\\n'",
        b"printf 'progress 10%%\\rprogress 100%%\\n'",
        b"printf 'bytes: \\377\\376\\351\\n'",
        b"printf 'a 100 KiB line follows\\n'",
        b"head -c 102400 /dev/zero | tr '\\0' 'L'; echo",
        b"while true; do printf '\\033[2J\\033[Hscreen cleared by a log line\\n'; sleep 10; done",
    ]
    return b"\n".join(lines) + b"\n"


def _files() -> list[FileSpec]:
    files = [
        FileSpec(b"/entrypoint.sh", _entrypoint(), mode=0o755),
        FileSpec(b"/bin/ps", _PS_FOREVER, mode=0o755),
        FileSpec(b"/bin/tar", _TAR, mode=0o755),
        FileSpec(b"/usr/share/.hostile/evil.tar", evil_tar()),
        FileSpec(b"/tmp/.cache", directory=True, mode=0o755),
        FileSpec(b"/tmp/.cache/core.dump", sparse_size=SPARSE_SIZE, mode=0o600),
        FileSpec(b"/tmp/" + RED + b"red-file" + RESET, b"red\n"),
        FileSpec(b"/tmp/" + TITLE + b"title-file", b"title\n"),
        FileSpec(b"/tmp/" + CLEAR + b"clear-file", b"clear\n"),
        FileSpec(b"/tmp/new\nline-file", b"newline\n"),
        FileSpec(b"/tmp/carriage\rreturn", b"cr\n"),
        FileSpec(b"/tmp/" + NOT_UTF8 + b"-file", b"bytes\n"),
        FileSpec(b"/tmp/-rf", b"looks like an option\n"),
        FileSpec(b"/tmp/ leading-space", b"space\n"),
        FileSpec(b"/tmp/" + b"n" * 255, b"a 255-byte name\n"),
        FileSpec(b"/tmp/...", directory=True, mode=0o755),
        FileSpec(b"/tmp/.../..%2f..%2fetc%2fpasswd", b"percent-encoded traversal\n"),
        FileSpec(b"/tmp/escape", symlink=b"../../../../../../etc/shadow"),
        FileSpec(b"/tmp/loop-a", symlink=b"loop-b"),
        FileSpec(b"/tmp/loop-b", symlink=b"loop-a"),
        FileSpec(b"/tmp/epoch-zero", b"1970\n", mtime=0),
        FileSpec(b"/tmp/far-future", b"2100\n", mtime=4_102_444_800),
    ]
    for name, _comm, _args in HOSTILE_PROCESSES:
        files.append(FileSpec(b"/tmp/" + name, copy_of=COPY_FCAPP, mode=0o755))
    return files


def hostile(ctx: ProfileContext) -> ContainerSpec:
    """The hostile ContainerSpec (the context changes nothing)."""
    return ContainerSpec(
        rootfs=images.BUSYBOX,
        argv=["/bin/sh", "/entrypoint.sh"],
        env={"HOSTILE": (RED + b"env" + RESET + TITLE).decode()},
        files=_files(),
        mask_net_tcp=malformed_net_tcp())
