"""Root filesystems ("images") of the fake cluster's containers.

An image is a directory built once per workdir and kind; each container gets its own copy of it
(its writable layer), plus the files the kubelet manages (/etc/hosts, /etc/hostname,
/etc/resolv.conf). Kinds:

- ``busybox``: laid out like docker.io/library/busybox: /bin/busybox (Debian's busybox-static)
  and a symlink per applet, /etc/passwd, /etc/group, /etc/shadow, /tmp, /var/tmp, /root, /home...
- ``static``: distroless: one static binary at /app (fcapp: an HTTP server on :8080),
  /etc/passwd and /etc/group, and the empty mount points; no sh, ps, cat, tar.
- ``debug``: the trusted busybox root of ephemeral containers, built separately so that nothing
  a profile does to a container's busybox copy can reach it.

/dev, /proc and /sys are empty directories in the image: the runtime mounts them inside each
container's own mount namespace.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass

from .runtime_native import NativeTools

BUSYBOX = "busybox"
STATIC = "static"
DEBUG = "debug"
KINDS = (BUSYBOX, STATIC, DEBUG)

# The PATH of both images' config (and so of every exec), as in docker.io/library/busybox.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BUSYBOX_BINARY = "/bin/busybox"

_BUSYBOX_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

_BUSYBOX_GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""

_BUSYBOX_SHADOW = """\
root:*:10933:0:99999:7:::
daemon:*:10933:0:99999:7:::
bin:*:10933:0:99999:7:::
sys:*:10933:0:99999:7:::
sync:*:10933:0:99999:7:::
mail:*:10933:0:99999:7:::
www-data:*:10933:0:99999:7:::
operator:*:10933:0:99999:7:::
nobody:*:10933:0:99999:7:::
"""

_DISTROLESS_PASSWD = """\
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
"""

_DISTROLESS_GROUP = """\
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
"""


CLUSTER_DNS = "10.96.0.10"   # the kubelet's clusterDNS (kube-dns's ClusterIP) by default


@dataclass
class PodIdentity:
    """What the kubelet writes into every container of a pod."""
    namespace: str
    pod_name: str
    pod_ip: str
    host_network: bool
    nameserver: str = CLUSTER_DNS


class ImageStore:
    """Builds images under ``root/<kind>`` once and copies them for containers."""

    def __init__(self, root: str, tools: NativeTools):
        self.root = root
        self._tools = tools

    def image_dir(self, kind: str) -> str:
        """The directory of image ``kind``, built on first use (synchronous: run it in a thread
        from async code). Raises ValueError for an unknown kind."""
        if kind not in KINDS:
            raise ValueError(f"unknown rootfs kind {kind!r} (expected one of {', '.join(KINDS)})")
        path = os.path.join(self.root, kind)
        if os.path.isdir(path):
            return path
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.isdir(path):
                return path
            tmp = path + ".building"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            if kind == STATIC:
                self._build_static(tmp)
            else:
                self._build_busybox(tmp)
            os.replace(tmp, path)
        return path

    def instantiate(self, kind: str, dest: str, pod: PodIdentity) -> str:
        """Copies image ``kind`` to ``dest`` (which must not exist) and writes the kubelet's
        files for ``pod``. Returns dest. Synchronous."""
        shutil.copytree(self.image_dir(kind), dest, symlinks=True)
        write_kubelet_files(dest, pod)
        return dest

    # -- builders ---------------------------------------------------------------------------

    def _build_busybox(self, root: str) -> None:
        for d, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
                        ("proc", 0o555), ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777),
                        ("usr", 0o755), ("usr/sbin", 0o755), ("var", 0o755),
                        ("var/spool", 0o755), ("var/spool/mail", 0o755), ("var/www", 0o755),
                        ("var/tmp", 0o1777)):
            _mkdir(root, d, mode)
        shutil.copy2(BUSYBOX_BINARY, os.path.join(root, "bin", "busybox"))
        for applet in busybox_applets():
            link = os.path.join(root, "bin", applet)
            if not os.path.lexists(link):
                os.symlink("busybox", link)
        _write(root, "etc/passwd", _BUSYBOX_PASSWD)
        _write(root, "etc/group", _BUSYBOX_GROUP)
        _write(root, "etc/shadow", _BUSYBOX_SHADOW, 0o600)
        _write(root, "etc/nsswitch.conf", "hosts: files dns\nnetworks: files\n")
        _kubelet_placeholders(root)

    def _build_static(self, root: str) -> None:
        for d, mode in (("dev", 0o755), ("etc", 0o755), ("proc", 0o555), ("sys", 0o555),
                        ("tmp", 0o1777), ("var", 0o755)):
            _mkdir(root, d, mode)
        shutil.copyfile(self._tools.fcapp, os.path.join(root, "app"))
        os.chmod(os.path.join(root, "app"), 0o755)
        _write(root, "etc/passwd", _DISTROLESS_PASSWD)
        _write(root, "etc/group", _DISTROLESS_GROUP)
        _kubelet_placeholders(root)


def busybox_applets() -> list[str]:
    """The applets of the host's busybox-static, as it lists them (without "busybox")."""
    out = subprocess.run([BUSYBOX_BINARY, "--list"], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return [a for a in out.split() if a and a != "busybox" and "/" not in a]


def write_kubelet_files(root: str, pod: PodIdentity) -> None:
    """/etc/hosts, /etc/hostname and /etc/resolv.conf as the kubelet writes them."""
    hostname = os.uname().nodename if pod.host_network else pod.pod_name
    hosts = ("# Kubernetes-managed hosts file.\n"
             "127.0.0.1\tlocalhost\n"
             "::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\n"
             "fe00::0\tip6-mcastprefix\n"
             "fe00::1\tip6-allnodes\n"
             "fe00::2\tip6-allrouters\n")
    if pod.pod_ip:
        hosts += f"{pod.pod_ip}\t{hostname}\n"
    _write(root, "etc/hosts", hosts)
    _write(root, "etc/hostname", hostname + "\n")
    _write(root, "etc/resolv.conf",
           f"search {pod.namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
           f"nameserver {pod.nameserver}\n"
           "options ndots:5\n")


def _kubelet_placeholders(root: str) -> None:
    """The files the kubelet writes at every start exist in the image (runtimes create mount
    points for them), so writing them does not date /etc differently in each container."""
    for name in ("hosts", "hostname", "resolv.conf"):
        _write(root, f"etc/{name}", "")


def _mkdir(root: str, rel: str, mode: int) -> None:
    path = os.path.join(root, rel)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


def _write(root: str, rel: str, text: str, mode: int = 0o644) -> None:
    path = os.path.join(root, rel)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
