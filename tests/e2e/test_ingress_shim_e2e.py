"""ingress-shim's HTTP-01 annotations end to end: an annotated Ingress, ``certmgr run`` as
its own process, the staging ClusterIssuer of ``examples/`` pointed at Pebble, and the
data plane's router answering Pebble's validation. Every version of every Ingress and
Challenge the API stores is recorded through a watch, so a solver path that exists for a
few milliseconds is still seen; the rest is observed through the API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Gone
from certmgr.pki.certificates import parse_leaf
from certmgr.pki.temporary import is_temporary_certificate
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.localenv import EXAMPLES_DIR, LocalEnvironment, local_environment
from certmgr.testing.pebble import PebbleServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ISSUER = "letsencrypt-staging"  # examples/clusterissuer-letsencrypt-staging.yaml
CERT = ("cert-manager.io/v1", "Certificate")
DEADLINE = 60.0
CHALLENGE_PATH = "/.well-known/acme-challenge/"


@dataclass
class Recorder:
    """Every version of every object of a kind in the namespace, via list + watch."""

    resource: r.Resource
    namespace: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, client: KubeClient) -> None:
        while True:
            listed = await client.list(self.resource, namespace=self.namespace)
            self.versions.extend(listed.items)
            self.started.set()
            with contextlib.suppress(Gone):
                async for event in client.watch(
                    self.resource,
                    namespace=self.namespace,
                    resource_version=listed.resource_version,
                ):
                    if event.type in ("ADDED", "MODIFIED"):
                        self.versions.append(event.object)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [v for v in self.versions if v["metadata"]["name"] == name]


@dataclass
class Scene:
    env: LocalEnvironment
    client: KubeClient
    ingresses: Recorder
    challenges: Recorder

    async def eventually(self, probe: Callable[[], Any], *, what: str) -> Any:
        return await self.env.eventually(probe, what=what, within=DEADLINE)

    @property
    def namespace(self) -> str:
        return self.env.namespace

    async def certificate(self, name: str) -> dict[str, Any] | None:
        return await self.env.read(*CERT, name)

    async def ingress(self, name: str) -> dict[str, Any] | None:
        return await self.env.read("networking.k8s.io/v1", "Ingress", name)

    async def ready_certificate(self, name: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            c = await self.certificate(name)
            return c if ready(c) else None

        found: dict[str, Any] = await self.eventually(probe, what=f"Certificate {name} Ready")
        return found

    def solver_ingresses(self) -> list[dict[str, Any]]:
        """Every recorded version of an Ingress carrying the solver label."""
        return [v for v in self.ingresses.versions if is_solver_ingress(v)]

    async def live_solver_ingresses(self) -> list[dict[str, Any]]:
        return [
            i
            for i in await self.env.read_all("networking.k8s.io/v1", "Ingress", self.namespace)
            if is_solver_ingress(i)
        ]


@pytest.fixture
async def scene(
    pebble: PebbleServer, kube_cluster: KubeCluster, tmp_path: Path
) -> AsyncIterator[Scene]:
    async with local_environment(tmp_path, pebble=pebble, cluster=kube_cluster) as env:
        client = await KubeClient.connect(kubeconfig=str(env.admin_kubeconfig))
        async with client:
            recorders = Recorder(r.INGRESSES, env.namespace), Recorder(r.CHALLENGES, env.namespace)
            scene = Scene(env, client, *recorders)
            tasks = [
                asyncio.create_task(scene.ingresses.run(client)),
                asyncio.create_task(scene.challenges.run(client)),
            ]
            try:
                async with asyncio.timeout(DEADLINE):
                    await scene.ingresses.started.wait()
                    await scene.challenges.started.wait()
                await env.put(
                    [env.issuer_for_pebble(EXAMPLES_DIR / f"clusterissuer-{ISSUER}.yaml")]
                )
                env.start_controller()
                yield scene
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


def ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_solver_ingress(ingress: dict[str, Any]) -> bool:
    return (ingress["metadata"].get("labels") or {}).get(labels.HTTP01_SOLVER) == "true"


def challenge_paths(ingress: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        path
        for rule in (ingress.get("spec") or {}).get("rules") or ()
        for path in (rule.get("http") or {}).get("paths") or ()
        if str(path.get("path") or "").startswith(CHALLENGE_PATH)
    ]


def annotated_ingress(
    name: str, host: str, *, namespace: str, **annotations: str
) -> dict[str, Any]:
    """An Ingress like ``examples/ingress-annotated.yaml`` with extra annotations."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"cert-manager.io/cluster-issuer": ISSUER, **annotations},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": name, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


