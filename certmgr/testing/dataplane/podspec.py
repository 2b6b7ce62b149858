"""What the data plane's kubelet would run for a Pod: image check, env, args, addresses.

Owns the translation of a Pod spec into a local process: whether the first container's
image is one of the solver images we can "pull" (repository match, tag and digest
ignored), the container environment (``value``, ``valueFrom.fieldRef``), Kubernetes'
``$(VAR)`` expansion of args, the stand-in for the Pod's network namespace (the process
binds the Pod's own loopback address), and the loopback address allocator. The image's
entrypoint is always ``python -m solvers``; ``command`` is ignored because the image
behind it is ours. It must not do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_SOLVER_IMAGES: Final = (
    "certmgr",  # deploy/image: one image, the solver when given acmesolver's args
    "ghcr.io/certmgr/certmgr",
    "certmgr-solver",
    "ghcr.io/certmgr/certmgr-solver",
    "quay.io/jetstack/cert-manager-acmesolver",
)
DEFAULT_LISTEN_PORT: Final = 8089
_ANY_ADDRESS: Final = frozenset({"", "0.0.0.0", "::", "[::]"})
_VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def image_repository(image: str) -> str:
    """``quay.io/x/y:v1@sha256:..`` -> ``quay.io/x/y``; Docker Hub's implicit prefixes go."""
    name = image.split("@", 1)[0]
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name = name[:colon]
    for implicit in ("docker.io/library/", "docker.io/"):
        if name.startswith(implicit):
            return name[len(implicit) :]
    return name


def is_solver_pod(pod: Mapping[str, Any], solver_images: Collection[str]) -> bool:
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return False
    wanted = {image_repository(image) for image in solver_images}
    return image_repository(str(containers[0].get("image") or "")) in wanted


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One container as a local process: argv without the interpreter, env, readiness port."""

    args: tuple[str, ...]
    env: Mapping[str, str]
    port: int


def process_spec(pod: Mapping[str, Any], *, pod_ip: str, host_ip: str) -> ProcessSpec:
    """The solver process for ``pod``'s first container, bound to ``pod_ip``."""
    container = ((pod.get("spec") or {}).get("containers") or [{}])[0]
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        if not name:
            continue
        if "value" in var:
            env[name] = expand(str(var["value"]), env)
        else:
            env[name] = _field_value(pod, var.get("valueFrom") or {}, pod_ip, host_ip)
    args = [expand(str(arg), env) for arg in container.get("args") or []]
    args = bind_to(args, pod_ip)
    return ProcessSpec(tuple(args), env, listen_port(args))


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown names stay as written, ``$$`` is a ``$``."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _VARIABLE.sub(replace, text)


def _field_value(
    pod: Mapping[str, Any], value_from: Mapping[str, Any], pod_ip: str, host_ip: str
) -> str:
    field_path = str((value_from.get("fieldRef") or {}).get("fieldPath") or "")
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
    }
    if field_path in simple:
        return str(simple[field_path] or "")
    # metadata.labels['k'] / metadata.annotations['k']; secretKeyRef and friends resolve
    # to "" because this kubelet reads no Secrets or ConfigMaps.
    found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", field_path)
    if found:
        return str((meta.get(found.group(1)) or {}).get(found.group(2)) or "")
    return ""


def bind_to(args: Sequence[str], pod_ip: str) -> list[str]:
    """Make the process listen on the Pod's address, as its network namespace would.

    A missing ``--listen-host`` or an any-address one becomes ``pod_ip``: inside a Pod,
    "all interfaces" is the Pod's own interface; on this machine it would collide with
    every other Pod using the same port.
    """
    out: list[str] = []
    seen = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--listen-host" and index + 1 < len(args):
            value, index = args[index + 1], index + 2
        elif arg.startswith("--listen-host="):
            value, index = arg.partition("=")[2], index + 1
        else:
            out.append(arg)
            index += 1
            continue
        seen = True
        out.append(f"--listen-host={pod_ip if value in _ANY_ADDRESS else value}")
    if not seen:
        out.append(f"--listen-host={pod_ip}")
    return out


def listen_port(args: Sequence[str]) -> int:
    """The port the solver will bind, from its args (``acmesolver``'s default otherwise)."""
    for index, arg in enumerate(args):
        value = None
        if arg.startswith("--listen-port="):
            value = arg.partition("=")[2]
        elif arg == "--listen-port" and index + 1 < len(args):
            value = args[index + 1]
        if value is not None and value.isdigit():
            return int(value)
    return DEFAULT_LISTEN_PORT


class LoopbackAddresses:
    """Hands out one loopback address per Pod: 127.0.1.1 .. 127.0.1.254, 127.0.2.1, ...

    Linux routes all of 127.0.0.0/8 to ``lo``, so each Pod can bind the same port on its
    own address. 127.0.0.x is left alone (the router and the API server live there).
    Released addresses are reused only after every other one has been handed out, so a
    stale route to a deleted Pod does not reach its successor.
    """

    def __init__(self) -> None:
        self._next = 1 * 254  # index of 127.0.1.1 in the sequence below
        self._in_use: set[str] = set()

    def allocate(self) -> str:
        for _ in range(254 * 255):
            address = _address_at(self._next)
            self._next = self._next + 1 if self._next + 1 < 254 * 256 else 254
            if address not in self._in_use:
                self._in_use.add(address)
                return address
        raise RuntimeError("no free loopback address for another pod")

    def release(self, address: str) -> None:
        self._in_use.discard(address)


def _address_at(index: int) -> str:
    third, fourth = divmod(index, 254)
    return f"127.0.{third}.{fourth + 1}"
