"""Writes DIR/kubeconfig (contexts fake-admin, fake-restricted, fake-labeller, fake-cert, fake-cert-data,
fake-exec, fake-badtoken; all in namespace shop) and DIR/exec-plugin.sh once the server knows its port."""

import base64
import os
import stat

import yaml

from .auth import BAD_TOKEN

EXEC_PLUGIN = """#!/bin/sh
# kubectl exec credential plugin for the fake cluster: one line per call in exec-plugin.calls.
dir=$(dirname "$0")
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) pid=$$" >> "$dir/exec-plugin.calls"
ttl=3600
[ -f "$dir/exec-plugin.ttl" ] && ttl=$(cat "$dir/exec-plugin.ttl")
exp=$(date -u -d "@$(( $(date +%s) + ttl ))" +%Y-%m-%dT%H:%M:%SZ)
printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false},'
printf '"status":{"expirationTimestamp":"%s","token":"fake-exec-plugin-token"}}\\n' "$exp"
"""


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(workdir, port):
    workdir = os.path.abspath(workdir)
    plugin = os.path.join(workdir, "exec-plugin.sh")
    with open(plugin, "w") as f:
        f.write(EXEC_PLUGIN)
    os.chmod(plugin, os.stat(plugin).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    ctx = [("fake-admin", "admin"), ("fake-restricted", "alice"), ("fake-labeller", "bob"), ("fake-cert", "cert-user"),
           ("fake-cert-data", "cert-user-data"), ("fake-exec", "exec-user"), ("fake-badtoken", "badtoken")]
    cfg = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "fake-cluster", "cluster": {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority-data": _b64file(os.path.join(workdir, "ca.crt"))}}],
        "users": [
            {"name": "admin", "user": {"token": "fake-admin-token"}},
            {"name": "alice", "user": {"token": "fake-alice-token"}},
            {"name": "bob", "user": {"token": "fake-bob-token"}},
            {"name": "cert-user", "user": {"client-certificate": os.path.join(workdir, "client.crt"),
                                           "client-key": os.path.join(workdir, "client.key")}},
            {"name": "cert-user-data", "user": {
                "client-certificate-data": _b64file(os.path.join(workdir, "client.crt")),
                "client-key-data": _b64file(os.path.join(workdir, "client.key"))}},
            {"name": "exec-user", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1", "command": plugin, "args": None,
                "env": None, "interactiveMode": "Never", "provideClusterInfo": False}}},
            {"name": "badtoken", "user": {"token": BAD_TOKEN}},
        ],
        "contexts": [{"name": n, "context": {"cluster": "fake-cluster", "user": u, "namespace": "shop"}}
                     for n, u in ctx],
        "current-context": "fake-admin",
    }
    exec_user = next(u["user"] for u in cfg["users"] if u["name"] == "exec-user")
    exec_user["exec"] = {k: v for k, v in exec_user["exec"].items() if v is not None}
    tmp = os.path.join(workdir, "kubeconfig.tmp")
    with open(tmp, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    with open(os.path.join(workdir, "port"), "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, os.path.join(workdir, "kubeconfig"))
