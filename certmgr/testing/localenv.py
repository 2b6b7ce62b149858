"""A whole local setup: an API server, its data plane, Pebble, and ``certmgr run``.

Owns the order things start in and the wiring between them, shared by ``make demo`` and
the full-stack end-to-end tests, so both exercise exactly what a user would run:

- Pebble and challtestsrv on free ports (every name resolves to 127.0.0.1);
- the API server (a ``KubeCluster``: the simulator, or a real server for the portable
  tests) with our CRDs and the RBAC of ``deploy/`` installed, and a namespace for the
  user's objects;
- the data plane, its ingress router listening on Pebble's HTTP-01 port;
- the controller as a separate process (``python -m certmgr run``) that connects with
  a token of the ``certmgr`` service account (TokenRequest API) through an ordinary
  kubeconfig, so a
  permission missing from ``deploy/`` fails here as it would in a cluster: any request
  of it RBAC refused fails the environment's exit (:func:`assert_no_denials`).

It must not reach into the controller: everything is observed through the API.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certmgr import bundled
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import NotFound
from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.cluster import KubeCluster, apply, resource_for, simulated
from certmgr.testing.cluster import deploy_manifests as deploy_manifests
from certmgr.testing.cluster import load_manifests as load_manifests
from certmgr.testing.dataplane.plane import DataPlane
from certmgr.testing.gatewayapi import manifests as gatewayapi_manifests
from certmgr.testing.pebble import PebbleConfig, PebbleServer, free_port

ROOT = Path(__file__).resolve().parents[2]
# The packaged copies when installed from a wheel, the checkout's otherwise.
CRDS_DIR = bundled.folder("crds")
DEPLOY_DIR = bundled.folder("deploy")
EXAMPLES_DIR = bundled.folder("examples")
CONTROLLER_NAMESPACE = "certmgr"
CONTROLLER_ACCOUNT = "certmgr"
CONTROLLER_USER = f"system:serviceaccount:{CONTROLLER_NAMESPACE}:{CONTROLLER_ACCOUNT}"
EVENTUALLY_SECONDS = 90.0  # bounds a stuck run; a healthy one is done in seconds


class RBACDenied(AssertionError):
    """The controller asked for something deploy/'s RBAC does not grant."""


def assert_no_denials(simulator: Simulator, *, user: str = CONTROLLER_USER) -> None:
    """Raise ``RBACDenied`` naming every request of ``user`` the simulator's RBAC refused:
    deploy/ lacks a permission the code uses (a real cluster would refuse it too)."""
    denials = simulator.requests.denials(user=user)
    if denials:
        listed = "\n  ".join(dict.fromkeys(denials))
        raise RBACDenied(f"{len(denials)} request(s) of {user} refused by RBAC:\n  {listed}")


def pointed_at(issuer: dict[str, Any], pebble: PebbleServer) -> dict[str, Any]:
    """An ACME (Cluster)Issuer manifest with its server and CA bundle set to this Pebble.

    The only change the local setup makes to a user's manifest: Let's Encrypt is not
    reachable here, Pebble is.
    """
    acme = dict(issuer["spec"]["acme"])
    acme["server"] = pebble.directory_url
    acme["caBundle"] = base64.b64encode(Path(pebble.ca_bundle).read_bytes()).decode()
    return {**issuer, "spec": {**issuer["spec"], "acme": acme}}


