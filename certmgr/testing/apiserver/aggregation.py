"""API aggregation's object rules: what an `APIService` is and which requests it claims.

Owns kube-aggregator's view of `apiregistration.k8s.io/v1` `APIService` objects: their
defaults and validation (name `<version>.<group>`, priorities, service reference,
`caBundle` vs `insecureSkipTLSVerify`, with upstream's messages), the paths they claim
(`/apis/<group>/<version>/...`), the RBAC attributes of a proxied request as
kube-apiserver's request-info parser computes them, and the groups discovery lists. It
must not do I/O: probing lives in `aggregation_status.py`, proxying in
`aggregation_proxy.py`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from certmgr.testing.apiserver import errors, names
from certmgr.testing.apiserver.auth import RequestAttributes
from certmgr.testing.apiserver.store import Obj

GROUP: Final = "apiregistration.k8s.io"
KIND: Final = "APIService"
AVAILABLE: Final = "Available"
DEFAULT_PORT: Final = 443


@dataclass(frozen=True, slots=True)
class ServiceRef:
    namespace: str
    name: str
    port: int

    @property
    def server_name(self) -> str:
        """The name the serving certificate must carry, as kube-aggregator checks it."""
        return f"{self.name}.{self.namespace}.svc"


def is_apiservice(group: str, kind: str) -> bool:
    return group == GROUP and kind == KIND


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, Any]:
    return {"reason": reason, "message": message, "field": field}


def _int_field(spec: Mapping[str, Any], key: str) -> int:
    value = spec.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        # Go's decoder fails before validation: a 400, not a 422.
        raise errors.bad_request(
            f'APIService in version "v1" cannot be handled as a APIService: '
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"APIServiceSpec.spec.{key} of type int32"
        )
    return value


def ca_bundle(spec: Mapping[str, Any]) -> bytes:
    """The decoded `caBundle` ([]byte in Go: base64 in JSON)."""
    raw = spec.get("caBundle") or ""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise errors.bad_request(
            'APIService in version "v1" cannot be handled as a APIService: illegal base64 data'
        ) from None


def admit(obj: Obj) -> list[dict[str, Any]]:
    """Default and validate an APIService in place; the causes of a 422, if any.

    The status a client sends is dropped on create and kept from storage on update by the
    caller (the status subresource strategy); conditions are checked here either way.
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    service = spec.get("service")
    if service is not None and not isinstance(service, dict):
        raise errors.bad_request(
            'APIService in version "v1" cannot be handled as a APIService: '
            "spec.service must be an object"
        )
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = DEFAULT_PORT
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    causes: list[dict[str, Any]] = []
    name = str(obj["metadata"].get("name") or "")
    required = f"{version}.{group}"
    if name and not names.validate_path_segment_name(name) and name != required:
        causes.append(
            _cause(
                "metadata.name",
                f'Invalid value: "{name}": must be `spec.version+"."+spec.group`: "{required}"',
            )
        )
    if not group and version != "v1":
        causes.append(
            _cause(
                "spec.group",
                "Required value: only v1 may have an empty group and it better be legacy kube",
                "FieldValueRequired",
            )
        )
    if group:
        causes.extend(
            _cause("spec.group", f'Invalid value: "{group}": {p}')
            for p in names.validate_name(group)
        )
    causes.extend(
        _cause("spec.version", f'Invalid value: "{version}": {p}')
        for p in names.validate_dns1035_label(version)
    )
    minimum = _int_field(spec, "groupPriorityMinimum")
    if not 0 < minimum <= 20000:
        causes.append(
            _cause(
                "spec.groupPriorityMinimum",
                f"Invalid value: {minimum}: must be positive and less than 20000",
            )
        )
    priority = _int_field(spec, "versionPriority")
    if not 0 < priority <= 1000:
        causes.append(
            _cause(
                "spec.versionPriority",
                f"Invalid value: {priority}: must be positive and less than 1000",
            )
        )
    bundle = ca_bundle(spec)
    insecure = spec.get("insecureSkipTLSVerify", False)
    if not isinstance(insecure, bool):
        raise errors.bad_request(
            'APIService in version "v1" cannot be handled as a APIService: '
            "spec.insecureSkipTLSVerify must be a boolean"
        )
    if service is None:
        if bundle:
            causes.append(
                _cause(
                    "spec.caBundle",
                    f'Invalid value: "{len(bundle)} bytes": local APIServices may not have a '
                    "caBundle",
                )
            )
        if insecure:
            causes.append(
                _cause(
                    "spec.insecureSkipTLSVerify",
                    "Invalid value: true: local APIServices may not have insecureSkipTLSVerify",
                )
            )
    else:
        _int_field(service, "port")
        for key in ("namespace", "name"):
            if not service.get(key):
                causes.append(_cause(f"spec.service.{key}", "Required value", "FieldValueRequired"))
        if insecure and bundle:
            causes.append(
                _cause(
                    "spec.insecureSkipTLSVerify",
                    "Invalid value: true: may not be true if caBundle is present",
                )
            )
    return causes + status_causes(obj)


