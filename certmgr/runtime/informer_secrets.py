"""Secrets at scale: two informers, so Secrets we do not manage cost almost nothing.

A cluster may hold tens of thousands of Secrets (service account tokens, Helm releases,
other tools' credentials) of which certmgr manages a few hundred; caching all of them
with their data is what made cert-manager need 8 GB for 30k Secrets. The design, the
same as cert-manager's "filtered Secrets caching":

- **managed**: ``controller.cert-manager.io/fao=true`` (the label cert-manager, and so
  certmgr, puts on every Secret it writes): full objects with data, minus managedFields.
- **unmanaged**: ``controller.cert-manager.io/fao!=true`` (which also matches Secrets
  without the label), watched metadata-only (``PartialObjectMetadata``: the server never
  sends their data) into a keys-only cache: each costs its key and resourceVersion,
  ~220 bytes. Handlers still hear about them, so a Certificate whose Secret appears (or is
  edited by a user) is reconciled.

A cached managed Secret also carries the summary of its certificate and key
(``secret_summary``: parsed at its first read, then kept with the object), so the
decisions made on every reconcile parse nothing.

``get`` answers from the managed cache and fetches an unmanaged Secret from the API when
a controller really needs its data (adopting a pre-existing Secret is rare). When a
Secret gains or loses the label, one informer sees it DELETED and the other ADDED, in
either order; for that moment it may be in neither cache. Reconciles are level-triggered
and both events enqueue the same key, so the last reconcile sees the settled state.

This module must not decide which Secrets certmgr manages: writers set the label.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from certmgr.kube.errors import NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import SECRETS
from certmgr.memo import memo, pem_digest
from certmgr.pki.summary import SecretSummary, summarise
from certmgr.runtime.cache import IndexFunc, Obj
from certmgr.runtime.clock import Clock, SystemClock, race_clock
from certmgr.runtime.informer import Handler, Informer, compact

MANAGED_LABEL = "controller.cert-manager.io/fao"
MANAGED_SELECTOR = f"{MANAGED_LABEL}=true"
UNMANAGED_SELECTOR = f"{MANAGED_LABEL}!=true"


class SecretInformers:
    def __init__(
        self,
        client: KubeAPI,
        *,
        namespace: str | None = None,
        on_event: Handler | None = None,
        indexes: dict[str, IndexFunc] | None = None,
        clock: Clock | None = None,
        **informer_options: Any,
    ) -> None:
        """``indexes`` apply to both caches (computed from the full objects as they
        arrive, so an index on labels or annotations works for unmanaged Secrets too)."""
        self._client = client
        self._namespace = namespace
        self._clock = clock
        handlers = [on_event] if on_event is not None else []
        self.managed = Informer(
            client,
            SECRETS,
            namespace=namespace,
            label_selector=MANAGED_SELECTOR,
            transform=managed_secret,
            on_event=handlers,
            indexes=indexes,
            name="secrets-managed",
            clock=clock,
            **informer_options,
        )
        self.unmanaged = Informer(
            client,
            SECRETS,
            namespace=namespace,
            label_selector=UNMANAGED_SELECTOR,
            metadata_only=True,
            keys_only=True,
            on_event=list(handlers),
            indexes=indexes,
            name="secrets-unmanaged",
            clock=clock,
            **informer_options,
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.managed.run())
            group.create_task(self.unmanaged.run())

    @property
    def has_synced(self) -> bool:
        return self.managed.has_synced and self.unmanaged.has_synced

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        both = asyncio.gather(self.managed.wait_synced(), self.unmanaged.wait_synced())
        if timeout is None:
            await both
        else:
            await race_clock(self._clock or SystemClock(), both, seconds=timeout)

    def add_handler(self, handler: Handler) -> None:
        self.managed.add_handler(handler)
        self.unmanaged.add_handler(handler)

    def exists(self, namespace: str, name: str) -> bool:
        """Whether either cache knows the Secret (no API call)."""
        return (namespace, name) in self.managed.cache or (namespace, name) in self.unmanaged.cache

    def is_managed(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.managed.cache

    def cached(self, namespace: str, name: str) -> Obj | None:
        """The full managed Secret, or a metadata stub of an unmanaged one, or None."""
        return self.managed.cache.get(namespace, name) or self.unmanaged.cache.get(namespace, name)

    async def get(self, namespace: str, name: str) -> Obj | None:
        """The full Secret: from the cache when managed, from the API when only its key is
        cached; None when neither cache knows it."""
        managed = self.managed.cache.get(namespace, name)
        if managed is not None:
            return managed
        if (namespace, name) not in self.unmanaged.cache:
            return None
        try:
            return await self._client.get(SECRETS, name, namespace=namespace)
        except NotFound:
            return None

    def by_index(self, index: str, value: str) -> list[Obj]:
        """Managed Secrets in full and unmanaged ones as stubs, filed under ``value``."""
        return self.managed.cache.by_index(index, value) + self.unmanaged.cache.by_index(
            index, value
        )


class ManagedSecret(dict[str, Any]):
    """A managed Secret as cached: the object as decoded (a plain dict to every reader and
    writer), and the summary of its ``tls.crt`` and ``tls.key``, computed at the first
    ``secret_summary`` and kept as long as the object (a change is a new object)."""

    __slots__ = ("summary",)
    summary: SecretSummary


def managed_secret(obj: Obj) -> Obj:
    """The managed cache's transform: ``compact``, as a ``ManagedSecret``. The summary is
    not computed here: a list page is transformed in one turn of the loop, and parsing
    500 certificates and keys would hold it for a quarter of a second."""
    return ManagedSecret(compact(obj))


def secret_summary(secret: Obj) -> SecretSummary:
    """What the decisions read of ``secret``'s ``tls.crt`` and ``tls.key``: kept on a cached
    managed Secret, memoised by content for one fetched from the API."""
    data = secret.get("data") or {}
    if isinstance(secret, ManagedSecret):
        try:
            return secret.summary
        except AttributeError:
            secret.summary = summarise(_decoded(data.get("tls.crt")), _decoded(data.get("tls.key")))
            return secret.summary
    return _summarise(_decoded(data.get("tls.crt")), _decoded(data.get("tls.key")))


def _decoded(value: object) -> bytes:
    """A data value decoded as the controllers decode it: undecodable reads as empty."""
    try:
        return base64.b64decode(value or "", validate=True)  # type: ignore[arg-type]
    except (binascii.Error, ValueError, TypeError):
        return b""


def _content_key(certificate_pem: bytes, key_pem: bytes) -> tuple[bytes, bytes]:
    return pem_digest(certificate_pem), pem_digest(key_pem)


_summarise = memo(key=_content_key)(summarise)


def secret_is_managed(secret: Obj) -> bool:
    labels: dict[str, str] = (secret.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_LABEL) == "true"


def with_managed_label(secret: Obj) -> Obj:
    """A copy of ``secret`` carrying the label that puts it in the managed cache."""
    metadata = dict(secret.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_LABEL: "true"}
    return {**secret, "metadata": metadata}