@dataclass
class ControllerProcess:
    """``certmgr run`` as a child process, with its log in a file."""

    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=ROOT,
            )
        finally:
            log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Signal the process and wait for it; SIGKILL if it outlives ``timeout``."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait()

    def logged(self, event: str) -> bool:
        """Whether the process has logged ``event`` (a structlog event name) so far."""
        with contextlib.suppress(OSError):
            return f'"event": "{event}"' in self.log_path.read_text(errors="replace")
        return False

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class LocalEnvironment:
    workdir: Path
    cluster: KubeCluster
    pebble: PebbleServer
    dataplane: DataPlane
    admin: KubeClient
    admin_kubeconfig: Path
    controller_kubeconfig: Path
    solver_port: int
    namespace: str  # where the user's objects go (``in_namespace``)
    controllers: list[ControllerProcess] = field(default_factory=list)
    # Cluster-scoped objects ``put`` made: removed at the end, on a shared server.
    cluster_scoped: builtins.list[dict[str, Any]] = field(default_factory=list)

    @property
    def simulator(self) -> Simulator:
        """The in-process simulator (its knobs; not there against a real server)."""
        return self.cluster.require_simulator()

    def controller_argv(
        self,
        *extra: str,
        solver_port: int | None = None,
        command: Sequence[str] = (),
    ) -> list[str]:
        """``certmgr run`` for this environment; ``command`` replaces ``python -m certmgr``."""
        # Replicas in a cluster share a port on different pod IPs; here each process
        # has its own loopback port, and the Services it creates point at its own.
        solver_port = solver_port or self.solver_port
        return [
            *(command or (sys.executable, "-m", "certmgr")),
            "run",
            f"--kubeconfig={self.controller_kubeconfig}",
            f"--cluster-resource-namespace={CONTROLLER_NAMESPACE}",
            "--health-address=127.0.0.1:0",
            "--metrics-address=127.0.0.1:0",
            f"--http01-solver-address=127.0.0.1:{solver_port}",
            "--http01-solver-service-host=127.0.0.1",
            f"--http01-self-check-port={self.pebble.http01_port}",
            f"--http01-self-check-nameserver={self.pebble.dns_address}",
            "--log-format=json",
            *extra,
        ]

    def start_controller(
        self, *extra: str, env: dict[str, str] | None = None, command: Sequence[str] = ()
    ) -> ControllerProcess:
        index = len(self.controllers)
        controller = ControllerProcess(
            self.controller_argv(
                *extra,
                solver_port=self.solver_port if index == 0 else free_port(),
                command=command,
            ),
            self.workdir / f"controller-{index}.log",
            # The downward API's values: each replica lists 127.0.0.1 and its own solver
            # port in its EndpointSlices.
            env={"POD_IP": "127.0.0.1", "POD_NAME": f"controller-{index}", **(env or {})},
        )
        controller.start()
        self.controllers.append(controller)
        return controller

    def stop_controllers(self) -> None:
        for controller in self.controllers:
            controller.stop()

    def controller_logs(self) -> str:
        return "\n".join(c.log_tail() for c in self.controllers)

    async def eventually(
        self, probe: Callable[[], Any], *, what: str, within: float = EVENTUALLY_SECONDS
    ) -> Any:
        """Poll ``probe`` (sync or async) until it returns something truthy, and return
        that; fail after ``within`` seconds (a bound for a stuck run, not a margin) with
        the controllers' logs."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"{what} not reached within {within} s\n{self.controller_logs()}")

    def list(self, api_version: str, kind: str) -> builtins.list[dict[str, Any]]:
        """Every stored object of a kind (for assertions; no HTTP, no accounting)."""
        simulator = self.simulator

        def run() -> builtins.list[dict[str, Any]]:
            rtype = simulator.store.catalogue.by_kind(api_version, kind)
            if rtype is None:
                return []
            return builtins.list(simulator.store.table(rtype).objects.values())

        return simulator._call(run)

    def apply(self, docs: Sequence[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        return self.simulator.apply_manifests(docs)

    # -- through the API, as the admin: the same against the simulator and a real server --

    def in_namespace(self, docs: Sequence[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        """``docs`` with every namespaced object moved into ``self.namespace``."""
        moved = []
        for doc in docs:
            if resource_for(doc["apiVersion"], doc["kind"]).namespaced:
                doc = {**doc, "metadata": {**doc["metadata"], "namespace": self.namespace}}
            moved.append(doc)
        return moved

    async def put(self, docs: Sequence[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        """Create each object, or replace it where it exists."""
        applied = await apply(self.admin, docs)
        self.cluster_scoped.extend(
            obj for obj in applied if not resource_for(obj["apiVersion"], obj["kind"]).namespaced
        )
        return applied

    async def remove_cluster_scoped(self) -> None:
        """Delete the cluster-scoped objects ``put`` made, and a ClusterIssuer's ACME
        account key: on a server that outlives the test, the next test must not reuse
        the account (and the CA its valid authorizations)."""
        for obj in reversed(self.cluster_scoped):
            resource = resource_for(obj["apiVersion"], obj["kind"])
            with contextlib.suppress(NotFound):
                await self.admin.delete(resource, obj["metadata"]["name"])
            account_key = (
                ((obj.get("spec") or {}).get("acme") or {}).get("privateKeySecretRef") or {}
            ).get("name")
            if obj["kind"] == "ClusterIssuer" and account_key:
                with contextlib.suppress(NotFound):
                    await self.admin.delete(
                        resource_for("v1", "Secret"), account_key, namespace=CONTROLLER_NAMESPACE
                    )
        self.cluster_scoped.clear()

    async def read(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None; ``namespace`` defaults to ``self.namespace`` for
        namespaced kinds."""
        resource = resource_for(api_version, kind)
        where = (namespace or self.namespace) if resource.namespaced else None
        try:
            return await self.admin.get(resource, name, namespace=where)
        except NotFound:
            return None

    async def read_all(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Every object of a kind in ``namespace`` (all namespaces when None)."""
        resource = resource_for(api_version, kind)
        listed = await self.admin.list(resource, namespace=namespace)
        return builtins.list(listed.items)

    def issuer_for_pebble(self, path: Path) -> dict[str, Any]:
        (issuer,) = load_manifests(path)
        return pointed_at(issuer, self.pebble)

    def issuer_for_pebble_manifest(self, issuer: dict[str, Any]) -> dict[str, Any]:
        return pointed_at(issuer, self.pebble)


@contextlib.contextmanager
def _pebble(config: PebbleConfig | None, workdir: Path) -> Iterator[PebbleServer]:
    with PebbleServer(config, workdir=workdir / "pebble") as pebble:
        yield pebble


@contextlib.asynccontextmanager
async def local_environment(
    workdir: Path,
    *,
    pebble: PebbleServer | None = None,
    pebble_config: PebbleConfig | None = None,
    https_port: int | None = None,
    on_ready: Callable[[LocalEnvironment], None] | None = None,
    enforce_owner_references: bool = False,
    cluster: KubeCluster | None = None,
    gateway_api: bool = False,
) -> AsyncIterator[LocalEnvironment]:
    """Start everything but the controller (``env.start_controller()`` starts one).

    On ``cluster`` (a test's ``kube_cluster``, perhaps a real server) the user's objects
    go into a fresh namespace of the test's; without one, on a simulator of its own,
    into ``default``. ``enforce_owner_references`` turns on that simulator's
    OwnerReferencesPermissionEnforcement (setting blockOwnerDeletion needs update on the
    owner's finalizers). ``gateway_api``: the Gateway API CRDs are installed, the data
    plane implements GatewayClass ``dataplane`` (created here): listener port 80 is served
    on Pebble's HTTP-01 port, 443 on the data plane's HTTPS port (pass ``https_port=0``),
    on each Gateway's own address: ``env.dataplane.router.listener_url(443, address=...)``
    says where (docs/dataplane.md)."""
    os.makedirs(workdir, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if pebble is None:
            pebble = stack.enter_context(_pebble(pebble_config, workdir))
        shared = cluster is not None  # a test's cluster, perhaps a server that outlives it
        if cluster is None:
            cluster = stack.enter_context(
                simulated(workdir, enforce_owner_references=enforce_owner_references)
            )
            namespace = "default"
        else:
            namespace = await cluster.create_namespace("e2e")
        await cluster.install_crds()
        if gateway_api:
            await cluster.install_gateway_api_crds()
            await cluster.apply([gatewayapi_manifests.gateway_class()])
        await cluster.install_controller_rbac()
        admin_kubeconfig = cluster.kubeconfig
        controller_kubeconfig = await cluster.service_account_kubeconfig(
            CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT
        )
        async with (
            await KubeClient.connect(kubeconfig=str(admin_kubeconfig)) as admin,
            DataPlane(
                kubeconfig=admin_kubeconfig,
                http_port=pebble.http01_port,
                https_port=https_port,
                gateway_api=gateway_api,
            ) as dataplane,
        ):
            env = LocalEnvironment(
                workdir=workdir,
                cluster=cluster,
                pebble=pebble,
                dataplane=dataplane,
                admin=admin,
                admin_kubeconfig=admin_kubeconfig,
                controller_kubeconfig=controller_kubeconfig,
                solver_port=free_port(),
                namespace=namespace,
            )
            if on_ready is not None:
                on_ready(env)
            try:
                yield env
            finally:
                env.stop_controllers()
                if shared:
                    await env.remove_cluster_scoped()
            if cluster.simulator is not None:
                assert_no_denials(cluster.simulator)
