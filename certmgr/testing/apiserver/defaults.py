"""Defaults and checks kube-apiserver applies to the built-in kinds our controller creates.

Owns the parts of the Service, Pod and Ingress strategies a controller notices: the
fields the server fills in (so a controller that compares what it wants with what it
reads must tolerate them, as on a real cluster), ClusterIP and NodePort allocation
kept across updates, Pod spec immutability, and Ingress path validation. It must not
store anything; allocation state is the caller's ``Allocations``.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
Cause = dict[str, Any]

_SERVICE_NET = ipaddress.ip_network("10.96.0.0/12")
_NODE_PORTS = range(30000, 32768)
_PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
# Pod spec fields an update may change (the rest is immutable once created).
_POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "schedulingGates")


@dataclass
class Allocations:
    """Cluster IPs and node ports handed out so far (never reused within a run)."""

    next_ip: int = 10  # 10.96.0.1 is the kubernetes Service, a few more are "system"
    next_node_port: int = 0
    used_ips: set[str] = field(default_factory=set)

    def cluster_ip(self) -> str:
        while True:
            candidate = str(_SERVICE_NET[self.next_ip])
            self.next_ip += 1
            if candidate not in self.used_ips:
                self.used_ips.add(candidate)
                return candidate

    def node_port(self) -> int:
        port = _NODE_PORTS[self.next_node_port % len(_NODE_PORTS)]
        self.next_node_port += 1
        return port


def _cause(field_path: str, message: str, reason: str = "FieldValueInvalid") -> Cause:
    return {"reason": reason, "message": message, "field": field_path}


def service(obj: Obj, old: Obj | None, allocations: Allocations) -> list[Cause]:
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    kind = spec["type"]
    causes: list[Cause] = []
    for index, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict) or "port" not in port:
            causes.append(
                _cause(f"spec.ports[{index}].port", "Required value", "FieldValueRequired")
            )
            continue
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port["port"])
        if kind in ("NodePort", "LoadBalancer") and "nodePort" not in port:
            previous = [p for p in old_spec.get("ports") or [] if p.get("port") == port["port"]]
            port["nodePort"] = (
                previous[0]["nodePort"]
                if previous and "nodePort" in previous[0]
                else allocations.node_port()
            )
    if kind == "ExternalName":
        return causes
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    old_ip = old_spec.get("clusterIP")
    wanted = spec.get("clusterIP")
    if old is not None and old_ip and wanted and wanted != old_ip:
        causes.append(
            _cause("spec.clusterIPs[0]", f'Invalid value: ["{wanted}"]: may not change once set')
        )
    if not wanted:
        # An update that leaves it out keeps the allocated address, as upstream.
        spec["clusterIP"] = old_ip or allocations.cluster_ip()
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    return causes


def _container(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def pod_template(spec: Any) -> None:
    """Defaults that a later apply sees: env[].valueFrom.fieldRef.apiVersion is "v1"."""
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            for env in (container.get("env") or []) if isinstance(container, dict) else []:
                ref = (
                    (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
                )
                if isinstance(ref, dict):
                    ref.setdefault("apiVersion", "v1")


def deployment(obj: Obj) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        pod_template(template.get("spec"))


def pod(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.setdefault("spec", {})
    pod_template(spec)
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [_cause("spec.containers", "Required value", "FieldValueRequired")]
    for container in [*containers, *(spec.get("initContainers") or [])]:
        if isinstance(container, dict):
            _container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    if old is None:
        return []
    before = {k: v for k, v in old.get("spec", {}).items() if k not in _POD_MUTABLE}
    after = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    # Images may change in place; compare everything else.
    for side in (before, after):
        for key in ("containers", "initContainers"):
            if key in side:
                side[key] = [{**c, "image": ""} for c in copy.deepcopy(side[key])]
    if before != after:
        return [
            _cause(
                "spec",
                "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                "`spec.activeDeadlineSeconds`, `spec.tolerations` "
                "(only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`",
                "FieldValueForbidden",
            )
        ]
    return []


def ingress(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if not spec.get("rules") and not spec.get("defaultBackend"):
        causes.append(
            _cause("spec", "Invalid value: either `defaultBackend` or `rules` must be specified")
        )
    for r, rule in enumerate(spec.get("rules") or []):
        for p, path in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
            where = f"spec.rules[{r}].http.paths[{p}]"
            path_type = path.get("pathType")
            if path_type is None:
                causes.append(_cause(f"{where}.pathType", "Required value", "FieldValueRequired"))
            elif path_type not in _PATH_TYPES:
                causes.append(
                    _cause(
                        f"{where}.pathType",
                        f'Unsupported value: "{path_type}": supported values: '
                        + ", ".join(f'"{t}"' for t in _PATH_TYPES),
                        "FieldValueNotSupported",
                    )
                )
            if path_type in ("Exact", "Prefix") and not str(path.get("path", "")).startswith("/"):
                causes.append(_cause(f"{where}.path", "Invalid value: must be an absolute path"))
            if not path.get("backend"):
                causes.append(_cause(f"{where}.backend", "Required value", "FieldValueRequired"))
    return causes
