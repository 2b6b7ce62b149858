"""The key manager: the private key of the issuance in progress, in a temporary Secret.

Owns the next-private-key Secret (labelled ``cert-manager.io/next-private-key=true`` and
with the managed label so it is cached with its data, owned by the Certificate) and
``status.nextPrivateKeySecretName``. The Secret's name is deterministic,
``next_key_secret_name``: ``<cert>-`` and five characters hashed from the Certificate's
uid and the issuance attempt (cert-manager's ``generateName`` shape), so the trigger
writes it in the same status write that starts the issuance, and a create retried after
a lost status write or a lagging cache finds the Secret (AlreadyExists) instead of
making a second one (which then had to be deleted too). While ``Issuing=True``
exactly one such Secret exists and holds a key matching
``spec.privateKey``: rotation policy ``Never`` copies the key of the current Secret when
it still matches the spec, ``Always`` (cert-manager's default since 1.18) generates one.
When not issuing, every next-key Secret is deleted and the status field cleared.
It must not touch requests, the target Secret or any other status field.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any, Final

import structlog

from certmgr.api import labels
from certmgr.api.certificates import RotationPolicy
from certmgr.api.reasons import EVENT_GENERATED, EVENT_REUSED
from certmgr.controllers.certificates.gather import (
    NEXT_KEYS,
    certificates,
    next_key_secrets,
    secret_data,
)
from certmgr.controllers.certificates.spec import (
    CertificateView,
    owner_reference,
    requirements_of,
    shorten_name,
)
from certmgr.controllers.certificates.status import (
    CACHE_WAIT_SECONDS,
    status_of,
    write_status,
)
from certmgr.controllers.certificates.watches import (
    Interest,
    either_side,
    issuing,
    stored_may_name_next_private_key,
    watch_certificate_world,
)
from certmgr.controllers.context import Context
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import SECRETS
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import (
    PrivateKey,
    encode_private_key,
    generate_private_key_for_spec,
    key_matches_spec,
    parse_private_key,
)
from certmgr.runtime.cache import Cache, Obj, split_key
from certmgr.runtime.controller import Result, TerminalError
from certmgr.runtime.informer_secrets import MANAGED_LABEL

log = structlog.get_logger(__name__)

NAME = "certificates-keymanager"
TLS_KEY = "tls.key"
# Which issuance attempt (the Issuing condition's lastTransitionTime) a key was made for,
# so a key left over from the previous attempt is never adopted into this one.
ATTEMPT_ANNOTATION = "certmgr.io/issuance-attempt"
# The characters Kubernetes' generateName suffixes use (no vowels, no look-alikes).
_SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH: Final = 5


def next_key_secret_name(certificate: CertificateView) -> str:
    """The next private key's Secret name for ``certificate``'s issuance attempt.

    ``<cert>-xxxxx`` like cert-manager's ``generateName``, but a function of the uid and
    the attempt (the Issuing condition's lastTransitionTime), so whoever starts the
    attempt can name it and every retry names the same Secret.
    """
    digest = hashlib.sha256(f"{certificate.uid}\0{certificate.issuing_since}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    suffix = ""
    for _ in range(_SUFFIX_LENGTH):
        number, index = divmod(number, len(_SUFFIX_ALPHABET))
        suffix += _SUFFIX_ALPHABET[index]
    return f"{shorten_name(certificate.name)}-{suffix}"


def setup(ctx: Context) -> None:
    manager = KeyManager(ctx)
    controller = ctx.manager.controller(NAME, manager.reconcile, workers=ctx.settings.workers)
    watch_certificate_world(ctx, controller, interest(ctx))


def interest(ctx: Context) -> Interest:
    """A Certificate concerns the key manager while issuing, while its status names a
    next key, or while a next-key Secret of it is cached (to clean up); requests and
    the target Secret never do (the target is read when a key is made, as it then is)."""
    next_keys = ctx.manager.secrets.managed.cache

    def has_key_work(certificate: Obj) -> bool:
        if issuing(certificate) or bool(next_keys.by_index(NEXT_KEYS, _key(certificate))):
            return True
        return stored_may_name_next_private_key(certificate) and bool(
            CertificateView.of(certificate).status.next_private_key_secret_name
        )

    return Interest(
        certificate=either_side(has_key_work),
        requests=None,
        target_secrets=None,
        next_key_secrets=lambda _secret, certificate: has_key_work(certificate),
    )


def _key(certificate: Obj) -> str:
    """``CertificateView.key``, without decoding the Certificate."""
    metadata = certificate.get("metadata") or {}
    return f"{metadata.get('namespace') or ''}/{metadata['name']}"


def next_private_key(secret: Obj | None) -> PrivateKey | None:
    """The key stored in a next-private-key Secret, or None when absent or unreadable."""
    if secret is None:
        return None
    try:
        return parse_private_key(secret_data(secret).get(TLS_KEY, b""))
    except PKIError:
        return None


class KeyManager:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._certificates = certificates(ctx)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        obj = self._certificates.cache.get(namespace, name)
        if obj is None:
            return None  # owned Secrets go with it (garbage collection)
        certificate = CertificateView.of(obj)
        if certificate.deleting:
            return None  # no new key; its Secrets go with it (garbage collection)
        existing = next_key_secrets(self._ctx, certificate)
        if certificate.issuing is None:
            await self._clean_up(certificate, existing)
            return None
        problem = certificate.problem()
        if problem is not None:
            raise TerminalError(f"certificate spec cannot be issued: {problem}")
        # Normally the trigger named the Secret when it started the attempt; an Issuing
        # condition written by a user tool (a manual renew) comes without a name.
        recorded = certificate.status.next_private_key_secret_name
        wanted = recorded or next_key_secret_name(certificate)
        stale = [s for s in existing if s["metadata"]["name"] != wanted]
        if stale:
            # More than one, or one we cannot use: start from a clean slate, as
            # cert-manager does.
            await self._delete(certificate, stale)
        secret = next((s for s in existing if s["metadata"]["name"] == wanted), None)
        if secret is not None and not self._usable(certificate, secret, adopting=not recorded):
            log.info("next_private_key_outdated", secret=wanted)
            await self._delete(certificate, [secret])
            secret = None
        if secret is None and not await self._create(certificate, obj, name=wanted):
            return None  # the cache is behind our own earlier create; its event brings us back
        if not recorded:
            status = status_of(obj)
            status["nextPrivateKeySecretName"] = wanted
            await write_status(self._ctx, self._certificates, obj, status)
        return None

    def _usable(self, certificate: CertificateView, secret: Obj, *, adopting: bool) -> bool:
        """Whether ``secret`` holds a key for this attempt: it matches the spec and, when
        the status does not name it yet, was made for this attempt (never adopt a key
        left over from an earlier one)."""
        spec = certificate.spec
        assert spec is not None
        key = next_private_key(secret)
        if key is None or not key_matches_spec(key, requirements_of(spec).key_spec):
            return False
        annotations = secret["metadata"].get("annotations") or {}
        return not adopting or annotations.get(ATTEMPT_ANNOTATION) == certificate.issuing_since

    async def _clean_up(self, certificate: CertificateView, existing: list[Obj]) -> None:
        await self._delete(certificate, existing)
        if certificate.status.next_private_key_secret_name:
            status = status_of(certificate.obj)
            status.pop("nextPrivateKeySecretName", None)
            await write_status(self._ctx, self._certificates, certificate.obj, status)

    async def _delete(self, certificate: CertificateView, secrets: list[Obj]) -> None:
        for secret in secrets:
            name, uid = secret["metadata"]["name"], secret["metadata"].get("uid")
            try:
                await self._ctx.client.delete(
                    SECRETS, name, namespace=certificate.namespace, preconditions={"uid": uid}
                )
            except NotFound:
                pass
            else:
                log.info("next_private_key_deleted", secret=name)
            await self._wait_uncached(certificate.namespace, name, uid)

    async def _wait_uncached(self, namespace: str, name: str, uid: str | None) -> None:
        """Read-your-deletes, as ``write_status`` reads its writes: the Secret's watch
        lags the Certificate's, so without this the next reconcile (say, for Ready=True)
        still sees the Secret and deletes it a second time (a 404, but a write)."""

        def gone(cache: Cache) -> bool:
            cached = cache.get(namespace, name)
            return cached is None or cached["metadata"].get("uid") != uid

        try:
            await self._ctx.manager.secrets.managed.cache.wait_until(
                gone, timeout=CACHE_WAIT_SECONDS
            )
        except TimeoutError:
            log.debug("cache_wait_timeout", secret=name)

    async def _create(self, certificate: CertificateView, obj: Obj, *, name: str) -> bool:
        """Store a key in Secret ``name``; False when it exists already (our cache is
        behind our own earlier create)."""
        key, reused = await self._choose_key(certificate)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": certificate.namespace,
                "labels": {labels.NEXT_PRIVATE_KEY: "true", MANAGED_LABEL: "true"},
                "annotations": {ATTEMPT_ANNOTATION: certificate.issuing_since},
                "ownerReferences": [owner_reference(certificate)],
            },
            "type": "Opaque",
            "data": {TLS_KEY: base64.b64encode(encode_private_key(key, encoding="PKCS8")).decode()},
        }
        try:
            await self._ctx.client.create(SECRETS, body, namespace=certificate.namespace)
        except AlreadyExists:
            return False
        reason, message = (
            (EVENT_REUSED, "Reusing private key stored in existing Secret resource")
            if reused
            else (
                EVENT_GENERATED,
                f'Stored new private key in temporary Secret resource "{name}"',
            )
        )
        self._ctx.events.event(obj, "Normal", reason, message)
        log.info("next_private_key_stored", secret=name, reused=reused)
        return True

    async def _choose_key(self, certificate: CertificateView) -> tuple[PrivateKey, bool]:
        spec = certificate.spec
        assert spec is not None
        key_spec = requirements_of(spec).key_spec
        if spec.effective_private_key.effective_rotation_policy is RotationPolicy.NEVER:
            current = await self._ctx.manager.secrets.get(certificate.namespace, spec.secret_name)
            if current is not None:
                try:
                    key = parse_private_key(secret_data(current).get(TLS_KEY, b""))
                except PKIError:
                    key = None
                if key is not None and key_matches_spec(key, key_spec):
                    return key, True
        if key_spec.algorithm != "RSA":
            # ECDSA and Ed25519 keys take microseconds: a thread hop would cost more.
            return generate_private_key_for_spec(key_spec), False
        # RSA 4096 takes a second or more: keep the event loop free.
        return await asyncio.to_thread(generate_private_key_for_spec, key_spec), False
