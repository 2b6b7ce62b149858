"""A Gateway's listeners -> the TLS Secrets gateway-shim makes Certificates for.

Owns cert-manager's reading of ``spec.listeners`` (certificate-shim's
``handleGatewayAPIListeners`` and ``validateGatewayListenerBlock``): only HTTPS and TLS
listeners count; ``Passthrough`` ones and those named in ``cert-manager.io/ignore-tls-
listeners`` are passed over without a word, as cert-manager does; a listener without a
hostname, without certificateRefs, with a ref that is not a core Secret or that points
into another namespace is skipped with one problem naming every field (Kubernetes'
field-error wording). Each remaining ref's Secret collects the listener's hostname, so
listeners sharing a Secret share one Certificate. Fields the API server defaults
(``tls.mode``, a ref's ``group`` and ``kind``) read as their defaults when absent.

Pure: no I/O. It must not build Certificates (``ingressshim.desired`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from certmgr.api import labels
from certmgr.controllers.ingressshim.desired import Blocks, Obj, TLSBlock, aggregate

TLS_PROTOCOLS: Final = frozenset({"HTTPS", "TLS"})
TERMINATE: Final = "Terminate"
PASSTHROUGH: Final = "Passthrough"


def ignored_listeners(annotations: Mapping[str, str]) -> frozenset[str]:
    """The listener names of ``cert-manager.io/ignore-tls-listeners`` (comma-separated)."""
    text = annotations.get(labels.IGNORE_TLS_LISTENERS)
    if text is None:
        return frozenset()
    return frozenset(name.strip() for name in text.split(","))


def listener_problems(index: int, listener: Mapping[str, Any], *, namespace: str) -> list[str]:
    """Why a TLS listener cannot have a Certificate (empty: it can)."""
    path = f"spec.listeners[{index}]"
    problems = []
    if not listener.get("hostname"):
        problems.append(f"{path}.hostname: Required value: the hostname cannot be empty")
    tls = listener.get("tls")
    if not isinstance(tls, Mapping):
        problems.append(f"{path}.tls: Required value: the TLS block cannot be empty")
        return problems
    refs = tls.get("certificateRefs") or []
    if not refs:
        problems.append(
            f"{path}.tls.certificateRef: Required value: listener has no certificateRefs"
        )
    for i, ref in enumerate(refs):
        where = f"{path}.tls.certificateRef[{i}]"
        group = str(ref.get("group") or "")
        kind = str(ref.get("kind") or "Secret")
        ref_namespace = ref.get("namespace")
        if group not in ("core", ""):
            problems.append(
                f'{where}.group: Unsupported value: "{group}": supported values: "core", ""'
            )
        if kind not in ("Secret", ""):
            problems.append(
                f'{where}.kind: Unsupported value: "{kind}": supported values: "Secret", ""'
            )
        if ref_namespace is not None and ref_namespace != namespace:
            problems.append(
                f'{where}.namespace: Invalid value: "{ref_namespace}": cross-namespace '
                "secret references are not allowed in listeners"
            )
    mode = str(tls.get("mode") or TERMINATE)
    if mode != TERMINATE:
        problems.append(
            f'{path}.tls.mode: Unsupported value: "{mode}": supported values: "{TERMINATE}"'
        )
    return problems


def gateway_blocks(gateway: Obj) -> Blocks:
    """The Secrets a Gateway's listeners want Certificates for, in listener order."""
    metadata = gateway.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "")
    ignored = ignored_listeners(metadata.get("annotations") or {})
    listeners = [
        listener
        for listener in (gateway.get("spec") or {}).get("listeners") or []
        if isinstance(listener, Mapping)
    ]
    hosts: dict[str, list[str]] = {}
    skipped: list[str] = []
    for index, listener in enumerate(listeners):
        if listener.get("protocol") not in TLS_PROTOCOLS:
            continue
        if (listener.get("tls") or {}).get("mode") == PASSTHROUGH:
            continue
        if listener.get("name") in ignored:
            continue
        problems = listener_problems(index, listener, namespace=namespace)
        if problems:
            skipped.append("Skipped a listener block: " + aggregate(problems))
            continue
        for ref in listener["tls"]["certificateRefs"]:
            hosts.setdefault(str(ref["name"]), []).append(str(listener["hostname"]))
    named = {
        str(ref.get("name") or "")
        for listener in listeners
        for ref in (listener.get("tls") or {}).get("certificateRefs") or ()
    }
    return Blocks(
        wanted=tuple(TLSBlock(secret_name=name, hosts=tuple(h)) for name, h in hosts.items()),
        skipped=tuple(skipped),
        secret_names=frozenset(named),
    )
