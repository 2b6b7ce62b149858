"""deploy/'s controller container as a test runs it: exactly the manifest's args, its env
with the ``fieldRef``s resolved as the kubelet would, its ports by name, its probes and
its grace period; and a lock so that two runs never bind those fixed ports at once.

It must not alter what the manifest says: the point is running what users deploy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certmgr.testing.localenv import DEPLOY_DIR, load_manifests

PORTS_LOCK = Path(tempfile.gettempdir()) / "certmgr-deployment-ports.lock"


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str  # livenessProbe, readinessProbe, startupProbe
    path: str
    port: int


@dataclass(frozen=True, slots=True)
class ControllerContainer:
    image: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    ports: Mapping[str, int]
    probes: tuple[Probe, ...]
    termination_grace_period: int


def deploy_documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(DEPLOY_DIR.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_manifests(path)
    ]


def controller_deployment() -> dict[str, Any]:
    (deployment,) = [d for d in deploy_documents() if d["kind"] == "Deployment"]
    return deployment


def controller_container(
    *, pod_name: str = "certmgr-0", pod_ip: str = "127.0.0.1"
) -> ControllerContainer:
    """The container as the kubelet would start it in a Pod named ``pod_name`` whose IP is
    ``pod_ip`` (loopback here: the tests' processes share the host's network)."""
    deployment = controller_deployment()
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    fields = {
        "metadata.namespace": deployment["metadata"]["namespace"],
        "metadata.name": pod_name,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    env = {}
    for var in container.get("env") or ():
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
    ports = {port["name"]: int(port["containerPort"]) for port in container.get("ports") or ()}
    probes = tuple(
        Probe(kind, container[kind]["httpGet"]["path"], _port(container[kind]["httpGet"], ports))
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
        if kind in container
    )
    return ControllerContainer(
        image=container["image"],
        args=tuple(container.get("args") or ()),
        env=env,
        ports=ports,
        probes=probes,
        termination_grace_period=int(pod.get("terminationGracePeriodSeconds", 30)),
    )


def _port(http_get: Mapping[str, Any], ports: Mapping[str, int]) -> int:
    port = http_get["port"]
    return int(port) if isinstance(port, int) or str(port).isdigit() else ports[port]


@contextlib.contextmanager
def fixed_ports_lock() -> Iterator[None]:
    """Hold the machine-wide lock on the Deployment's fixed ports (blocks until free)."""
    fd = os.open(PORTS_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
