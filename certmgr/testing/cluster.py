"""The cluster a test runs against: a fresh in-process simulator, or a real API server.

Owns what a portable test needs from "a cluster", done the same way in both modes
through the API: the admin kubeconfig, installing ``crds/`` and deploy/'s RBAC
idempotently, unique namespaces deleted afterwards, and a kubeconfig for a
ServiceAccount from the TokenRequest API. ``CERTMGR_TEST_KUBECONFIG`` names the real
server (admin credentials). It must not touch simulator internals: ``simulator`` is
there for the tests that need its knobs, and is None against a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from certmgr import bundled
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import AlreadyExists, Conflict, NotFound
from certmgr.testing import gatewayapi
from certmgr.testing.apiserver.server import Simulator

ENV_VAR = "CERTMGR_TEST_KUBECONFIG"
# The packaged copies when installed from a wheel, the checkout's otherwise.
CRDS_DIR = bundled.folder("crds")
DEPLOY_DIR = bundled.folder("deploy")
CONTROLLER_NAMESPACE = "certmgr"
CONTROLLER_ACCOUNT = "certmgr"
# Every namespace a test makes carries this label, so a run's leftovers are easy to find.
TEST_LABEL = "certmgr.test/namespace"
# How long the end of a test waits for its namespaces to disappear before moving on.
NAMESPACE_DELETION_SECONDS = 60.0
_RBAC = "rbac.authorization.k8s.io"
_KINDS: dict[tuple[str, str], r.Resource] = {
    (res.api_version, res.kind): res
    for res in (
        *r.ALL,
        r.Resource(_RBAC, "v1", "ClusterRole", "clusterroles", namespaced=False),
        r.Resource(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        r.Resource(_RBAC, "v1", "Role", "roles", namespaced=True),
        r.Resource(_RBAC, "v1", "RoleBinding", "rolebindings", namespaced=True),
        *gatewayapi.RESOURCES,
        r.Resource(gatewayapi.GROUP, "v1", "ReferenceGrant", "referencegrants", namespaced=True),
    )
}
# Installs already done on the external server by this process: (kind of install, paths).
_INSTALLED: set[tuple[str, tuple[str, ...]]] = set()


def external_kubeconfig() -> Path | None:
    """The real server's admin kubeconfig, when the suite is pointed at one."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value) if value else None


def load_manifests(path: Path) -> list[dict[str, Any]]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def manifests(sources: Iterable[Path]) -> list[dict[str, Any]]:
    """The documents of YAML files and directories of them (sorted), in order."""
    docs: list[dict[str, Any]] = []
    for source in sources:
        files = sorted(source.glob("*.yaml")) if source.is_dir() else [source]
        for path in files:
            docs.extend(load_manifests(path))
    return docs


def crd_manifests() -> list[dict[str, Any]]:
    return [doc for doc in manifests([CRDS_DIR]) if doc.get("kind") == r.CRDS.kind]


def deploy_manifests() -> list[dict[str, Any]]:
    """deploy/'s Namespace, ServiceAccount and RBAC: not the Deployment, tests run the process."""
    return manifests(
        DEPLOY_DIR / name for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml")
    )


def resource_for(api_version: str, kind: str) -> r.Resource:
    found = _KINDS.get((api_version, kind))
    if found is None:
        raise ValueError(f"no resource known for {api_version} {kind}")
    return found


def resource_of(obj: dict[str, Any]) -> r.Resource:
    return resource_for(obj.get("apiVersion", ""), obj.get("kind", ""))


