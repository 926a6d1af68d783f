#!/usr/bin/python3
"""The kubectl-ir OCI image, written without a container engine: layers, configs, manifests and one
image index for linux/amd64 and linux/arm64, from the release archives' trees (scripts/package.sh
calls it). Python's standard library only.

  oci_image.py --version 0.1.0 --commit abc123 --epoch 1700000000 --dist dist --work build/package/image \
      --platform amd64=build/package/kubectl-ir_0.1.0_linux_amd64 --root amd64=/ \
      --platform arm64=build/package/kubectl-ir_0.1.0_linux_arm64 --root arm64=/var/cache/.../sysroot \
      --playbooks playbooks --ca-bundle /etc/ssl/certs/ca-certificates.crt --ca-package "ca-certificates ..."

Writes, in --dist:
  kubectl-ir_<v>_image_oci/                   an OCI image layout: index.json names one image index
                                              (ref v<v>) of the two platform manifests
  kubectl-ir_<v>_image_linux_<arch>.tar       one platform, loadable by `docker load` (manifest.json)
                                              and `podman load` (an OCI layout too)
  kubectl-ir_<v>_image_linux_<arch>.tar.spdx.json   its SBOM (scripts/release/sbom.py)

The image: the archive's tree in /opt/kubectl-ir (less kubectl_complete-ir, a shell script: the
image has no shell), /usr/local/bin/kubectl-ir a symlink to it ($ORIGIN/lib resolves through
/proc/self/exe), the shipped playbooks in /opt/kubectl-ir/playbooks, the system libraries the
binary loads (glibc, libstdc++, libgcc_s, zlib: the <name>.contents.tsv `system` rows, copied from
--root) with their Debian copyright files, the CA bundle, /etc/passwd and /etc/group with a
non-root user (65532, `nonroot`, as distroless images have it), /tmp, and /work for evidence
(the working directory). The config runs as 65532:65532 with kubectl-ir as the entrypoint.

Two layers, base (the system part) then app, so a new kubectl-ir reuses the base layer. Every
byte is a function of the inputs: entries sorted, owners numeric, every mtime the commit's time,
gzip without a name or time at a fixed level, JSON with sorted keys, `created` the commit's time.
"""

import argparse
import copy
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sbom  # noqa: E402

REPOSITORY = "ghcr.io/kubectl-ir/kubectl-ir"
SOURCE = "https://github.com/kubectl-ir/kubectl-ir"
NONROOT = 65532
APP_DIR = "opt/kubectl-ir"
TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
VARIANTS = {"arm64": "v8"}
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SHELLS = ("sh", "bash", "dash", "ash", "zsh", "busybox", "toybox")

