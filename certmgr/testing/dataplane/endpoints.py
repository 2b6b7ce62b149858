"""Where a Service's traffic goes: what kube-proxy and the EndpointSlice controller decide.

Owns the mapping from a Service port plus the Pods of its namespace to addresses the
router can dial:

- ``type: ExternalName`` -> ``externalName`` (an IP or ``localhost`` in practice: this is
  how a solver inside the controller process, shared mode, is reached) on the Service
  port's ``port``;
- a Service with ``spec.selector`` -> every selected Pod that is Running, Ready, not
  terminating and has a ``status.podIP``, on the port's ``targetPort`` (a number, or a
  container port name looked up in that Pod; absent means the same as ``port``);
- a Service without a selector -> the endpoints of the EndpointSlices labelled
  ``kubernetes.io/service-name: <service>`` in its namespace, on the slice port named
  like the Service port: those ready (``conditions.ready`` absent counts as ready), or,
  when none is, those serving while terminating (kube-proxy's fallback since 1.26).

It must not do I/O; picking one endpoint among several is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An address to dial: ``host`` is an IP literal or a host name."""

    host: str
    port: int

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def service_port(service: Mapping[str, Any], port: int | str) -> Mapping[str, Any] | None:
    """The ``spec.ports`` entry an Ingress backend names, by number or by name."""
    for entry in (service.get("spec") or {}).get("ports") or []:
        if isinstance(port, int) and entry.get("port") == port:
            return dict(entry)
        if isinstance(port, str) and port and entry.get("name") == port:
            return dict(entry)
    return None


def endpoints_for(
    service: Mapping[str, Any],
    port: int | str,
    *,
    pods: Iterable[Mapping[str, Any]],
    slices: Iterable[Mapping[str, Any]] = (),
) -> list[Endpoint]:
    """Every endpoint of ``service`` for the given Service port, in a stable order
    (``pods`` and ``slices``: those of the Service's namespace)."""
    spec = service.get("spec") or {}
    entry = service_port(service, port)
    if spec.get("type") == "ExternalName":
        external = str(spec.get("externalName") or "")
        # An ExternalName Service may leave ports out; the Ingress then names the number.
        number = entry.get("port") if entry else port
        return [Endpoint(external, int(number))] if external and isinstance(number, int) else []
    selector = spec.get("selector")
    if entry is None:
        return []
    if not selector:
        name = str((service.get("metadata") or {}).get("name") or "")
        return slice_endpoints(name, str(entry.get("name") or ""), slices=slices)
    target = entry.get("targetPort", entry.get("port"))
    found: list[Endpoint] = []
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        if not _selected(selector, pod) or not pod_is_ready(pod):
            continue
        number = _container_port(pod, target)
        if number is not None:
            found.append(Endpoint(str(pod["status"]["podIP"]), number))
    return found


def slice_endpoints(
    service: str, port_name: str, *, slices: Iterable[Mapping[str, Any]]
) -> list[Endpoint]:
    """The endpoints kube-proxy uses for a Service without a selector: ready ones, else
    serving-and-terminating ones."""
    ready: set[Endpoint] = set()
    terminating: set[Endpoint] = set()
    for slice_ in slices:
        labels = (slice_.get("metadata") or {}).get("labels") or {}
        if labels.get(SERVICE_NAME_LABEL) != service:
            continue
        numbers = [
            p.get("port")
            for p in slice_.get("ports") or ()
            if str(p.get("name") or "") == port_name and isinstance(p.get("port"), int)
        ]
        if not numbers:
            continue
        for endpoint in slice_.get("endpoints") or ():
            conditions = endpoint.get("conditions") or {}
            found = {Endpoint(str(a), int(numbers[0])) for a in endpoint.get("addresses") or ()}
            if conditions.get("ready") is not False:
                ready |= found
            elif conditions.get("serving") and conditions.get("terminating"):
                terminating |= found
    chosen = ready or terminating
    return sorted(chosen, key=lambda e: (e.host, e.port))


def _selected(selector: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Running, Ready=True, an IP, and not being deleted: what makes a Pod an endpoint."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    conditions = status.get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _container_port(pod: Mapping[str, Any], target: object) -> int | None:
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and isinstance(port.get("containerPort"), int):
                return int(port["containerPort"])
    return None
