"""What the API server does to an object between the request body and storage.

Owns the per-request checks and defaults a real kube-apiserver applies before
storing: the kind and namespace agree with the URL, names are valid, system metadata
cannot be set by clients, status is reset or kept according to the status
subresource, generation moves only on spec changes, Secret data is base64, and custom
resources pass their CRD's schema. It must not store anything or raise anything but
``StatusError``; the pure schema checks live in ``schema.py``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable
from typing import Any

from certmgr.testing.apiserver import aggregation, crdrules, defaults, errors, names, schema
from certmgr.testing.apiserver.resources import ResourceType
from certmgr.testing.apiserver.store import Obj, Store

_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, Any]:
    return {"reason": reason, "message": message, "field": field}


def _require_object(body: Any) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    if not isinstance(body.get("metadata", {}), dict):
        raise errors.bad_request("metadata must be an object")
    return body


def _check_kind(rtype: ResourceType, body: Obj) -> None:
    kind = body.get("kind")
    if kind and kind != rtype.kind:
        raise errors.bad_request(
            f"the kind of the object ({kind}) does not match the resource ({rtype.kind})"
        )
    api_version = body.get("apiVersion")
    if api_version and api_version != rtype.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({rtype.api_version})"
        )
    body["kind"] = rtype.kind
    body["apiVersion"] = rtype.api_version


def _ordered(obj: Obj) -> Obj:
    """apiVersion, kind and metadata first, as the real server serializes them."""
    head = ("apiVersion", "kind", "metadata")
    return {**{k: obj[k] for k in head if k in obj}, **obj}


def _validate_names(rtype: ResourceType, meta: Obj) -> list[dict[str, Any]]:
    causes = []
    name = meta.get("name") or ""
    if not name and not meta.get("generateName"):
        causes.append(
            _cause(
                "metadata.name",
                "Required value: name or generateName is required",
                "FieldValueRequired",
            )
        )
    elif name:
        for problem in _name_checker(rtype)(name):
            causes.append(_cause("metadata.name", f'Invalid value: "{name}": {problem}'))
    for key, value in (meta.get("labels") or {}).items():
        for problem in _label_problems(key, value):
            causes.append(_cause("metadata.labels", f'Invalid value: "{value}": {problem}'))
    return causes


def _check_meta_types(meta: Obj) -> None:
    """What Go's JSON decoding into ObjectMeta refuses with 400 before any validation."""

    def refuse(field: str, wanted: str) -> errors.StatusError:
        return errors.bad_request(
            f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{field} "
            f"of type {wanted}"
        )

    for field in ("name", "generateName", "namespace", "resourceVersion", "uid"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], str):
            raise refuse(field, "string")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise refuse(field, "map[string]string")
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (
        isinstance(finalizers, list) and all(isinstance(f, str) for f in finalizers)
    ):
        raise refuse("finalizers", "[]string")
    refs = meta.get("ownerReferences")
    if refs is not None and not (
        isinstance(refs, list)
        and all(isinstance(r, dict) and isinstance(r.get("uid", ""), str) for r in refs)
    ):
        raise refuse("ownerReferences", "[]v1.OwnerReference")


def _name_checker(rtype: ResourceType) -> Callable[[str], list[str]]:
    if rtype.group == "" and rtype.kind == "Namespace":
        return names.validate_dns_label
    if rtype.group == "" and rtype.kind == "Service":
        return names.validate_dns1035_label
    if rtype.group in ("rbac.authorization.k8s.io", aggregation.GROUP):
        # RBAC's and kube-aggregator's minimal rule: "system:auth-delegator" is a name.
        return names.validate_path_segment_name
    return names.validate_name


def _label_problems(key: str, value: str) -> list[str]:
    return [*names.validate_label_key(key), *names.validate_label_value(value)]


