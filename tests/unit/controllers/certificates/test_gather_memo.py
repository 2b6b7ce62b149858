"""``gather`` keeps the last Input per Certificate and hands it out again (at the new
``now``) only while everything it was gathered from is the very same: the decoded
Certificate, the cached Secret, the revision asked for, and the requests and
Certificates its indexes answered. Each change below must read as a fresh gather."""

from __future__ import annotations

import base64
import copy
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.certificates import gather as gathering
from certmgr.controllers.certificates import setup_all
from certmgr.controllers.certificates.gather import at, certificates, gather, requests
from certmgr.controllers.certificates.spec import CertificateView
from certmgr.controllers.context import Context, Settings
from certmgr.policies.inputs import Input, IssuerRef, RequestView, SecretView
from certmgr.policies.renewal_windows import RenewalWindow
from certmgr.runtime.cache import Obj
from certmgr.runtime.informer_secrets import managed_secret
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock

NOW = datetime(2026, 3, 1, tzinfo=UTC)
UID = "u-web"


def certificate_obj(
    name: str = "web",
    *,
    uid: str = UID,
    created: str = "2026-02-01T00:00:00Z",
    revision: int = 1,
    version: str = "1",
) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": uid,
            "resourceVersion": version,
            "creationTimestamp": created,
        },
        "spec": {
            "secretName": "web-tls",
            "issuerRef": {"name": "ca", "kind": "Issuer"},
            "dnsNames": ["web.example.com"],
        },
        "status": {"revision": revision},
    }


def secret_obj(*, version: str = "1", certificate_name: str = "nobody") -> Obj:
    # Named for no Certificate: the oldest of those sharing it owns it.
    return {
        "metadata": {
            "name": "web-tls",
            "namespace": "default",
            "resourceVersion": version,
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {labels.CERTIFICATE_NAME: certificate_name},
        },
        "type": "kubernetes.io/tls",
    }


def request_obj(revision: int) -> Obj:
    return {
        "metadata": {
            "name": f"web-{revision}",
            "namespace": "default",
            "uid": f"u-request-{revision}",
            "resourceVersion": "1",
            "annotations": {
                labels.CERTIFICATE_NAME: "web",
                labels.CERTIFICATE_REVISION: str(revision),
            },
            "ownerReferences": [
                {"kind": "Certificate", "name": "web", "uid": UID, "controller": True}
            ],
        },
        "spec": {
            "request": base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----").decode(),
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
    }


def set_up() -> Context:
    manager = Manager(client=None, clock=FakeClock())  # type: ignore[arg-type]  # never called
    ctx = Context(
        client=None,  # type: ignore[arg-type]
        manager=manager,
        clock=manager.clock,
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )
    setup_all(ctx)
    certificates(ctx).cache.apply("ADDED", certificate_obj())
    ctx.manager.secrets.managed.cache.apply("ADDED", managed_secret(secret_obj()))
    requests(ctx).cache.apply("ADDED", request_obj(1))
    return ctx


def view(ctx: Context) -> CertificateView:
    obj = certificates(ctx).cache.get("default", "web")
    assert obj is not None
    return CertificateView.of(obj)


async def fresh(ctx: Context, **kwargs: Any) -> Input:
    gathering._gathered.clear()
    return await gather(ctx, view(ctx), now=NOW + timedelta(seconds=1), **kwargs)


def update_secret(ctx: Context) -> None:
    changed = secret_obj(version="2", certificate_name="other")
    ctx.manager.secrets.managed.cache.apply("MODIFIED", managed_secret(changed))


def add_request(ctx: Context) -> None:
    requests(ctx).cache.apply("ADDED", request_obj(2))


def add_older_sharer(ctx: Context) -> None:
    older = certificate_obj("aaa", uid="u-aaa", created="2026-01-01T00:00:00Z")
    certificates(ctx).cache.apply("ADDED", older)


def update_certificate(ctx: Context) -> None:
    certificates(ctx).cache.apply("MODIFIED", certificate_obj(revision=2, version="2"))


def nothing(ctx: Context) -> None:
    pass


@pytest.mark.parametrize(
    ("change", "kwargs"),
    [
        (update_secret, {}),
        (add_request, {}),
        (add_older_sharer, {}),
        (update_certificate, {}),
        (nothing, {"revision": 2}),
    ],
    ids=[
        "secret-updated",
        "request-added",
        "older-sharer-added",
        "certificate-updated",
        "another-revision",
    ],
)
async def test_what_changed_is_gathered_afresh(
    change: Callable[[Context], None], kwargs: dict[str, Any]
) -> None:
    ctx = set_up()
    first = await gather(ctx, view(ctx), now=NOW)
    change(ctx)

    again = await gather(ctx, view(ctx), now=NOW + timedelta(seconds=1), **kwargs)

    assert again == await fresh(ctx, **kwargs)
    assert dataclasses.replace(again, now=NOW) != first


async def test_an_unchanged_world_is_the_same_input_at_the_new_now() -> None:
    ctx = set_up()
    first = await gather(ctx, view(ctx), now=NOW)

    again = await gather(ctx, view(ctx), now=NOW + timedelta(seconds=1))

    assert again == dataclasses.replace(first, now=NOW + timedelta(seconds=1))
    assert again.secret is first.secret  # kept, not gathered again
    assert again == await fresh(ctx)


async def test_a_secret_fetched_from_the_api_is_not_kept() -> None:
    ctx = set_up()
    fetched = copy.deepcopy(secret_obj())  # a plain dict, as the API client returns it
    first = await gather(ctx, view(ctx), now=NOW, secret=fetched)
    fetched["metadata"]["annotations"][labels.CERTIFICATE_NAME] = "other"  # not ours: may change

    again = await gather(ctx, view(ctx), now=NOW, secret=fetched)

    assert again.secret is not first.secret
    assert again.secret is not None and again.secret.annotations[labels.CERTIFICATE_NAME] == "other"


def test_at_changes_only_now() -> None:
    every_field_set = Input(
        certificate_name="web",
        requirements="carried, not read",  # type: ignore[arg-type]
        issuer_ref=IssuerRef(name="ca"),
        secret=SecretView(data=None, has_data=False, filled=frozenset()),
        now=NOW,
        current_request=RequestView(csr_pem=b"a", issuer_ref=IssuerRef(name="ca")),
        next_request=RequestView(csr_pem=b"b", issuer_ref=IssuerRef(name="ca")),
        renew_before=timedelta(hours=1),
        renew_before_percentage=10,
        renewal_jitter_seconds=5,
        recorded_renewal_time=NOW,
        renewal_disabled=True,
        renewal_windows=(RenewalWindow(cron="0 0 * * *", duration=timedelta(hours=1)),),
        ari_window=(NOW, NOW),
        manually_triggered=True,
        last_failure_time=NOW,
        failed_issuance_attempts=2,
        secret_name="web-tls",
        secret_owner="other",
    )
    init_fields = [f.name for f in dataclasses.fields(Input) if f.init]
    defaults = Input(
        certificate_name="",
        requirements=None,  # type: ignore[arg-type]
        issuer_ref=IssuerRef(name=""),
        secret=None,
        now=NOW,
    )
    assert all(
        getattr(every_field_set, f) != getattr(defaults, f) for f in init_fields if f != "now"
    )

    later = NOW + timedelta(days=1)
    assert at(every_field_set, later) == dataclasses.replace(every_field_set, now=later)