PASSWD = ("root:x:0:0:root:/root:/sbin/nologin\n"
          f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n")
GROUP = f"root:x:0:\nnonroot:x:{NONROOT}:\n"
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Entry:
    """One file system entry of a layer."""

    def __init__(self, path, kind, mode, uid=0, gid=0, data=None, link=None):
        self.path, self.kind, self.mode, self.uid, self.gid = path.strip("/"), kind, mode, uid, gid
        self.data, self.link = data, link


class Rootfs:
    """Entries by path; parents are added as root-owned 0755 directories."""

    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in self.entries:
                self.entries[parent] = Entry(parent, "dir", 0o755)

    def add(self, entry):
        if entry.path in self.entries and self.entries[entry.path].kind != "dir":
            raise SystemExit(f"oci-image: {entry.path} added twice")
        self._parents(entry.path)
        self.entries[entry.path] = entry

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.add(Entry(path, "dir", mode, uid, gid))

    def file(self, path, data, mode=0o644):
        self.add(Entry(path, "file", mode, data=data))

    def copy(self, path, source, mode=None):
        with open(source, "rb") as f:
            data = f.read()
        if mode is None:
            mode = 0o755 if os.stat(source).st_mode & 0o111 else 0o644
        self.file(path, data, mode)

    def symlink(self, path, target):
        self.add(Entry(path, "symlink", 0o777, link=target))


def layer_tar(entries, epoch):
    """An uncompressed tar of the entries: sorted, numeric owners, fixed times, no user names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path + ("/" if e.kind == "dir" else ""))
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, epoch
            info.uname = info.gname = ""
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.link
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def gzip_bytes(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Blobs:
    """Content-addressed blobs: digest -> bytes."""

    def __init__(self):
        self.blobs = {}

    def put(self, data, media_type, **extra):
        digest = sha256(data)
        self.blobs[digest] = data
        return dict({"mediaType": media_type, "digest": digest, "size": len(data)}, **extra)


def read_rows(path):
    return sbom.read_contents(path)


def write_rows(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join([r["package"], r["version"], r["arch"], r["source"], r["source_version"],
                               r["how"], r["copyright"], " ".join(r["files"])]) + "\n")


def usr_merged(path):
    """/lib/x, /lib64/x -> usr/lib/x, usr/lib64/x (the image is merged-/usr, like Debian 12)."""
    path = path.lstrip("/")
    for top in ("lib", "lib64", "bin", "sbin"):
        if path.startswith(top + "/"):
            return "usr/" + path
    return path


def platform_rootfs(arch, tree, root, contents, playbooks, ca_bundle, ca_row):
    """-> (base entries, app entries, image contents rows)."""
    base, app = Rootfs(), Rootfs()
    rows = []
    base.file("etc/passwd", PASSWD.encode())
    base.file("etc/group", GROUP.encode())
    base.file("etc/nsswitch.conf", NSSWITCH.encode())
    base.copy("etc/ssl/certs/ca-certificates.crt", ca_bundle, 0o644)
    base.dir("home/nonroot", 0o755, NONROOT, NONROOT)
    base.dir("tmp", 0o1777)
    base.dir("work", 0o755, NONROOT, NONROOT)
    base.dir("usr/lib/" + TRIPLETS[arch])
    base.symlink("lib", "usr/lib")
    if arch == "amd64":
        base.dir("usr/lib64")
        base.symlink("lib64", "usr/lib64")

    for row in contents:
        row = copy.deepcopy(row)
        if row["how"] == "system":
            placed = []
            for guest in row["files"]:
                # The file itself (symlinks resolved inside --root) under its soname's path.
                source = resolve_in_root(root, guest)
                dest = usr_merged(guest)
                base.copy(dest, source, 0o755 if os.path.basename(dest).startswith("ld-linux") else 0o644)
                placed.append(dest)
            doc = f"usr/share/doc/{row['package']}/copyright"
            base.copy(doc, row["copyright"], 0o644)
            row["files"] = sorted(placed + [doc])
        else:
            row["files"] = [f"{APP_DIR}/{f}" for f in row["files"] if f != "kubectl_complete-ir"]
        rows.append(row)
    ca = dict(ca_row)
    base.copy(f"usr/share/doc/{ca['package']}/copyright", ca["copyright"], 0o644)
    ca["files"] = ["etc/ssl/certs/ca-certificates.crt", f"usr/share/doc/{ca['package']}/copyright"]
    rows.append(ca)

    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, tree)
            if rel == "kubectl_complete-ir":
                continue   # #!/bin/sh: no shell here
            if os.path.islink(full):
                app.symlink(f"{APP_DIR}/{rel}", os.readlink(full))
            else:
                app.copy(f"{APP_DIR}/{rel}", full)
    for name in sorted(os.listdir(playbooks)):
        if name.endswith(".yaml"):
            app.copy(f"{APP_DIR}/playbooks/{name}", os.path.join(playbooks, name), 0o644)
    app.symlink("usr/local/bin/kubectl-ir", f"../../../{APP_DIR}/kubectl-ir")
    return base, app, rows


def resolve_in_root(root, guest):
    """The regular file a path names inside root, following symlinks (absolute ones inside root)."""
    path = guest
    for _ in range(40):
        full = os.path.join(root, path.lstrip("/"))
        # Resolve directory symlinks of the parents (merged /usr: /lib -> usr/lib) one level at a time.
        head, tail = os.path.split(path.rstrip("/"))
        parent = os.path.join(root, head.lstrip("/"))
        if os.path.islink(parent) and head not in ("", "/"):
            target = os.readlink(parent)
            head = target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(head), target))
            path = os.path.join(head, tail)
            continue
        if os.path.islink(full):
            target = os.readlink(full)
            path = target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(path), target))
            continue
        if os.path.isfile(full):
            return full
        raise SystemExit(f"oci-image: {guest}: not found in {root}")
    raise SystemExit(f"oci-image: {guest}: too many symlinks in {root}")


# A private key itself: the PEM header followed by its base64 body. Debian's shared libraries are
# not searched: libgnutls carries the keys of its own self-tests (a parser's string literals, as in
# libcrypto, have no body anyway); what could leak from this build is in our files.
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{64}")


def is_shared_library(path):
    return "/lib/" in "/" + path and re.search(r"\.so(\.[0-9]+)*$", path) is not None


def check_rootfs(arch, entries):
    """What the image must never hold: a shell, the build machine's paths, private keys."""
    build_path = os.path.abspath(".").encode() + b"/"
    for e in entries:
        name = os.path.basename(e.path)
        if name in SHELLS and e.kind != "dir":
            raise SystemExit(f"oci-image: {arch}: {e.path} is a shell: the image must have none")
        if e.kind == "file":
            if not is_shared_library(e.path) and PRIVATE_KEY.search(e.data):
                raise SystemExit(f"oci-image: {arch}: {e.path} holds a private key")
            if build_path in e.data and not e.path.startswith(("usr/share/doc/", f"{APP_DIR}/licenses/")):
                raise SystemExit(f"oci-image: {arch}: {e.path} contains the build directory {build_path.decode()}")


def image_config(arch, version, commit, created, diff_ids):
    labels = {
        "org.opencontainers.image.title": "kubectl-ir",
        "org.opencontainers.image.description": "Forensic triage of a suspicious Kubernetes pod",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.created": created,
    }
    config = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {
            "User": f"{NONROOT}:{NONROOT}",
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot",
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Entrypoint": ["/usr/local/bin/kubectl-ir"],
            "Cmd": ["--help"],
            "WorkingDir": "/work",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": created, "created_by": "scripts/release/oci_image.py: base (glibc, libstdc++, "
                                              "libgcc_s, zlib, CA bundle, nonroot user)"},
            {"created": created, "created_by": f"scripts/release/oci_image.py: kubectl-ir {version} ({commit})"},
        ],
    }
    if arch in VARIANTS:
        config["variant"] = VARIANTS[arch]
    return config, labels


