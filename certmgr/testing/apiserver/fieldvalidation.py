"""Server-side field validation: unknown and duplicate fields in a write's body.

Owns the `fieldValidation` query parameter (Strict, Warn, Ignore; Warn when absent, as
kube-apiserver since 1.27), finding duplicate JSON keys and fields the type does not
declare (a CRD's structural schema outside `x-kubernetes-preserve-unknown-fields`,
ObjectMeta, and the built-in kinds' fields as far as `_BUILTIN` lists them), and turning
them into the real server's answers: 400 `strict decoding error: unknown field "spec.x"`
for Strict, `Warning: 299 - "unknown field \\"spec.x\\""` headers for Warn, silence for
Ignore. Unknown fields of built-in kinds are dropped (Go's decoder never sees them); a
CRD's are dropped by pruning in `schema.py`. It must not store anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from certmgr.testing.apiserver import errors

__all__ = ["STRICT", "WARN", "directive", "enforce", "parse_json", "problems", "unknown_fields"]

STRICT: Final = "Strict"
WARN: Final = "Warn"
IGNORE: Final = "Ignore"
_DIRECTIVES: Final = ("Ignore", "Strict", "Warn")

# A field spec: None accepts anything below; a dict lists the known keys ("*" = any key)
# and applies to each element when the value is a list.
Spec = Mapping[str, Any] | None

_OWNER_REFERENCE: Final = dict.fromkeys(
    ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
)
OBJECT_META: Final[Mapping[str, Any]] = {
    **dict.fromkeys(("name", "generateName", "namespace", "selfLink", "uid")),
    **dict.fromkeys(("resourceVersion", "generation", "creationTimestamp")),
    **dict.fromkeys(("deletionTimestamp", "deletionGracePeriodSeconds", "labels")),
    **dict.fromkeys(("annotations", "finalizers", "managedFields")),
    "ownerReferences": _OWNER_REFERENCE,
}
_ENV: Final = {
    "name": None,
    "value": None,
    "valueFrom": {
        "fieldRef": dict.fromkeys(("apiVersion", "fieldPath")),
        **dict.fromkeys(("resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")),
    },
}
_CONTAINER: Final = {
    **dict.fromkeys(("name", "image", "command", "args", "workingDir", "ports", "envFrom")),
    **dict.fromkeys(("resources", "resizePolicy", "restartPolicy", "restartPolicyRules")),
    **dict.fromkeys(("volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe")),
    **dict.fromkeys(("startupProbe", "lifecycle", "terminationMessagePath")),
    **dict.fromkeys(("terminationMessagePolicy", "imagePullPolicy", "securityContext")),
    **dict.fromkeys(("stdin", "stdinOnce", "tty", "targetContainerName")),
    "env": _ENV,
}
_POD_SPEC: Final = {
    **dict.fromkeys(("volumes", "ephemeralContainers", "restartPolicy")),
    **dict.fromkeys(("terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy")),
    **dict.fromkeys(("nodeSelector", "serviceAccountName", "serviceAccount", "nodeName")),
    **dict.fromkeys(("automountServiceAccountToken", "hostNetwork", "hostPID", "hostIPC")),
    **dict.fromkeys(("shareProcessNamespace", "securityContext", "imagePullSecrets")),
    **dict.fromkeys(("hostname", "subdomain", "affinity", "schedulerName", "tolerations")),
    **dict.fromkeys(("hostAliases", "priorityClassName", "priority", "dnsConfig")),
    **dict.fromkeys(("readinessGates", "runtimeClassName", "enableServiceLinks")),
    **dict.fromkeys(("preemptionPolicy", "overhead", "topologySpreadConstraints")),
    **dict.fromkeys(("setHostnameAsFQDN", "os", "hostUsers", "schedulingGates")),
    **dict.fromkeys(("resourceClaims", "resources", "hostnameOverride")),
    "containers": _CONTAINER,
    "initContainers": _CONTAINER,
}
_TEMPLATE: Final = {"metadata": OBJECT_META, "spec": _POD_SPEC}
_BUILTIN: Final[Mapping[tuple[str, str], Mapping[str, Any]]] = {
    ("", "Namespace"): {"spec": None, "status": None},
    ("", "Secret"): dict.fromkeys(("data", "stringData", "type", "immutable")),
    ("", "ConfigMap"): dict.fromkeys(("data", "binaryData", "immutable")),
    ("", "Service"): {"spec": None, "status": None},
    ("", "Pod"): {"spec": _POD_SPEC, "status": None},
    ("", "ServiceAccount"): dict.fromkeys(
        ("secrets", "imagePullSecrets", "automountServiceAccountToken")
    ),
    ("", "Event"): dict.fromkeys(
        [
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ]
    ),
    ("events.k8s.io", "Event"): dict.fromkeys(
        [
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ]
    ),
    ("networking.k8s.io", "Ingress"): {"spec": None, "status": None},
    ("networking.k8s.io", "IngressClass"): {"spec": None},
    ("apps", "Deployment"): {
        "spec": {
            **dict.fromkeys(("replicas", "selector", "strategy", "minReadySeconds", "paused")),
            **dict.fromkeys(("revisionHistoryLimit", "progressDeadlineSeconds")),
            "template": _TEMPLATE,
        },
        "status": None,
    },
    ("policy", "PodDisruptionBudget"): {"spec": None, "status": None},
    ("coordination.k8s.io", "Lease"): {"spec": None},
    ("rbac.authorization.k8s.io", "Role"): {"rules": None},
    ("rbac.authorization.k8s.io", "ClusterRole"): {"rules": None, "aggregationRule": None},
    ("rbac.authorization.k8s.io", "RoleBinding"): {"subjects": None, "roleRef": None},
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): {"subjects": None, "roleRef": None},
    ("apiextensions.k8s.io", "CustomResourceDefinition"): {"spec": None, "status": None},
    ("discovery.k8s.io", "EndpointSlice"): dict.fromkeys(("addressType", "endpoints", "ports")),
    ("apiregistration.k8s.io", "APIService"): {
        "spec": {
            **dict.fromkeys(("group", "version", "groupPriorityMinimum", "versionPriority")),
            **dict.fromkeys(("caBundle", "insecureSkipTLSVerify")),
            "service": dict.fromkeys(("namespace", "name", "port")),
        },
        "status": {"conditions": None},
    },
}


def directive(query: Mapping[str, str], options_kind: str) -> str:
    """The request's fieldValidation (Warn when absent); 422 on an unsupported value."""
    value = query.get("fieldValidation", "")
    if value and value not in _DIRECTIVES:
        supported = ", ".join(f'"{d}"' for d in ("", *_DIRECTIVES))
        raise errors.invalid(
            options_kind,
            "meta.k8s.io",
            "",
            [
                {
                    "reason": "FieldValueNotSupported",
                    "message": f'Unsupported value: "{value}": supported values: {supported}',
                    "field": "fieldValidation",
                }
            ],
        )
    return value or WARN