async def test_edit_in_place_solves_on_the_users_ingress_and_restores_it(scene: Scene) -> None:
    (stored,) = await scene.env.put(
        [
            annotated_ingress(
                "web",
                "web.example.com",
                namespace=scene.namespace,
                **{labels.HTTP01_EDIT_IN_PLACE: "true"},
            )
        ]
    )
    original_rules = stored["spec"]["rules"]
    certificate = await scene.ready_certificate("web-tls")
    assert certificate["metadata"]["annotations"][labels.HTTP01_OVERRIDE_INGRESS_NAME] == "web"
    # The Challenge was told to edit this very Ingress, and did: its token's path was
    # added to the user's rule for the host, pointing at the solver's Service.
    challenges = scene.challenges.versions
    assert challenges, "no Challenge was recorded"
    assert {c["spec"]["solver"]["http01"]["ingress"].get("name") for c in challenges} == {"web"}
    token = challenges[0]["spec"]["token"]
    edited = [v for v in scene.ingresses.of("web") if challenge_paths(v)]
    assert edited, "the solver path never appeared on the Ingress"
    (path,) = challenge_paths(edited[0])
    assert path["path"] == CHALLENGE_PATH + token
    # Shared mode: the namespace's one solver Service, not one per Challenge.
    assert path["backend"]["service"]["name"] == SHARED_SERVICE
    assert edited[0]["spec"]["rules"][0]["host"] == "web.example.com"
    # No separate solver Ingress was ever created.
    assert scene.solver_ingresses() == []

    # Cleaned up: the user's Ingress is back to what the user wrote.
    async def restored() -> bool:
        ingress = await scene.ingress("web")
        return ingress is not None and ingress["spec"]["rules"] == original_rules

    await scene.eventually(restored, what="the solver path removed from the Ingress")
    assert scene.solver_ingresses() == []
    # Edit-in-place asks for a temporary certificate (ingress-gce programs no Ingress
    # without one): written while the order ran, then replaced by the issued certificate.
    assert certificate["metadata"]["annotations"][labels.ISSUE_TEMPORARY_CERTIFICATE] == "true"

    async def temporary_certificate_event() -> bool:
        return any(
            e.get("message") == "Issued temporary certificate"
            and e["involvedObject"]["name"] == "web-tls"
            for e in await scene.env.read_all("v1", "Event", scene.namespace)
        )

    await scene.eventually(temporary_certificate_event, what="the temporary certificate's Event")
    secret = await scene.env.read("v1", "Secret", "web-tls")
    assert secret is not None
    assert not is_temporary_certificate(parse_leaf(base64.b64decode(secret["data"]["tls.crt"])))


async def test_ingress_class_annotation_reaches_the_solver_ingress(scene: Scene) -> None:
    await scene.env.put(
        [
            annotated_ingress(
                "shop",
                "shop.example.com",
                namespace=scene.namespace,
                **{labels.HTTP01_INGRESS_CLASS: "nginx"},
            )
        ]
    )
    certificate = await scene.ready_certificate("shop-tls")
    assert certificate["metadata"]["annotations"][labels.HTTP01_OVERRIDE_INGRESS_CLASS] == "nginx"
    solver_versions = scene.solver_ingresses()
    assert solver_versions, "no solver Ingress was recorded"
    for version in solver_versions:
        # The class override replaces the issuer's ingressClassName with the annotation.
        assert version["metadata"]["annotations"][labels.INGRESS_CLASS] == "nginx"
        assert "ingressClassName" not in version["spec"]
        assert version["spec"]["rules"][0]["host"] == "shop.example.com"
    solvers = [c["spec"]["solver"]["http01"]["ingress"] for c in scene.challenges.versions]
    assert solvers and all(s == {"class": "nginx"} for s in solvers)
    # The user's Ingress is never edited without edit-in-place.
    assert not [v for v in scene.ingresses.of("shop") if challenge_paths(v)]

    async def no_live_solver_ingress() -> bool:
        return not await scene.live_solver_ingresses()

    await scene.eventually(no_live_solver_ingress, what="the solver Ingress removed")


async def test_deleting_the_ingress_deletes_its_certificates(scene: Scene) -> None:
    ingress = annotated_ingress("blog", "blog.example.com", namespace=scene.namespace)
    ingress["spec"]["tls"].append({"hosts": ["www.blog.example.com"], "secretName": "www-blog-tls"})
    await scene.env.put([ingress])
    first = await scene.ready_certificate("blog-tls")
    second = await scene.ready_certificate("www-blog-tls")
    uid = (await scene.ingress("blog"))["metadata"]["uid"]  # type: ignore[index]
    for certificate in (first, second):
        (owner,) = certificate["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("Ingress", uid, True)
    await scene.client.delete(r.INGRESSES, "blog", namespace=scene.namespace)

    async def certificates_gone() -> bool:
        return (
            await scene.certificate("blog-tls") is None
            and await scene.certificate("www-blog-tls") is None
        )

    await scene.eventually(certificates_gone, what="the Ingress's Certificates garbage-collected")

    # Not recreated by the shim once the Ingress is gone: the controller still runs and
    # has seen the deletions; the requests owned by the Certificates went with them.
    async def no_requests() -> bool:
        return not await scene.env.read_all(
            "cert-manager.io/v1", "CertificateRequest", scene.namespace
        )

    await scene.eventually(no_requests, what="the Certificates' requests garbage-collected")
    assert await certificates_gone()
    assert scene.env.controllers[0].running