def status_causes(obj: Obj) -> list[dict[str, Any]]:
    """ValidateAPIServiceStatus: every condition's status is True, False or Unknown."""
    causes = []
    for index, condition in enumerate((obj.get("status") or {}).get("conditions") or ()):
        status = condition.get("status") if isinstance(condition, dict) else None
        if status not in ("True", "False", "Unknown"):
            causes.append(
                _cause(
                    f"status.conditions[{index}].status",
                    f'Unsupported value: "{status}": supported values: "True", "False", "Unknown"',
                    "FieldValueNotSupported",
                )
            )
    return causes


def service_of(apiservice: Obj) -> ServiceRef | None:
    """The Service an APIService proxies to; None for a local one."""
    service = (apiservice.get("spec") or {}).get("service")
    if not isinstance(service, dict):
        return None
    return ServiceRef(
        namespace=str(service.get("namespace") or ""),
        name=str(service.get("name") or ""),
        port=int(service.get("port") or DEFAULT_PORT),
    )


def is_available(apiservice: Obj) -> bool:
    """Whether the Available condition is True: only then does kube-aggregator proxy."""
    return any(
        c.get("type") == AVAILABLE and c.get("status") == "True"
        for c in (apiservice.get("status") or {}).get("conditions") or ()
    )


def claimed(path: str) -> tuple[str, str, list[str]] | None:
    """(group, version, rest) for a path under `/apis/<group>/<version>`, else None."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "" or parts[1] != "apis" or not parts[2] or not parts[3]:
        return None
    rest = [p for p in parts[4:] if p]
    return parts[2], parts[3], rest


def request_attributes(
    method: str, group: str, *, rest: list[str], watch: bool
) -> RequestAttributes | None:
    """The RBAC attributes of a proxied request, as kube-apiserver's request-info parser
    finds them; None for `/apis/<group>/<version>` itself (discovery, not a resource)."""
    if rest and rest[0] == "watch":
        watch, rest = True, rest[1:]
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "get" if name else ("watch" if watch else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    return RequestAttributes(
        verb=verb,
        api_group=group,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _version_key(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version order: GA > beta > alpha, higher numbers first, then by name."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = int(match[1]), match[2], int(match[3] or 0)
    rank = {"": 0, None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)


def aggregated_groups(apiservices: Iterable[Obj]) -> list[tuple[str, list[str]]]:
    """(group, versions) of the APIServices that proxy, in kube-aggregator's order:
    groups by groupPriorityMinimum (highest first) then name, versions by
    versionPriority (highest first) then Kubernetes version order."""
    by_group: dict[str, list[Obj]] = {}
    for apiservice in apiservices:
        spec = apiservice.get("spec") or {}
        if service_of(apiservice) is None or not spec.get("group"):
            continue
        by_group.setdefault(str(spec["group"]), []).append(apiservice)
    ordered = sorted(
        by_group.items(),
        key=lambda item: (
            -max(int(a["spec"].get("groupPriorityMinimum") or 0) for a in item[1]),
            item[0],
        ),
    )
    return [
        (
            group,
            [
                str(a["spec"]["version"])
                for a in sorted(
                    members,
                    key=lambda a: (
                        -int(a["spec"].get("versionPriority") or 0),
                        _version_key(str(a["spec"]["version"])),
                    ),
                )
            ],
        )
        for group, members in ordered
    ]