async def apply(client: KubeClient, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create each object, or replace the one that exists (``kubectl apply`` without the
    three-way merge: the manifest wins). CRDs are waited for until Established."""
    applied = [await _create_or_replace(client, doc) for doc in docs]
    for obj in applied:
        if obj.get("kind") == r.CRDS.kind:
            await _established(client, obj["metadata"]["name"])
    return applied


async def _create_or_replace(client: KubeClient, doc: dict[str, Any]) -> dict[str, Any]:
    resource = resource_of(doc)
    meta = doc["metadata"]
    namespace = meta.get("namespace") if resource.namespaced else None
    for _ in range(5):
        try:
            return await client.create(resource, doc, namespace=namespace)
        except AlreadyExists:
            pass
        current = await client.get(resource, meta["name"], namespace=namespace)
        version = current["metadata"]["resourceVersion"]
        try:
            return await client.update(
                resource, {**doc, "metadata": {**meta, "resourceVersion": version}}
            )
        except (Conflict, NotFound):
            continue  # changed or deleted under us: try again from the top
    raise RuntimeError(f"could not apply {resource.kind} {meta['name']!r}")


async def _established(client: KubeClient, name: str) -> None:
    async with asyncio.timeout(30.0):
        while True:
            crd = await client.get(r.CRDS, name)
            conditions = (crd.get("status") or {}).get("conditions") or ()
            if any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                return
            await asyncio.sleep(0.1)


async def _gone(client: KubeClient, resource: r.Resource, name: str) -> None:
    while True:
        try:
            await client.get(resource, name)
        except NotFound:
            return
        await asyncio.sleep(0.2)


async def request_token(
    admin: Path, namespace: str, name: str, *, expiration_seconds: int = 3600
) -> str:
    """A token for ServiceAccount ``namespace/name`` from the TokenRequest API.

    Through the ``kubernetes`` package (in a thread): KubeClient has no verb for a
    subresource that is created, and the package handles every kind of admin kubeconfig.
    """

    def run() -> str:
        api = k8s_config.new_client_from_config(config_file=str(admin))  # type: ignore[no-untyped-call]
        try:
            spec = k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
            answer = k8s.CoreV1Api(api).create_namespaced_service_account_token(
                name, namespace, k8s.AuthenticationV1TokenRequest(spec=spec)
            )
            assert answer.status is not None, "a TokenRequest is answered with a status"
            return str(answer.status.token)
        finally:
            api.close()

    return await asyncio.to_thread(run)


def token_kubeconfig(admin: Path, path: Path, *, token: str) -> Path:
    """A kubeconfig for the admin kubeconfig's current server that authenticates with
    ``token`` (relative CA paths made absolute, so the file works from anywhere)."""
    config = yaml.safe_load(admin.read_text())
    context_name = config["current-context"]
    context = next(c for c in config["contexts"] if c["name"] == context_name)["context"]
    entry = next(c for c in config["clusters"] if c["name"] == context["cluster"])
    server = dict(entry["cluster"])
    ca_file = server.get("certificate-authority")
    if ca_file and not Path(ca_file).is_absolute():
        server["certificate-authority"] = str((admin.parent / ca_file).resolve())
    written = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "server", "cluster": server}],
        "users": [{"name": "token-user", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": "server", "user": "token-user"}}],
        "current-context": "token",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(written))
    path.chmod(0o600)
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeCluster:
    """One test's view of its cluster. ``simulator`` is None against a real server."""

    kubeconfig: Path  # admin credentials
    workdir: Path
    simulator: Simulator | None = None
    namespaces: list[str] = field(default_factory=list)  # made by this test, deleted after it

    @property
    def external(self) -> bool:
        return self.simulator is None

    def require_simulator(self) -> Simulator:
        if self.simulator is None:
            raise RuntimeError("this needs the in-process simulator (mark it simulator_only)")
        return self.simulator

    @contextlib.asynccontextmanager
    async def admin(self) -> AsyncIterator[KubeClient]:
        async with await KubeClient.connect(kubeconfig=str(self.kubeconfig)) as client:
            yield client

    async def install_crds(self) -> None:
        """``crds/``: created, or replaced where they exist (another run put them there)."""
        await self._install("crds", crd_manifests())

    async def install_gateway_api_crds(self) -> None:
        """The Gateway API CRDs (``certmgr.testing.gatewayapi``), as a Gateway
        implementation installs them: created, or replaced where they exist."""
        await self._install("gateway-api", gatewayapi.crd_manifests())

    async def install_controller_rbac(self) -> None:
        """deploy/'s Namespace, ServiceAccount, ClusterRole, Role and their bindings."""
        await self._install("deploy", deploy_manifests())

    async def _install(self, what: str, docs: list[dict[str, Any]]) -> None:
        if self.simulator is not None:
            self.simulator.apply_manifests(docs)
            return
        key = (what, (str(self.kubeconfig),))
        if key in _INSTALLED:
            return
        async with self.admin() as client:
            await apply(client, docs)
        _INSTALLED.add(key)

    async def apply(self, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create or replace ``docs`` through the API as the admin."""
        async with self.admin() as client:
            return await apply(client, docs)

    async def create_namespace(self, prefix: str = "t") -> str:
        """A new namespace with a unique name, deleted when the test ends."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        body = {"metadata": {"name": name, "labels": {TEST_LABEL: "true"}}}
        async with self.admin() as client:
            await client.create(r.NAMESPACES, body)
        self.namespaces.append(name)
        return name

    async def delete_namespaces(self, *, wait: bool = True) -> None:
        """Delete this test's namespaces and, with ``wait``, wait until they are gone (a
        real server empties them asynchronously; what a test left behind, an Ingress for
        the same host say, must not be seen by the next one)."""
        names, self.namespaces[:] = list(self.namespaces), []
        if not names:
            return
        async with self.admin() as client:
            for name in names:
                with contextlib.suppress(NotFound):
                    await client.delete(r.NAMESPACES, name)
            if wait:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NAMESPACE_DELETION_SECONDS):
                        for name in names:
                            await _gone(client, r.NAMESPACES, name)

    async def service_account_kubeconfig(
        self, namespace: str = CONTROLLER_NAMESPACE, name: str = CONTROLLER_ACCOUNT
    ) -> Path:
        """A kubeconfig authenticating as ServiceAccount ``namespace/name`` (which must
        exist), with a token from the TokenRequest API: RBAC applies to it."""
        token = await request_token(self.kubeconfig, namespace, name)
        return token_kubeconfig(
            self.kubeconfig, self.workdir / f"{namespace}.{name}.kubeconfig", token=token
        )


@contextlib.contextmanager
def simulated(workdir: Path, **simulator_options: Any) -> Iterator[KubeCluster]:
    """A fresh, empty in-process simulator on its own thread."""
    with Simulator.in_thread(**simulator_options) as simulator:
        kubeconfig = simulator.kubeconfig(workdir / "admin.kubeconfig")
        yield KubeCluster(kubeconfig=kubeconfig, workdir=workdir, simulator=simulator)


@contextlib.asynccontextmanager
async def cluster_for_test(workdir: Path, **simulator_options: Any) -> AsyncIterator[KubeCluster]:
    """The real server named by ``CERTMGR_TEST_KUBECONFIG``, else a fresh simulator; the
    namespaces the test made are deleted at the end either way. ``workdir`` exists."""
    external = external_kubeconfig()
    with contextlib.ExitStack() as stack:
        if external is not None:
            cluster = KubeCluster(kubeconfig=external.resolve(), workdir=workdir)
        else:
            cluster = stack.enter_context(simulated(workdir, **simulator_options))
        try:
            yield cluster
        finally:
            await cluster.delete_namespaces()