def write_layout(directory, blobs, index, extra_files=None):
    """An OCI image layout: oci-layout, index.json, blobs/sha256/<hex>."""
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.makedirs(os.path.join(directory, "blobs", "sha256"))
    files = {"oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}), "index.json": canonical_json(index)}
    files.update(extra_files or {})
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = data
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    return files


def write_tar(path, files, epoch):
    """A deterministic uncompressed tar of {name: bytes}, with their directories."""
    dirs = set()
    for name in files:
        parent = os.path.dirname(name)
        while parent:
            dirs.add(parent + "/")
            parent = os.path.dirname(parent)
    tmp = path + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(list(files) + list(dirs)):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
    os.replace(tmp, path)


def materialize(rootfs_dir, entries):
    """The rootfs on disk, for the SBOM's file hashes (owners and modes are the tar's business)."""
    if os.path.exists(rootfs_dir):
        shutil.rmtree(rootfs_dir)
    os.makedirs(rootfs_dir)
    for e in sorted(entries, key=lambda e: e.path):
        full = os.path.join(rootfs_dir, e.path)
        if e.kind == "dir":
            os.makedirs(full, exist_ok=True)
        elif e.kind == "symlink":
            os.symlink(e.link, full)
        else:
            with open(full, "wb") as f:
                f.write(e.data)
            os.chmod(full, e.mode & 0o777)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--version", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--compiler", required=True)
    p.add_argument("--dist", required=True)
    p.add_argument("--work", required=True, help="scratch directory (rootfs trees for the SBOMs)")
    p.add_argument("--platform", action="append", required=True, metavar="ARCH=TREE",
                   help="an archive tree; TREE.contents.tsv beside it lists its packages")
    p.add_argument("--root", action="append", required=True, metavar="ARCH=DIR",
                   help="where that platform's system libraries are (/ or a sysroot)")
    p.add_argument("--playbooks", required=True)
    p.add_argument("--ca-bundle", required=True)
    p.add_argument("--ca-package", required=True,
                   help="'package version arch source source-version copyright-file' of the CA bundle")
    args = p.parse_args(argv)

    roots = dict(r.split("=", 1) for r in args.root)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))
    pkg, pver, parch, psrc, psrcver, pcopyright = args.ca_package.split()
    ca_row = {"package": pkg, "version": pver, "arch": parch, "source": psrc, "source_version": psrcver,
              "how": "data", "copyright": pcopyright, "files": []}
    tag = "v" + args.version
    image_name = f"{REPOSITORY}:{args.version}"
    prefix = f"kubectl-ir_{args.version}_image"
    all_blobs = Blobs()
    platform_manifests = []
    os.makedirs(args.dist, exist_ok=True)

    for spec in sorted(args.platform):
        arch, tree = spec.split("=", 1)
        if arch not in TRIPLETS:
            raise SystemExit(f"oci-image: unknown architecture {arch}")
        contents = read_rows(tree.rstrip("/") + ".contents.tsv")
        base, app, rows = platform_rootfs(arch, tree, roots[arch], contents, args.playbooks, args.ca_bundle, ca_row)
        # The base layer holds the shared directories; the app layer repeats only its parents.
        check_rootfs(arch, list(base.entries.values()) + list(app.entries.values()))
        blobs = Blobs()
        layers, diff_ids = [], []
        for layer in (base, app):
            raw = layer_tar(layer.entries.values(), args.epoch)
            diff_ids.append(sha256(raw))
            layers.append(blobs.put(gzip_bytes(raw), MEDIA_LAYER))
        config, labels = image_config(arch, args.version, args.commit, created, diff_ids)
        config_desc = blobs.put(canonical_json(config), MEDIA_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": config_desc, "layers": layers,
                    "annotations": {k: v for k, v in labels.items() if k != "org.opencontainers.image.description"}}
        platform = {"architecture": arch, "os": "linux"}
        if arch in VARIANTS:
            platform["variant"] = VARIANTS[arch]
        manifest_desc = blobs.put(canonical_json(manifest), MEDIA_MANIFEST, platform=platform)
        all_blobs.blobs.update(blobs.blobs)
        platform_manifests.append(manifest_desc)

        # One platform, for docker load (manifest.json) and podman load (the OCI layout).
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [dict(manifest_desc, annotations={
            "org.opencontainers.image.ref.name": tag, "io.containerd.image.name": image_name})]}
        docker_manifest = [{"Config": "blobs/sha256/" + config_desc["digest"].split(":")[1],
                            "RepoTags": [image_name],
                            "Layers": ["blobs/sha256/" + l["digest"].split(":")[1] for l in layers]}]
        files = {"oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}), "index.json": canonical_json(index),
                 "manifest.json": canonical_json(docker_manifest)}
        for digest, data in blobs.blobs.items():
            files["blobs/sha256/" + digest.split(":", 1)[1]] = data
        tarball = os.path.join(args.dist, f"{prefix}_linux_{arch}.tar")
        write_tar(tarball, files, args.epoch)

        # Its SBOM, over the rootfs as the image carries it.
        work = os.path.join(args.work, arch)
        rootfs = os.path.join(work, "rootfs")
        os.makedirs(work, exist_ok=True)
        materialize(rootfs, list(base.entries.values()) + list(app.entries.values()))
        contents_path = os.path.join(work, "contents.tsv")
        write_rows(contents_path, rows)
        sbom.main(["--artifact", tarball, "--tree", rootfs, "--contents", contents_path,
                   "--binary", f"{APP_DIR}/kubectl-ir", "--kind", "image", "--platform", f"linux/{arch}",
                   "--version", args.version, "--commit", args.commit, "--epoch", str(args.epoch),
                   "--compiler", args.compiler, "--image-digest", manifest_desc["digest"],
                   "--out", tarball + ".spdx.json"])
        print(f"oci-image: {tarball} (linux/{arch}, manifest {manifest_desc['digest']}, "
              f"{os.path.getsize(tarball) // 1024} KiB)")

    # Every platform under one image index, in an OCI layout.
    image_index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": platform_manifests,
                   "annotations": {"org.opencontainers.image.version": args.version,
                                   "org.opencontainers.image.revision": args.commit,
                                   "org.opencontainers.image.source": SOURCE,
                                   "org.opencontainers.image.created": created}}
    index_desc = all_blobs.put(canonical_json(image_index), MEDIA_INDEX)
    layout_index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [dict(index_desc, annotations={
        "org.opencontainers.image.ref.name": tag, "io.containerd.image.name": image_name})]}
    layout = os.path.join(args.dist, f"{prefix}_oci")
    write_layout(layout, all_blobs.blobs, layout_index)
    print(f"oci-image: {layout}/ (image index {index_desc['digest']}: "
          f"{', '.join(m['platform']['architecture'] for m in platform_manifests)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