def prepare_create(store: Store, rtype: ResourceType, namespace: str, body: Any) -> Obj:
    """A validated, defaulted copy of a create body, ready for ``Store.create``."""
    obj = copy.deepcopy(_require_object(body))
    _check_kind(rtype, obj)
    obj.setdefault("metadata", {})
    obj = _ordered(obj)
    meta = obj["metadata"]
    _check_meta_types(meta)
    if meta.get("resourceVersion"):
        raise errors.bad_request("resourceVersion should not be set on objects to be created")
    for name in (*_SYSTEM_FIELDS, "resourceVersion", "generation", "managedFields"):
        meta.pop(name, None)
    if rtype.namespaced:
        given = meta.get("namespace")
        if given and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match "
                "the namespace sent on the request"
            )
        meta["namespace"] = namespace
        _check_namespace_open(store, namespace)
    else:
        meta.pop("namespace", None)
    causes = _validate_names(rtype, meta)
    if rtype.status_subresource and rtype.is_custom:
        obj.pop("status", None)
    obj, more = _by_kind(store, rtype, obj, None)
    causes.extend(more)
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, meta.get("name", ""), causes)
    return obj


def _check_namespace_open(store: Store, namespace: str) -> None:
    from certmgr.testing.apiserver.resources import NAMESPACES

    ns = store.table(NAMESPACES).objects.get(("", namespace))
    if ns is None:
        raise errors.not_found("namespaces", "", namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise errors.forbidden(
            f"unable to create new content in namespace {namespace} because it is being terminated",
            resource="namespaces",
            name=namespace,
        )


def prepare_update(
    store: Store,
    rtype: ResourceType,
    old: Obj,
    body: Any,
    *,
    subresource: str = "",
    name: str = "",
) -> Obj:
    """The object to store for an update of ``old`` (PUT or PATCH result)."""
    obj = copy.deepcopy(_require_object(body))
    _check_kind(rtype, obj)
    obj.setdefault("metadata", {})
    obj = _ordered(obj)
    meta = obj["metadata"]
    _check_meta_types(meta)
    old_meta = old["metadata"]
    if meta.get("name", old_meta["name"]) != old_meta["name"] or (
        name and name != old_meta["name"]
    ):
        raise errors.bad_request("the name of the object does not match the name on the URL")
    wanted_rv = meta.get("resourceVersion")
    if wanted_rv and wanted_rv != old_meta["resourceVersion"]:
        raise errors.conflict(
            rtype.plural,
            rtype.group,
            old_meta["name"],
            errors.MODIFIED,
        )
    wanted_uid = meta.get("uid")
    if wanted_uid and wanted_uid != old_meta["uid"]:
        raise errors.conflict(
            rtype.plural,
            rtype.group,
            old_meta["name"],
            f"Precondition failed: UID in precondition: {wanted_uid}, "
            f"UID in object meta: {old_meta['uid']}",
        )
    if subresource == "finalize":
        # Namespaces' /finalize writes spec.finalizers and nothing else.
        finalizers = (obj.get("spec") or {}).get("finalizers") or []
        return {
            **old,
            "metadata": dict(old_meta),
            "spec": {**old.get("spec", {}), "finalizers": finalizers},
        }
    if subresource == "status":
        # /status writes only status; everything else comes from the stored object.
        new = (
            {**old, "status": obj["status"]}
            if "status" in obj
            else {k: v for k, v in old.items() if k != "status"}
        )
        new["metadata"] = dict(old_meta)
        if aggregation.is_apiservice(rtype.group, rtype.kind):
            causes = aggregation.status_causes(new)
            if causes:
                raise errors.invalid(rtype.kind, rtype.group, old_meta["name"], causes)
        if rtype.is_custom:
            new, causes = _custom(rtype, new, old)
            if causes:
                raise errors.invalid(rtype.kind, rtype.group, old_meta["name"], causes)
        return new
    for field in (*_SYSTEM_FIELDS, "generation", "namespace", "name"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    meta.pop("managedFields", None)
    if rtype.status_subresource:
        if "status" in old:
            obj["status"] = old["status"]
        else:
            obj.pop("status", None)
    causes = _validate_names(rtype, meta)
    if old_meta.get("deletionTimestamp"):
        added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
        if added:
            causes.append(
                _cause(
                    "metadata.finalizers",
                    f"Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}",
                    "FieldValueForbidden",
                )
            )
    obj, more = _by_kind(store, rtype, obj, old)
    causes.extend(more)
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, old_meta["name"], causes)
    if rtype.generation and _spec_of(rtype, obj) != _spec_of(rtype, old):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    return obj


def _spec_of(rtype: ResourceType, obj: Obj) -> Obj:
    ignored = {"metadata", "status"} if rtype.status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in ignored}


