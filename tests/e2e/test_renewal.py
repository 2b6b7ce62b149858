"""Renewal and reissuance as a user sees them: ``certmgr run`` as its own process against the
API simulator + data plane + Pebble, every change made and observed through the API.

A ``Recorder`` watches the Certificate and its Secret for the whole test, so the
assertions cover every stored version (every Secret a workload could have mounted, every
Issuing reason), not only the state at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api.codec import parse_rfc3339
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Gone
from certmgr.pki.certificates import parse_leaf
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import parse_private_key, public_keys_equal
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.localenv import EXAMPLES_DIR, LocalEnvironment, local_environment
from certmgr.testing.pebble import PebbleConfig, PebbleServer
from certmgr.testing.pebble_fixtures import PebbleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "web"
SECRET = "web-tls"
ISSUER = "letsencrypt-staging"  # examples/clusterissuer-letsencrypt-staging.yaml
DEADLINE = 60.0
REVISION_ANNOTATION = "cert-manager.io/certificate-revision"
# Pebble's lifetime for the renewal test, and the share of it left when renewal starts:
# renewal 6 s after issuance, and the certificate stays valid for the whole test.
SHORT_VALIDITY = 60
RENEW_BEFORE_PERCENTAGE = 90


@dataclass
class Recorder:
    """Every version of one object the API stored while the test ran, via a watch."""

    resource: r.Resource
    name: str
    namespace: str
    versions: list[dict[str, Any] | None] = field(default_factory=list)

    async def run(self, client: KubeClient) -> None:
        while True:
            listed = await client.list(
                self.resource,
                namespace=self.namespace,
                field_selector=f"metadata.name={self.name}",
            )
            self.versions.extend(listed.items)
            try:
                async for event in client.watch(
                    self.resource,
                    namespace=self.namespace,
                    resource_version=listed.resource_version,
                    field_selector=f"metadata.name={self.name}",
                ):
                    if event.type in ("ADDED", "MODIFIED"):
                        self.versions.append(event.object)
                    elif event.type == "DELETED":
                        self.versions.append(None)
            except Gone:
                continue

    @property
    def present(self) -> list[dict[str, Any]]:
        return [v for v in self.versions if v is not None]


@dataclass
class Scene:
    env: LocalEnvironment
    client: KubeClient
    certificate: Recorder
    secret: Recorder

    @property
    def namespace(self) -> str:
        return self.env.namespace

    async def get(self) -> dict[str, Any] | None:
        return await self.env.read("cert-manager.io/v1", "Certificate", NAME)

    async def get_secret(self) -> dict[str, Any] | None:
        return await self.env.read("v1", "Secret", SECRET)

    async def requests(self) -> list[dict[str, Any]]:
        return await self.env.read_all("cert-manager.io/v1", "CertificateRequest", self.namespace)

    async def eventually(self, probe: Callable[[], Any], *, what: str) -> Any:
        return await self.env.eventually(probe, what=what, within=DEADLINE)

    async def ready(self, revision: int) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            c = await self.get()
            return c if c and is_ready(c, revision=revision) else None

        found: dict[str, Any] = await self.eventually(
            probe, what=f"Certificate Ready at revision {revision}"
        )
        return found

    def issuing_reasons(self) -> list[str]:
        """The reason of each transition to Issuing=True the Certificate went through."""
        seen: list[str] = []
        issuing_before = False
        for version in self.certificate.present:
            issuing = condition(version, "Issuing")
            now_issuing = issuing.get("status") == "True"
            if now_issuing and not issuing_before:
                seen.append(issuing["reason"])
            issuing_before = now_issuing
        return seen


@pytest.fixture
async def scene_factory(
    tmp_path: Path, kube_cluster: KubeCluster
) -> AsyncIterator[Callable[[PebbleServer], contextlib.AbstractAsyncContextManager[Scene]]]:
    @contextlib.asynccontextmanager
    async def make(pebble: PebbleServer) -> AsyncIterator[Scene]:
        async with local_environment(tmp_path, pebble=pebble, cluster=kube_cluster) as env:
            client = await KubeClient.connect(kubeconfig=str(env.admin_kubeconfig))
            async with client:
                scene = Scene(
                    env,
                    client,
                    Recorder(r.CERTIFICATES, NAME, env.namespace),
                    Recorder(r.SECRETS, SECRET, env.namespace),
                )
                tasks = [
                    asyncio.create_task(scene.certificate.run(client)),
                    asyncio.create_task(scene.secret.run(client)),
                ]
                try:
                    await env.put(
                        [env.issuer_for_pebble(EXAMPLES_DIR / f"clusterissuer-{ISSUER}.yaml")]
                    )
                    env.start_controller()
                    yield scene
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)

    yield make


def certificate_manifest(namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "secretName": SECRET,
            "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "dnsNames": ["web.example.com"],
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            **spec,
        },
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for found in (obj.get("status") or {}).get("conditions") or ():
        if found.get("type") == type_:
            return dict(found)
    return {}


def is_ready(certificate: dict[str, Any], *, revision: int) -> bool:
    return (
        condition(certificate, "Ready").get("status") == "True"
        and (certificate.get("status") or {}).get("revision") == revision
        and condition(certificate, "Issuing").get("status") != "True"
    )


def decoded(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def leaf(secret: dict[str, Any] | None) -> x509.Certificate:
    assert secret is not None
    return parse_leaf(decoded(secret)["tls.crt"])


def holds_valid_key_pair(secret: dict[str, Any]) -> bool:
    data = decoded(secret)
    try:
        return public_keys_equal(
            parse_private_key(data["tls.key"]),
            parse_leaf(data["tls.crt"]).public_key(),  # type: ignore[arg-type]
        )
    except (KeyError, PKIError):
        return False


def dns_names(certificate: x509.Certificate) -> list[str]:
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(sans.get_values_for_type(x509.DNSName))


def revisions_of(requests: list[dict[str, Any]]) -> list[str]:
    return sorted(
        (q["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "") for q in requests
    )


async def reissue_after(scene: Scene, change: Callable[[], Any]) -> tuple[x509.Certificate, ...]:
    """Issue revision 1, apply ``change``, wait for revision 2: (first leaf, second leaf)."""
    await scene.env.put([certificate_manifest(scene.namespace)])
    await scene.ready(revision=1)
    first = leaf(await scene.get_secret())
    result = change()
    if asyncio.iscoroutine(result):
        await result
    await scene.ready(revision=2)
    second = leaf(await scene.get_secret())
    assert second.serial_number != first.serial_number
    return first, second


async def test_renewal_time_brings_a_real_second_issuance_without_a_gap(
    pebble_factory: PebbleFactory,
    scene_factory: Callable[[PebbleServer], contextlib.AbstractAsyncContextManager[Scene]],
) -> None:
    pebble = pebble_factory(PebbleConfig(certificate_validity_period=SHORT_VALIDITY))
    async with scene_factory(pebble) as scene:
        await scene.env.put(
            [certificate_manifest(scene.namespace, renewBeforePercentage=RENEW_BEFORE_PERCENTAGE)]
        )
        first_status = (await scene.ready(revision=1))["status"]
        first = leaf(await scene.get_secret())
        renewal = parse_rfc3339(first_status["renewalTime"])
        lifetime = first.not_valid_after_utc - first.not_valid_before_utc
        # 90 % of the lifetime before notAfter, to the second; no jitter below 100 s.
        expected = first.not_valid_after_utc - lifetime * RENEW_BEFORE_PERCENTAGE / 100
        assert renewal == expected.replace(microsecond=0)
        assert renewal > datetime.now(renewal.tzinfo)  # it is the scheduler that renews

        await scene.ready(revision=2)
        second = leaf(await scene.get_secret())
        assert second.serial_number != first.serial_number
        assert second.not_valid_before_utc >= renewal

        # Readiness moves renewalTime to the new certificate's, just after the revision.
        async def renewal_time_moved() -> bool:
            certificate = await scene.get()
            assert certificate is not None
            return parse_rfc3339(certificate["status"]["renewalTime"]) > renewal

        await scene.eventually(renewal_time_moved, what="renewalTime of revision 2")
        # The second issuance started at renewalTime, by the clock, for that reason.
        started = next(
            parse_rfc3339(issuing["lastTransitionTime"])
            for version in scene.certificate.present
            if (issuing := condition(version, "Issuing")).get("reason") == "Renewing"
        )
        assert renewal <= started <= renewal + (second.not_valid_before_utc - renewal)
        assert scene.issuing_reasons()[-1] == "Renewing"

        # revisionHistoryLimit defaults to 1: revision 1's request goes.
        async def revision_1_pruned() -> bool:
            return "1" not in revisions_of(await scene.requests())

        await scene.eventually(revision_1_pruned, what="revision 1 request pruned")
        assert "2" in revisions_of(await scene.requests())

        # Every version of the Secret a workload could have read held a matching pair.
        versions = scene.secret.versions
        assert None not in versions, "the Secret was deleted during renewal"
        assert {leaf(v).serial_number for v in versions} >= {
            first.serial_number,
            second.serial_number,
        }
        assert all(holds_valid_key_pair(v) for v in versions if v is not None)


async def test_certmgr_renew_makes_the_running_controller_reissue(
    pebble: PebbleServer,
    scene_factory: Callable[[PebbleServer], contextlib.AbstractAsyncContextManager[Scene]],
) -> None:
    async with scene_factory(pebble) as scene:

        async def renew() -> None:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "certmgr",
                "renew",
                NAME,
                "-n",
                scene.namespace,
                f"--kubeconfig={scene.env.admin_kubeconfig}",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                output, _ = await asyncio.wait_for(process.communicate(), DEADLINE)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            assert process.returncode == 0, output.decode()

        await reissue_after(scene, renew)
        assert scene.issuing_reasons() == ["DoesNotExist", "ManuallyTriggered"]
        assert all(holds_valid_key_pair(v) for v in scene.secret.present)


async def test_deleting_the_secret_reissues(
    pebble: PebbleServer,
    scene_factory: Callable[[PebbleServer], contextlib.AbstractAsyncContextManager[Scene]],
) -> None:
    async with scene_factory(pebble) as scene:
        await reissue_after(
            scene, lambda: scene.client.delete(r.SECRETS, SECRET, namespace=scene.namespace)
        )
        assert scene.issuing_reasons() == ["DoesNotExist", "DoesNotExist"]
        assert holds_valid_key_pair(await scene.get_secret() or {})


async def test_tampering_with_the_private_key_reissues(
    pebble: PebbleServer,
    scene_factory: Callable[[PebbleServer], contextlib.AbstractAsyncContextManager[Scene]],
) -> None:
    async with scene_factory(pebble) as scene:

        async def tamper() -> None:
            secret = await scene.client.get(r.SECRETS, SECRET, namespace=scene.namespace)
            other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            secret["data"]["tls.key"] = base64.b64encode(other).decode()
            await scene.client.update(r.SECRETS, secret)

        await reissue_after(scene, tamper)
        assert scene.issuing_reasons() == ["DoesNotExist", "InvalidKeyPair"]
        assert holds_valid_key_pair(await scene.get_secret() or {})


async def test_changing_dns_names_reissues_with_the_new_names(
    pebble: PebbleServer,
    scene_factory: Callable[[PebbleServer], contextlib.AbstractAsyncContextManager[Scene]],
) -> None:
    async with scene_factory(pebble) as scene:
        names = ["web.example.com", "www.example.org"]
        first, second = await reissue_after(
            scene,
            lambda: scene.client.patch(
                r.CERTIFICATES, NAME, {"spec": {"dnsNames": names}}, namespace=scene.namespace
            ),
        )
        assert dns_names(first) == ["web.example.com"]
        assert dns_names(second) == names
        assert scene.issuing_reasons() == ["DoesNotExist", "RequestChanged"]

        async def only_revision_2() -> bool:
            return revisions_of(await scene.requests()) == ["2"]

        await scene.eventually(only_revision_2, what="revision 1 request pruned")
