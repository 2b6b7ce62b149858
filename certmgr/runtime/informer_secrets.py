"""Secrets at scale: two informers, so Secrets we do not manage cost almost nothing.

A cluster may hold tens of thousands of Secrets (service account tokens, Helm releases,
other tools' credentials) of which certmgr manages a few hundred; caching all of them
with their data is what made cert-manager need 8 GB for 30k Secrets. The design, the
same as cert-manager's "filtered Secrets caching":

- **managed**: ``controller.cert-manager.io/fao=true`` (the label cert-manager, and so
  certmgr, puts on every Secret it writes): objects with data, minus managedFields, and
  for a certificate's Secret minus ``tls.crt``/``tls.key`` (kept as a summary, parsed
  once as it arrives, so no decision parses a PEM) and minus the metadata no decision
  reads, with its labels and remaining data shared with every Secret that has the same
  (``ManagedSecret``).
- **unmanaged**: ``controller.cert-manager.io/fao!=true`` (which also matches Secrets
  without the label), watched metadata-only (``PartialObjectMetadata``: the server never
  sends their data) into a keys-only cache: each costs its key and resourceVersion,
  ~220 bytes. Handlers still hear about them, so a Certificate whose Secret appears (or is
  edited by a user) is reconciled.

``view`` is what the decisions read (the cached managed Secret; an unmanaged one from the
API). ``get`` is the whole Secret, for a writer: from the managed cache when it holds all
of it, else from the API (a trimmed Secret about to be rewritten, or adopting a
pre-existing one: rare). When a
Secret gains or loses the label, one informer sees it DELETED and the other ADDED, in
either order; for that moment it may be in neither cache. Reconciles are level-triggered
and both events enqueue the same key, so the last reconcile sees the settled state.

This module must not decide which Secrets certmgr manages: writers set the label.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import weakref
from dataclasses import dataclass
from typing import Any, Final

from certmgr.api.labels import (
    KEYSTORE_JKS,
    KEYSTORE_P12,
    NEXT_PRIVATE_KEY,
    OUTPUT_COMBINED_PEM,
    OUTPUT_DER,
    TRUSTSTORE_JKS,
    TRUSTSTORE_P12,
)
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
        # Each managed Secret is parsed as it arrives (~0.3-1 ms each; the informer yields
        # between slices of a page); its page's size is the client's byte budget's.
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
        """The cached managed Secret (trimmed, see ``ManagedSecret``), or a metadata stub
        of an unmanaged one, or None."""
        return self.managed.cache.get(namespace, name) or self.unmanaged.cache.get(namespace, name)

    async def view(self, namespace: str, name: str) -> Obj | None:
        """What the decisions read: the cached managed Secret (trimmed: ``secret_summary``
        and ``trimmed`` stand for its certificate and key), an unmanaged one from the API;
        None when neither cache knows it."""
        managed = self.managed.cache.get(namespace, name)
        if managed is not None:
            return managed
        return await self._fetch(namespace, name)

    async def get(self, namespace: str, name: str) -> Obj | None:
        """The full Secret: from the cache when it holds all of it, else from the API;
        None when neither cache knows it."""
        managed = self.managed.cache.get(namespace, name)
        if managed is not None and trimmed(managed) is None:
            return managed
        return await self._fetch(namespace, name, known=managed is not None)

    async def _fetch(self, namespace: str, name: str, *, known: bool = False) -> Obj | None:
        if not known and (namespace, name) not in self.unmanaged.cache:
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
    writer) and the summary of its ``tls.crt`` and ``tls.key``. A certificate's Secret is
    cached without those two values (``trimmed`` says what the decisions need of them) and
    with only the metadata the decisions read (``READ_METADATA``); ``SecretInformers.get``
    fetches it whole from the API when a writer needs it."""

    __slots__ = ("summary", "trimmed")
    summary: SecretSummary
    trimmed: Trimmed | None


@dataclass(frozen=True, slots=True)
class Trimmed:
    """What a cached managed Secret no longer holds says of itself: whether it had any data,
    which of ``tls.crt``/``tls.key`` decode to something, and whether both were canonical
    base64 (what a writer would write back). One shared instance per combination; the
    SHA-256 of ``tls.crt`` is the summary's (a Secret whose leaf does not parse is not
    trimmed)."""

    has_data: bool
    filled: frozenset[str]
    canonical: bool


TRIMMED_KEYS: Final = ("tls.crt", "tls.key")
# The metadata of a trimmed Secret the decisions read: the key and version, what the
# policies and ``secretdata.in_sync`` compare (labels, annotations, owner references).
# uid, creationTimestamp and the rest are read only by writers, who fetch it whole.
READ_METADATA: Final = frozenset(
    ("name", "namespace", "resourceVersion", "labels", "annotations", "ownerReferences")
)