def _by_kind(
    store: Store, rtype: ResourceType, obj: Obj, old: Obj | None
) -> tuple[Obj, list[dict[str, Any]]]:
    if rtype.is_custom:
        return _custom(rtype, obj, old)
    core, kind = rtype.group == "", rtype.kind
    causes: list[dict[str, Any]] = []
    if core and kind == "Secret":
        causes = _secret(obj, old)
    elif core and kind == "Namespace" and old is None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif core and kind == "Pod":
        causes = defaults.pod(obj, old)
        if old is None:
            obj["status"] = {"phase": "Pending"}
    elif core and kind == "Service":
        causes = defaults.service(obj, old, store.allocations)
        if old is None:
            obj["status"] = {"loadBalancer": {}}
    elif rtype.group == "networking.k8s.io" and kind == "Ingress":
        causes = defaults.ingress(obj)
        if old is None:
            obj["status"] = {"loadBalancer": {}}
    elif rtype.group == "apps" and kind == "Deployment":
        defaults.deployment(obj)
    elif aggregation.is_apiservice(rtype.group, kind):
        if old is None:
            obj.pop("status", None)  # the registry strategy: status starts empty
        causes = aggregation.admit(obj)
    elif kind == "CustomResourceDefinition":
        causes = crdrules.check_crd(obj)
        _crd_status(obj)
    return obj, causes


def _custom(rtype: ResourceType, obj: Obj, old: Obj | None) -> tuple[Obj, list[dict[str, Any]]]:
    assert rtype.schema is not None
    if not rtype.schema:
        return obj, []
    admitted, causes = schema.admit(rtype.schema, obj, old=old)
    # Metadata is the server's business, never pruned by a CRD schema.
    admitted["metadata"] = obj["metadata"]
    return admitted, [c.to_json() for c in causes]


def _secret(obj: Obj, old: Obj | None) -> list[dict[str, Any]]:
    causes = []
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        return [_cause("data", "Invalid value: must be an object")]
    for key, value in data.items():
        if not _CONFIG_KEY.match(key):
            causes.append(
                _cause(
                    f"data[{key}]",
                    f'Invalid value: "{key}": a valid config key must consist of '
                    "alphanumeric characters, '-', '_' or '.'",
                )
            )
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            # Go fails while decoding []byte fields, before validation: a 400, not a 422.
            raise errors.bad_request(
                'Secret in version "v1" cannot be handled as a Secret: illegal base64 data'
            ) from None
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    obj.setdefault("type", "Opaque")
    if old is not None and old.get("type", "Opaque") != obj["type"]:
        causes.append(_cause("type", "Invalid value: field is immutable"))
    if obj["type"] == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                causes.append(_cause(f"data[{key}]", "Required value", "FieldValueRequired"))
    return causes


def _crd_status(obj: Obj) -> None:
    spec = obj.get("spec", {})
    now = obj["metadata"].get("creationTimestamp") or ""
    condition = {"status": "True", "lastTransitionTime": now, "reason": "", "message": ""}
    obj["status"] = {
        "acceptedNames": spec.get("names", {}),
        "conditions": [
            {**condition, "type": "NamesAccepted", "reason": "NoConflicts"},
            {**condition, "type": "Established", "reason": "InitialNamesAccepted"},
        ],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }
