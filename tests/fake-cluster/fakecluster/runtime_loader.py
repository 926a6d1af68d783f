"""Finds the pod runtime (fakecluster.runtime, owned by the runtime author; see ../INTERFACE.md).

FAKECLUSTER_RUNTIME=module.path selects another implementation (tests use a stand-in while the real
one is missing). Without any, a NullRuntime runs no processes: x-fake pods stay ContainerCreating."""

import importlib
import logging
import os

log = logging.getLogger("fakecluster")


class ExecNotFound(Exception):
    pass


class ContainerNotRunning(Exception):
    pass


class NullRuntime:
    ExecNotFound = ExecNotFound
    ContainerNotRunning = ContainerNotRunning
    available = False

    def __init__(self, workdir):
        self.workdir = workdir

    async def start_container(self, *a, **kw):
        raise RuntimeError("no pod runtime available (fakecluster/runtime.py missing)")

    def is_running(self, pod_uid, container_name):
        return False

    async def exec(self, pod_uid, container_name, argv, stdin):
        raise ContainerNotRunning(container_name)

    async def start_ephemeral(self, *a, **kw):
        raise RuntimeError("no pod runtime available")

    def log_path(self, pod_uid, container_name, previous):
        return None

    async def stop_pod(self, pod_uid):
        pass

    async def shutdown(self):
        pass


def load_runtime(workdir):
    """-> (runtime instance, module) ; the module provides ExecNotFound and ContainerNotRunning."""
    name = os.environ.get("FAKECLUSTER_RUNTIME", "fakecluster.runtime")
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        if name != "fakecluster.runtime" or getattr(e, "name", "") not in ("fakecluster.runtime",):
            raise
        log.warning("no pod runtime (%s): pods with x-fake will not start", e)
        return NullRuntime(workdir), NullRuntime
    os.makedirs(workdir, exist_ok=True)
    rt = mod.Runtime(workdir)
    return rt, mod
