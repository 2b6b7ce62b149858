"""SecretInformers against the simulator: managed Secrets cached in full, the others as
keys only, and Secrets moving between the two as their label changes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.pki.certificates import encode_pem
from certmgr.pki.keys import encode_private_key, generate_private_key
from certmgr.runtime.cache import object_key
from certmgr.runtime.informer_secrets import (
    MANAGED_LABEL,
    SecretInformers,
    secret_summary,
    with_managed_label,
)
from certmgr.testing.apiserver import Simulator

pytestmark = pytest.mark.simulator_only("counts the informer's API requests")

NS = "default"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator.in_thread(bookmark_interval=0.1) as simulator:
        yield simulator


@pytest.fixture
async def kube(sim: Simulator, tmp_path: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=str(sim.kubeconfig(tmp_path / "kc"))) as c:
        yield c


def secret(name: str, *, managed: bool, cert: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": NS},
        "type": "Opaque",
        "data": {"payload": "c2VjcmV0"},
    }
    if cert:
        body["metadata"]["annotations"] = {"cert-manager.io/certificate-name": cert}
    return with_managed_label(body) if managed else body


def by_certificate(obj: dict[str, Any]) -> list[str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    name = annotations.get("cert-manager.io/certificate-name")
    return [f"{obj['metadata']['namespace']}/{name}"] if name else []


class Heard:
    """Handler that lets a test wait until a condition on the caches holds."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, event_type: str, old: Any, new: Any) -> None:
        self.keys.append((event_type, object_key(new or old)))
        self._changed.set()

    async def until(self, condition: Callable[[], bool], *, seconds: float = 10) -> None:
        async with asyncio.timeout(seconds):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def secrets(kube: KubeClient) -> AsyncIterator[tuple[SecretInformers, Heard]]:
    for i in range(3):
        await kube.create(
            r.SECRETS, secret(f"other-{i}", managed=False, cert="adopt-me" if i == 0 else None)
        )
    for i in range(2):
        await kube.create(r.SECRETS, secret(f"ours-{i}", managed=True, cert=f"cert-{i}"))
    heard = Heard()
    informers = SecretInformers(
        kube, namespace=NS, on_event=heard, indexes={"certificate": by_certificate}
    )
    task = asyncio.create_task(informers.run())
    await informers.wait_synced(timeout=10)
    yield informers, heard
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_only_managed_secrets_keep_their_data(
    secrets: tuple[SecretInformers, Heard],
) -> None:
    informers, heard = secrets
    assert sorted(k for _, k in heard.keys) == [
        "default/other-0", "default/other-1", "default/other-2", "default/ours-0", "default/ours-1",
    ]  # fmt: skip
    ours = informers.cached(NS, "ours-0")
    assert ours is not None and ours["data"] == {"payload": "c2VjcmV0"}
    assert "managedFields" not in ours["metadata"]
    stub = informers.cached(NS, "other-1")
    assert stub is not None
    assert stub["metadata"].pop("resourceVersion")
    assert stub == {"metadata": {"name": "other-1", "namespace": NS}}
    assert informers.exists(NS, "other-1") and not informers.is_managed(NS, "other-1")
    assert not informers.exists(NS, "missing")


async def test_get_fetches_an_unmanaged_secret_on_demand(
    sim: Simulator, secrets: tuple[SecretInformers, Heard]
) -> None:
    informers, _ = secrets
    before = sim.requests.count(verb="get", resource="secrets")
    ours = await informers.get(NS, "ours-1")
    assert ours is not None and ours["data"]
    assert sim.requests.count(verb="get", resource="secrets") == before  # from the cache
    other = await informers.get(NS, "other-2")
    assert other is not None and other["data"] == {"payload": "c2VjcmV0"}
    assert sim.requests.count(verb="get", resource="secrets") == before + 1
    assert await informers.get(NS, "missing") is None


async def test_indexes_cover_both_caches(secrets: tuple[SecretInformers, Heard]) -> None:
    informers, _ = secrets
    assert [o["metadata"]["name"] for o in informers.by_index("certificate", "default/cert-1")] == [
        "ours-1"
    ]
    # The unmanaged Secret is filed from its metadata as it arrived, though only a stub is kept.
    assert [
        o["metadata"]["name"] for o in informers.by_index("certificate", "default/adopt-me")
    ] == ["other-0"]


async def test_label_moves_a_secret_between_the_caches(
    kube: KubeClient, secrets: tuple[SecretInformers, Heard]
) -> None:
    informers, heard = secrets
    await kube.patch(
        r.SECRETS, "other-0", {"metadata": {"labels": {MANAGED_LABEL: "true"}}}, namespace=NS
    )
    await heard.until(
        lambda: (
            informers.is_managed(NS, "other-0")
            and ("default", "other-0") not in informers.unmanaged.cache
        )
    )
    adopted = informers.cached(NS, "other-0")
    assert adopted is not None and adopted["data"] == {"payload": "c2VjcmV0"}

    await kube.patch(
        r.SECRETS, "ours-0", {"metadata": {"labels": {MANAGED_LABEL: None}}}, namespace=NS
    )
    await heard.until(
        lambda: not informers.is_managed(NS, "ours-0") and informers.exists(NS, "ours-0")
    )
    await kube.delete(r.SECRETS, "ours-0", namespace=NS)
    await heard.until(lambda: not informers.exists(NS, "ours-0"))
    assert ("DELETED", "default/ours-0") in heard.keys


async def test_a_certificates_secret_is_viewed_from_the_cache_and_got_whole_from_the_api(
    sim: Simulator, kube: KubeClient, secrets: tuple[SecretInformers, Heard]
) -> None:
    informers, heard = secrets
    key = generate_private_key(algorithm="ECDSA")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web")])
    now = datetime.now(UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    data = {
        "tls.crt": base64.b64encode(encode_pem([leaf])).decode(),
        "tls.key": base64.b64encode(encode_private_key(key)).decode(),
    }
    body = with_managed_label({"metadata": {"name": "web-tls", "namespace": NS}, "data": data})
    await kube.create(r.SECRETS, body)
    await heard.until(lambda: informers.is_managed(NS, "web-tls"))
    before = sim.requests.count(verb="get", resource="secrets")

    viewed = await informers.view(NS, "web-tls")
    assert viewed is not None and viewed["data"] == {}  # the PEM is not cached...
    summary = secret_summary(viewed)  # ...its summary is
    assert summary.leaf is not None and summary.key is not None
    assert summary.leaf.public_key == summary.key.public_key
    assert sim.requests.count(verb="get", resource="secrets") == before

    whole = await informers.get(NS, "web-tls")
    assert whole is not None and whole["data"] == data
    assert sim.requests.count(verb="get", resource="secrets") == before + 1