def managed_secret(obj: Obj) -> Obj:
    """The managed cache's transform: ``compact``, summarised and trimmed. Left whole: a
    next private key (the request manager signs with it), a CA's Secret (a CA issuer
    signs with it), a Secret with keystores or extra output formats (the issuing
    controller's re-sync rebuilds those to compare), and one whose ``tls.crt`` does not
    parse (rare, and read as it is); a summary not computed here is computed when first
    read. A trimmed Secret is compacted without what it drops (the PEM, the metadata no
    decision reads), not compacted whole and then cut."""
    metadata = obj.get("metadata")
    data = obj.get("data")
    if (
        type(metadata) is not dict
        or type(data) is not dict
        or (metadata.get("labels") or {}).get(NEXT_PRIVATE_KEY) == "true"
        or not any(name in data for name in TRIMMED_KEYS)
        or any(name in data for name in _BUILT)
    ):
        return _whole(obj)
    certificate_pem, key_pem = _decoded(data.get("tls.crt")), _decoded(data.get("tls.key"))
    summary = summarise(certificate_pem, key_pem)
    leaf = summary.leaf
    if leaf is None or leaf.is_ca:
        secret = _whole(obj)
        secret.summary = summary
        return secret
    canonical = _canonical(data.get("tls.crt"), certificate_pem) and _canonical(
        data.get("tls.key"), key_pem
    )
    secret = ManagedSecret(
        compact(
            {
                **obj,
                "metadata": {k: v for k, v in metadata.items() if k in READ_METADATA},
                "data": {k: v for k, v in data.items() if k not in TRIMMED_KEYS},
            }
        )
    )
    secret.summary = summary
    secret.trimmed = _TRIMMED[(bool(key_pem), canonical)]
    secret["data"] = _SHARED.get(secret["data"])
    kept = secret["metadata"]
    if "labels" in kept:
        kept["labels"] = _SHARED.get(kept["labels"])
    return secret


def _whole(obj: Obj) -> ManagedSecret:
    """``obj`` compacted, untrimmed (its summary, if any, computed when first read)."""
    secret = ManagedSecret(compact(obj))
    secret.trimmed = None
    return secret


class SharedMappings:
    """One dict for every equal mapping of strings (same items in the same order): the
    managed label set and the ``ca.crt`` of one CA are the same for thousands of cached
    Secrets, which treat them as read-only. The table holds them weakly, so Secrets that
    come and go leave nothing behind."""

    def __init__(self) -> None:
        self._by_items: weakref.WeakValueDictionary[tuple[tuple[str, str], ...], _Shared] = (
            weakref.WeakValueDictionary()
        )

    def get(self, mapping: dict[str, Any]) -> dict[str, Any]:
        items = tuple(mapping.items())
        if not all(type(value) is str for _, value in items):
            return mapping
        found = self._by_items.get(items)
        if found is None:
            found = self._by_items[items] = _Shared(mapping)
        return found

    def __len__(self) -> int:
        return len(self._by_items)


class _Shared(dict[str, Any]):
    """A plain dict to its readers, that the table can hold weakly."""

    __slots__ = ("__weakref__",)


_SHARED = SharedMappings()


# The keys issuance writes beside tls.crt/tls.key when the spec asks for them.
_BUILT: Final = (
    OUTPUT_DER,
    OUTPUT_COMBINED_PEM,
    KEYSTORE_P12,
    TRUSTSTORE_P12,
    KEYSTORE_JKS,
    TRUSTSTORE_JKS,
)

# By (whether tls.key decodes to something, whether both values are canonical): a
# trimmed Secret has data and a tls.crt that parsed.
_TRIMMED: Final = {
    (key, canonical): Trimmed(
        has_data=True,
        filled=frozenset(TRIMMED_KEYS) if key else frozenset({"tls.crt"}),
        canonical=canonical,
    )
    for key in (True, False)
    for canonical in (True, False)
}


def trimmed(secret: object) -> Trimmed | None:
    """What ``secret`` says of the values its cached copy does not hold (None: it holds
    all its data)."""
    return secret.trimmed if isinstance(secret, ManagedSecret) else None


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


def certificate_digest(secret: Obj) -> bytes | None:
    """SHA-256 of the Secret's ``tls.crt``, None when it has none (or it does not decode)."""
    if isinstance(secret, ManagedSecret) and secret.trimmed is not None:
        leaf = secret.summary.leaf
        assert leaf is not None  # only a Secret whose leaf parsed is trimmed
        return leaf.pem_sha256
    pem = _decoded((secret.get("data") or {}).get("tls.crt"))
    return hashlib.sha256(pem).digest() if pem else None


def _canonical(value: object, decoded: bytes) -> bool:
    """Whether a non-empty data ``value`` (``decoded``: its ``_decoded``) is written back
    as the same text once decoded and encoded."""
    return bool(decoded) and base64.b64encode(decoded).decode("ascii") == value


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
