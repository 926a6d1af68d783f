"""Runs a program as a Kubernetes pod's container would run it, without a container engine.

A new mount and PID namespace (util-linux `unshare`), a root file system that is read-only, the
service account's token, ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount
(read-only, as the kubelet projects them), emptyDir-like volumes (host directories bound read-write),
a fresh /tmp only if a volume says so, /proc of the new PID namespace (the program is PID 1, as in a
container), /dev, the container's environment only (KUBERNETES_SERVICE_HOST/PORT and what the
manifest sets), its working directory, and its user (65532 by default, no supplementary groups).
The network is the host's: the fake API server listens on 127.0.0.1.

The root is either the host's userland (/usr and /etc bound read-only, the program bound in at
/opt/kubectl-ir/kubectl-ir) or an image's unpacked root file system (`rootfs=`), used as it is.

Needs root (mount namespaces); nothing is left on the host but the volumes' contents.

  result = run(["/opt/kubectl-ir/kubectl-ir", "version"], program=IR_BIN, env={...},
               volumes={"/work": host_dir}, service_account={"token": b"...", "ca.crt": b"...",
               "namespace": b"kubectl-ir"}, workdir="/work")
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PROGRAM_PATH = "/opt/kubectl-ir/kubectl-ir"


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def available():
    """Why the sandbox cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (mount namespaces)"
    if not shutil.which("unshare") or not shutil.which("mount"):
        return "needs util-linux's unshare and mount"
    return None


def run(argv, *, program=None, rootfs=None, env=None, volumes=None, service_account=None, workdir="/",
        uid=65532, gid=65532, timeout=300):
    """Runs argv (argv[0] a path inside the root) in the sandbox; -> Result.

    program: with the host's userland, the binary bound at argv[0] (which must be under /opt).
    rootfs: an unpacked image root file system instead (a scratch copy: mount points are made in it).
    volumes: {path inside: host directory}, read-write, made writable for uid.
    service_account: {file name: bytes} at SA_DIR."""
    scratch = tempfile.mkdtemp(prefix="ir-pod-")
    try:
        spec = {"argv": list(argv), "program": program, "rootfs": rootfs, "env": dict(env or {}),
                "volumes": dict(volumes or {}), "workdir": workdir, "uid": uid, "gid": gid,
                "scratch": scratch, "service_account": {}}
        for name, data in (service_account or {}).items():
            path = os.path.join(scratch, "sa-" + name)
            with open(path, "wb") as f:
                f.write(data)
            spec["service_account"][name] = path
        for host_dir in spec["volumes"].values():
            os.chown(host_dir, uid, gid)
        spec_path = os.path.join(scratch, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        proc = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                               sys.executable, os.path.abspath(__file__), "--inside", spec_path],
                              capture_output=True, timeout=timeout, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        return Result(proc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sh(*args):
    subprocess.run(args, check=True)


def _mkdir(root, path, mode=0o755):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(full, mode=mode, exist_ok=True)
    return full


def _inside(spec_path):
    """In the new namespaces, as root: build the pod's mounts, then become the container."""
    with open(spec_path) as f:
        spec = json.load(f)
    scratch = spec["scratch"]
    root = os.path.join(scratch, "root")
    os.makedirs(root)
    if spec["rootfs"]:
        _sh("mount", "--bind", spec["rootfs"], root)
    else:
        # The host's userland, read-only, in a root of its own (a tmpfs: nothing lands on disk).
        _sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", root)
        for d in ("usr", "etc"):
            _sh("mount", "--rbind", "/" + d, _mkdir(root, d))
            _sh("mount", "-o", "remount,bind,ro", os.path.join(root, d))
        for link in ("bin", "sbin", "lib", "lib32", "lib64"):
            if os.path.islink("/" + link):
                os.symlink(os.readlink("/" + link), os.path.join(root, link))
        target = os.path.join(root, spec["argv"][0].lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "w").close()
        _sh("mount", "--bind", spec["program"], target)
        _sh("mount", "-o", "remount,bind,ro", target)
    _sh("mount", "-t", "proc", "proc", _mkdir(root, "proc"))
    _sh("mount", "--rbind", "/dev", _mkdir(root, "dev"))
    for path, host_dir in sorted(spec["volumes"].items()):
        _sh("mount", "--bind", host_dir, _mkdir(root, path))
    if spec["service_account"]:
        sa = _mkdir(root, SA_DIR)
        _sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", sa)
        for name, source in spec["service_account"].items():
            shutil.copyfile(source, os.path.join(sa, name))
            os.chmod(os.path.join(sa, name), 0o644)
        _sh("mount", "-o", "remount,ro", sa)
    _mkdir(root, spec["workdir"])
    # readOnlyRootFilesystem: the root itself; the volumes stay writable (they are mounts of their own).
    if spec["rootfs"]:
        _sh("mount", "-o", "remount,bind,ro", root)
    else:
        _sh("mount", "-o", "remount,ro", root)
    os.chroot(root)
    os.chdir(spec["workdir"])
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--inside":
    _inside(sys.argv[2])