def parse_json(raw: bytes) -> tuple[Any, list[str]]:
    """(value, paths of repeated keys), as `json.loads` (the last repeated key wins)."""
    repeated: dict[int, list[str]] = {}
    keep: list[dict[str, Any]] = []  # holds flagged objects so their ids stay unique

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                repeated.setdefault(id(result), []).append(key)
            result[key] = value
        if id(result) in repeated:
            keep.append(result)
        return result

    value = json.loads(raw, object_pairs_hook=pairs)
    return value, (_repeated_paths(value, "", repeated) if repeated else [])


def _repeated_paths(value: Any, path: str, repeated: Mapping[int, list[str]]) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        found.extend(_join(path, key) for key in dict.fromkeys(repeated.get(id(value), ())))
        for key, item in value.items():
            found.extend(_repeated_paths(item, _join(path, key), repeated))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_repeated_paths(item, f"{path}[{index}]", repeated))
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def unknown_fields(
    obj: Any, *, group: str, kind: str, crd_schema: Mapping[str, Any] | None, drop: bool
) -> list[str]:
    """Paths of fields the type does not declare; with `drop`, built-in ones are removed."""
    if not isinstance(obj, dict):
        return []
    found: list[str] = []
    if isinstance(obj.get("metadata"), dict):
        found.extend(_against(OBJECT_META, obj["metadata"], "metadata", drop=drop))
    if crd_schema is not None:
        if crd_schema:
            found.extend(_against_schema(crd_schema, obj, "", root=True))
        return found
    spec = _BUILTIN.get((group, kind))
    if spec is None:
        return found
    top = {"apiVersion": None, "kind": None, "metadata": None, **spec}
    return found + _against(top, obj, "", drop=drop)


def _against(spec: Spec, value: Any, path: str, *, drop: bool) -> list[str]:
    if spec is None:
        return []
    if isinstance(value, list):
        return [
            unknown
            for index, item in enumerate(value)
            for unknown in _against(spec, item, f"{path}[{index}]", drop=drop)
        ]
    if not isinstance(value, dict) or "*" in spec:
        return []
    found = []
    for key in list(value):
        if key not in spec:
            found.append(_join(path, key))
            if drop:
                del value[key]
            continue
        found.extend(_against(spec[key], value[key], _join(path, key), drop=drop))
    return found


def _against_schema(schema: Mapping[str, Any], value: Any, path: str, *, root: bool) -> list[str]:
    if isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return []
        return [
            unknown
            for index, item in enumerate(value)
            for unknown in _against_schema(items, item, f"{path}[{index}]", root=False)
        ]
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields") is True:
        return []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    embedded = schema.get("x-kubernetes-embedded-resource") is True
    found = []
    for key, item in value.items():
        if (root and key in ("apiVersion", "kind", "metadata")) or (
            embedded and key in ("apiVersion", "kind")
        ):
            continue
        if embedded and key == "metadata" and isinstance(item, dict):
            found.extend(_against(OBJECT_META, item, _join(path, key), drop=False))
            continue
        child = properties.get(key, extra if isinstance(extra, Mapping) else None)
        if child is None:
            if extra is not True:
                found.append(_join(path, key))
            continue
        found.extend(_against_schema(child, item, _join(path, key), root=False))
    return found


def problems(unknown: list[str], repeated: list[str]) -> list[str]:
    """The decoder's messages, duplicates first as sigs.k8s.io/json reports them."""
    return [f'duplicate field "{p}"' for p in repeated] + [f'unknown field "{p}"' for p in unknown]


def enforce(found: list[str], mode: str) -> list[str]:
    """Raise for Strict; the Warning header values for Warn; nothing for Ignore."""
    if not found:
        return []
    if mode == STRICT:
        raise errors.bad_request("strict decoding error: " + ", ".join(found))
    if mode == WARN:
        escaped = (m.replace("\\", "\\\\").replace('"', '\\"') for m in found)
        return [f'299 - "{message}"' for message in escaped]
    return []
