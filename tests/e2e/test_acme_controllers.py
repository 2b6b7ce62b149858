"""End to end: the ACME controllers against Pebble, the API simulator and its data plane.

A small driver creates (and approves) CertificateRequests directly, so these tests do
not depend on the Certificate side. Pebble runs with its default misbehaviour (5 %
nonce rejection, 50 % authorization reuse) and ``PEBBLE_VA_NOSLEEP``; every test ends
by checking that no solver object is left.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import ipaddress
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmgr.acme import AcmeUnreachable, Problem
from certmgr.acme import connect as acme_connect
from certmgr.controllers.acme import serve_shared_solver, setup_all
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE
from certmgr.controllers.context import Context, Settings
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import (
    CERTIFICATEREQUESTS,
    CERTIFICATES,
    CHALLENGES,
    CLUSTERISSUERS,
    INGRESSES,
    ISSUERS,
    NAMESPACES,
    ORDERS,
    PODS,
    SECRETS,
    SERVICES,
    Resource,
)
from certmgr.pki.certificates import parse_chain
from certmgr.pki.jks import decode_jks
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.manager import Manager
from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.pebble import PebbleConfig, PebbleServer, generate_eab_key

pytestmark = [pytest.mark.e2e]

SOLVER_LABEL = "acme.cert-manager.io/http01-solver=true"
CONTROLLER_USER = "certmgr-controllers"
# Generous: a loaded 2-core machine is 10x slower; a passing run never waits this long.
DEADLINE = 90.0


@dataclass
class RecordingEvents:
    events: list[tuple[str, str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((obj.get("metadata", {}).get("name", ""), type_, reason, message))


@dataclass
class CountingConnector:
    """The real connector, counting calls per step; the steps named in ``failing`` raise
    ``AcmeUnreachable`` as if the CA went away at that point (to crash mid-issuance)."""

    calls: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    @property
    def new_orders(self) -> int:
        return self.calls.get("new_order", 0)

    async def __call__(self, directory_url: str, **kwargs: Any) -> Any:
        session = await acme_connect(directory_url, **kwargs)
        for step in ("new_order", "accept_challenge", "finalize"):
            setattr(session, step, self._wrap(step, getattr(session, step)))
        return session

    def _wrap(self, step: str, method: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(*args: Any, **kw: Any) -> Any:
            self.calls[step] = self.calls.get(step, 0) + 1
            if step in self.failing:
                raise AcmeUnreachable(Problem("urn:certmgr:acme:unreachable", "test: CA down"))
            return await method(*args, **kw)

        return wrapped


class Controllers:
    """The ACME controllers on their own Manager; start/stop to simulate a restart."""

    def __init__(
        self,
        kube: KubeClient,
        settings: Settings,
        connector: CountingConnector,
        *,
        with_certificates: bool = False,
    ):
        self.kube = kube
        self.with_certificates = with_certificates
        self.settings = settings
        self.connector = connector
        self.events = RecordingEvents()
        self._task: asyncio.Task[None] | None = None
        self._close: Callable[[], Any] | None = None

    async def start(self) -> None:
        manager = Manager(self.kube, clock=SystemClock(), backoff_base=0.05, backoff_cap=2.0)
        ctx = Context(
            client=self.kube,
            manager=manager,
            clock=SystemClock(),
            events=self.events,
            acme=self.connector,
            settings=self.settings,
        )
        handle = setup_all(ctx)
        if self.with_certificates:
            from certmgr.controllers.certificates import setup_all as setup_certificates

            setup_certificates(ctx)
        self._close = handle.close
        self._task = asyncio.create_task(manager.run())
        await asyncio.wait_for(manager.wait_synced(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._close is not None:
            await self._close()
            self._close = None


@dataclass
class World:
    sim: Simulator | None  # None against a real server
    kube: KubeClient
    pebble: PebbleServer
    controllers: Controllers
    connector: CountingConnector
    ca_bundle: str  # base64 PEM of Pebble's listener CA, as spec.acme.caBundle takes it
    namespace: str  # the test's own

    async def issuer(
        self,
        name: str = "pebble",
        *,
        cluster: bool = False,
        acme: dict[str, Any] | None = None,
        solvers: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "server": self.pebble.directory_url,
            "caBundle": self.ca_bundle,
            "email": "e2e@example.com",
            "privateKeySecretRef": {"name": f"{name}-account"},
            "solvers": solvers or [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
        }
        spec.update(acme or {})
        spec = {k: v for k, v in spec.items() if v is not None}
        resource = CLUSTERISSUERS if cluster else ISSUERS
        body = {
            "apiVersion": "cert-manager.io/v1",
            "kind": resource.kind,
            "metadata": {"name": name} | ({} if cluster else {"namespace": self.namespace}),
            "spec": {"acme": spec},
        }
        return await self.kube.create(resource, body, namespace=None if cluster else self.namespace)

    async def request(
        self,
        name: str,
        dns_names: list[str],
        *,
        issuer: str = "pebble",
        kind: str = "Issuer",
        key: str = "ecdsa",
        ip_addresses: tuple[str, ...] = (),
    ) -> None:
        private_key: Any = (
            ec.generate_private_key(ec.SECP256R1())
            if key == "ecdsa"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])] if dns_names else []
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name(subject))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(private_key, hashes.SHA256())
        )
        pem = csr.public_bytes(serialization.Encoding.PEM)
        body = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "request": base64.b64encode(pem).decode(),
                "issuerRef": {"name": issuer, "kind": kind, "group": "cert-manager.io"},
                "usages": ["digital signature", "key encipherment", "server auth"],
            },
        }
        await self.kube.create(CERTIFICATEREQUESTS, body, namespace=self.namespace)
        approved = {
            "type": "Approved",
            "status": "True",
            "reason": "cert-manager.io",
            "message": "Certificate request has been approved by cert-manager.io",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        await self.kube.patch(
            CERTIFICATEREQUESTS,
            name,
            {"status": {"conditions": [approved]}},
            namespace=self.namespace,
            subresource="status",
        )

    async def get(
        self, resource: Resource, name: str, namespace: str | Literal["test"] | None = "test"
    ) -> Any:
        try:
            where = self.namespace if namespace == "test" else namespace
            return await self.kube.get(resource, name, namespace=where)
        except NotFound:
            return None

    async def finished(
        self, name: str, *, deadline: float = DEADLINE, poll: float | None = None
    ) -> dict[str, Any]:
        """The CertificateRequest once Ready is True or Failed/Denied (``poll``: a fixed
        short interval instead of ``eventually``'s growing one, for measuring)."""

        async def probe() -> dict[str, Any]:
            result: dict[str, Any] = await self.kube.get(
                CERTIFICATEREQUESTS, name, namespace=self.namespace
            )
            return result

        if poll is not None:
            end = time.monotonic() + deadline
            while time.monotonic() < end:
                cr = await probe()
                if _ready(cr)[1] in {"Issued", "Failed", "Denied"}:
                    return cr
                await asyncio.sleep(poll)
            raise AssertionError(f"{name} not finished within {deadline}s")

        return await eventually(
            probe, lambda cr: _ready(cr)[1] in {"Issued", "Failed", "Denied"}, deadline=deadline
        )

    async def remove_cluster_issuers(self) -> None:
        """Delete the ClusterIssuers and their account keys: on a server that outlives the
        test, the next one must not reuse the account (nor Pebble its authorizations)."""
        for issuer in (await self.kube.list(CLUSTERISSUERS)).items:
            await self.kube.delete(CLUSTERISSUERS, issuer["metadata"]["name"])
            account = issuer["spec"]["acme"].get("privateKeySecretRef", {}).get("name")
            if account:
                with contextlib.suppress(NotFound):
                    await self.kube.delete(SECRETS, account, namespace="certmgr")

    async def solver_objects(self) -> list[str]:
        names = []
        for resource in (SERVICES, INGRESSES, PODS):
            listed = await self.kube.list(
                resource, namespace=self.namespace, label_selector=SOLVER_LABEL
            )
            names += [
                f"{resource.kind}/{o['metadata']['name']}"
                for o in listed.items
                # Shared mode's per-namespace Service outlives the Challenges by design
                # (Settings.shared_solver_service_linger); only per-Challenge objects count.
                if o["metadata"]["name"] != SHARED_SERVICE
            ]
        return names

    async def assert_clean(self) -> None:
        """Every solver object and Challenge is gone."""

        async def leftovers() -> list[str]:
            challenges = await self.kube.list(CHALLENGES, namespace=self.namespace)
            names = [f"Challenge/{c['metadata']['name']}" for c in challenges.items]
            return names + await self.solver_objects()

        await eventually(leftovers, lambda names: names == [], deadline=DEADLINE)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _ready(cr: dict[str, Any]) -> tuple[str, str, str]:
    for condition in (cr.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition["status"], condition.get("reason", ""), condition.get("message", "")
    return "", "", ""


def _chain(cr: dict[str, Any]) -> tuple[x509.Certificate, ...]:
    return parse_chain(base64.b64decode(cr["status"]["certificate"]))


def _sans(certificate: x509.Certificate) -> set[str]:
    ext = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)) | {
        str(i) for i in ext.get_values_for_type(x509.IPAddress)
    }


@contextlib.asynccontextmanager
async def running_world(
    cluster: KubeCluster,
    pebble: PebbleServer,
    *,
    solver_mode: str = "shared",
    connector: CountingConnector | None = None,
    with_certificates: bool = False,
    **settings_overrides: Any,
) -> AsyncIterator[World]:
    await cluster.install_crds()
    kubeconfig = cluster.kubeconfig
    sim = cluster.simulator
    namespace = await cluster.create_namespace("acme")
    # The controllers' client keeps the production rate limit; the test's own polling
    # goes through a second client so it never eats the controllers' budget.
    own = kubeconfig
    if sim is not None:
        # A user of their own, so the simulator's accounting tells the controllers'
        # writes apart (against a real server they run as the admin).
        sim.add_token("certmgr-controllers", CONTROLLER_USER, ["system:masters"])
        own = sim.kubeconfig(
            kubeconfig.with_name("controllers.kubeconfig"), token="certmgr-controllers"
        )
    kube = await KubeClient.connect(kubeconfig=str(own))
    driver = await KubeClient.connect(kubeconfig=str(kubeconfig), qps=1000, burst=1000)
    # ClusterIssuer Secrets live in the cluster resource namespace.
    with contextlib.suppress(AlreadyExists):
        await driver.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "certmgr"}}
        )
    # The shared solver is served by a manager of its own here: in production it runs
    # on the controllers' manager in every replica; in tests it must outlive restarts.
    solver_manager = Manager(kube, clock=SystemClock())
    solver = await serve_shared_solver(solver_manager, host="127.0.0.1", port=0)
    solver_task = asyncio.create_task(solver_manager.run())
    port = int(solver.addresses[0][1])
    settings = Settings(
        solver_mode=solver_mode,  # type: ignore[arg-type]
        shared_solver_host="127.0.0.1",
        shared_solver_port=port,
        self_check_port=pebble.http01_port,
        self_check_nameserver=pebble.dns_address,
        acme_poll_base=0.02,
        acme_poll_cap=1.0,
        self_check_interval=0.05,
    )
    settings = dataclasses.replace(settings, **settings_overrides)
    connector = connector or CountingConnector()
    controllers = Controllers(kube, settings, connector, with_certificates=with_certificates)
    try:
        async with DataPlane(kubeconfig=kubeconfig, http_port=pebble.http01_port):
            await controllers.start()
            try:
                bundle = base64.b64encode(await asyncio.to_thread(_read, pebble.ca_bundle)).decode()
                world = World(sim, driver, pebble, controllers, connector, bundle, namespace)
                try:
                    yield world
                finally:
                    await world.remove_cluster_issuers()
            finally:
                await controllers.stop()
    finally:
        solver_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await solver_task
        await solver.cleanup()
        await kube.close()
        await driver.close()


@pytest.fixture
async def world(kube_cluster: KubeCluster, pebble: PebbleServer) -> AsyncIterator[World]:
    async with running_world(kube_cluster, pebble) as w:
        yield w


async def _issuer_ready(
    world: World, name: str = "pebble", *, cluster: bool = False
) -> dict[str, Any]:
    resource = CLUSTERISSUERS if cluster else ISSUERS

    async def probe() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(
            resource, name, namespace=None if cluster else world.namespace
        )
        return got

    return await eventually(probe, lambda i: _ready(i)[0] == "True", deadline=DEADLINE)


@pytest.mark.parametrize("key", ["ecdsa", "rsa"])
async def test_single_request_is_issued(world: World, key: str) -> None:
    await world.issuer()
    await _issuer_ready(world)
    started = time.monotonic()
    await world.request("single", ["single.example.com"], key=key)
    cr = await world.finished("single")
    elapsed = time.monotonic() - started
    assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
    chain = _chain(cr)
    assert _sans(chain[0]) == {"single.example.com"}
    assert len(chain) >= 2  # leaf and Pebble's intermediate
    print(f"issuance CR-created->Ready ({key}): {elapsed:.3f}s")
    order = (await world.kube.list(ORDERS, namespace=world.namespace)).items[0]
    assert order["status"]["state"] == "valid"
    assert order["metadata"]["ownerReferences"][0]["name"] == "single"
    await world.assert_clean()
    assert world.connector.new_orders == 1


async def test_five_sans_and_an_ip_address(world: World) -> None:
    await world.issuer()
    names = [f"san{i}.example.com" for i in range(5)]
    await world.request("sans", names, ip_addresses=("127.0.0.1",))
    cr = await world.finished("sans")
    assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
    assert _sans(_chain(cr)[0]) == {*names, "127.0.0.1"}
    await world.assert_clean()


async def test_cluster_issuer_keeps_its_account_key_in_the_cluster_namespace(world: World) -> None:
    await world.issuer("cluster-pebble", cluster=True)
    await world.request(
        "clustered", ["cluster.example.com"], issuer="cluster-pebble", kind="ClusterIssuer"
    )
    cr = await world.finished("clustered")
    assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
    assert await world.get(SECRETS, "cluster-pebble-account", namespace="certmgr") is not None
    issuer = await _issuer_ready(world, "cluster-pebble", cluster=True)
    assert issuer["status"]["acme"]["uri"].startswith("https://")
    assert _ready(issuer)[1] == "ACMEAccountRegistered"
    await world.assert_clean()


async def test_request_waits_for_its_issuer_and_is_picked_up_when_it_appears(world: World) -> None:
    await world.request("early", ["early.example.com"])

    async def probe() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(
            CERTIFICATEREQUESTS, "early", namespace=world.namespace
        )
        return got

    pending = await eventually(probe, lambda cr: _ready(cr)[1] == "Pending", deadline=DEADLINE)
    assert 'Referenced "Issuer" not found' in _ready(pending)[2]
    await world.issuer()
    cr = await world.finished("early")
    assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
    await world.assert_clean()


async def test_denied_request_fails_without_an_order(world: World) -> None:
    await world.issuer()
    await _issuer_ready(world)
    private_key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("no.example.com")]), critical=False
        )
        .sign(private_key, hashes.SHA256())
    )
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "denied", "namespace": world.namespace},
        "spec": {
            "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
            "issuerRef": {"name": "pebble"},
        },
    }
    await world.kube.create(CERTIFICATEREQUESTS, body, namespace=world.namespace)
    denied = {
        "type": "Denied",
        "status": "True",
        "reason": "test",
        "message": "no",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    await world.kube.patch(
        CERTIFICATEREQUESTS,
        "denied",
        {"status": {"conditions": [denied]}},
        namespace=world.namespace,
        subresource="status",
    )
    cr = await world.finished("denied")
    assert _ready(cr)[:2] == ("False", "Denied")
    assert cr["status"]["failureTime"]
    assert (await world.kube.list(ORDERS, namespace=world.namespace)).items == []


async def test_no_matching_solver_warns_and_the_order_waits(world: World) -> None:
    solvers = [
        {
            "selector": {"dnsNames": ["only.example.com"]},
            "http01": {"ingress": {"ingressClassName": "nginx"}},
        }
    ]
    await world.issuer(solvers=solvers)
    await world.request("unmatched", ["other.example.com"])

    def warned() -> bool:
        return any(
            e[2] == "NoMatchingSolver" and "other.example.com" in e[3]
            for e in world.controllers.events.events
        )

    async def probe() -> bool:
        return warned()

    assert await eventually(probe, bool, deadline=DEADLINE)
    assert (await world.kube.list(CHALLENGES, namespace=world.namespace)).items == []

    async def request() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(
            CERTIFICATEREQUESTS, "unmatched", namespace=world.namespace
        )
        return got

    # The request says why it waits, in cert-manager's words plus the Order's cause
    # (issue 14 item 6), so the Certificate can carry it.
    orders = await eventually(
        lambda: world.kube.list(ORDERS, namespace=world.namespace), lambda o: len(o.items) == 1
    )
    order = orders.items[0]
    assert order["metadata"]["ownerReferences"][0]["name"] == "unmatched"
    cr = await eventually(request, _waits_on_its_order, deadline=DEADLINE)
    status, _, message = _ready(cr)
    assert status == "False"
    assert message.startswith(
        f"Waiting on certificate issuance from order {world.namespace}/"
        f"{order['metadata']['name']}: "
        '"pending": Failed to determine a valid solver configuration'
    )
    assert '"other.example.com"' in message


def _waits_on_its_order(cr: dict[str, Any]) -> bool:
    status, reason, message = _ready(cr)
    return (status, reason) == ("False", "Pending") and "from order" in message


async def test_a_wildcard_with_only_http01_says_why_it_waits(world: World) -> None:
    await world.issuer()
    await world.request("wild", ["*.wild.example.com"])

    async def request() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(
            CERTIFICATEREQUESTS, "wild", namespace=world.namespace
        )
        return got

    cr = await eventually(request, _waits_on_its_order, deadline=DEADLINE)
    message = _ready(cr)[2]
    assert "no configured challenge solvers can be used for" in message
    assert "wild.example.com" in message and "offered challenge types: dns-01" in message


@pytest.mark.slow
async def test_pod_mode(kube_cluster: KubeCluster, pebble: PebbleServer) -> None:
    async with running_world(kube_cluster, pebble, solver_mode="pod") as world:
        await world.issuer()
        await world.request("podmode", ["pod.example.com", "pod2.example.com"])
        cr = await world.finished("podmode")
        assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
        await world.assert_clean()


@pytest.mark.slow
async def test_pod_template_forces_pod_mode(world: World) -> None:
    solvers = [
        {
            "http01": {
                "ingress": {
                    "ingressClassName": "nginx",
                    "podTemplate": {"metadata": {"labels": {"team": "a"}}},
                }
            }
        }
    ]
    await world.issuer(solvers=solvers)
    await world.request("templated", ["templated.example.com"])
    cr = await world.finished("templated")
    assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
    await world.assert_clean()


@pytest.mark.slow
async def test_twenty_requests_at_once(world: World) -> None:
    await world.issuer()
    await _issuer_ready(world)
    started = time.monotonic()
    await asyncio.gather(*(world.request(f"many-{i}", [f"many{i}.example.com"]) for i in range(20)))
    results = await asyncio.gather(*(world.finished(f"many-{i}") for i in range(20)))
    print(f"20 issuances: {time.monotonic() - started:.3f}s")
    assert [_ready(cr)[:2] for cr in results] == [("True", "Issued")] * 20
    assert world.connector.new_orders == 20
    await world.assert_clean()
    if world.sim is None:
        return  # the figure below needs the simulator's accounting
    writes: dict[str, int] = {}
    for (verb, resource, user), n in world.sim.requests.snapshot().items():
        if user == CONTROLLER_USER and verb in {"create", "update", "patch", "delete"}:
            writes[resource] = writes.get(resource, 0) + n
    print(f"controller API writes per issuance: {sum(writes.values()) / 20:.1f} {writes}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "crash_at",
    [
        pytest.param("finalize", id="order-ready"),
        pytest.param("accept_challenge", id="challenge-presented"),
    ],
)
async def test_restart_after_the_order_exists_completes_the_same_order(
    kube_cluster: KubeCluster,
    pebble_factory: Callable[[PebbleConfig], PebbleServer],
    crash_at: str,
) -> None:
    # No authorization reuse: the crash point "challenge presented" must be reached.
    pebble = pebble_factory(PebbleConfig(authz_reuse_percent=0))
    connector = CountingConnector(failing={crash_at})
    async with running_world(kube_cluster, pebble, connector=connector) as world:
        await world.issuer()
        await world.request("restart", ["restart.example.com"])

        async def attempts() -> int:
            return connector.calls.get(crash_at, 0)

        # The ACME order exists; the CA stops answering at ``crash_at``; then we crash.
        await eventually(attempts, lambda n: n >= 1, deadline=DEADLINE)
        await world.controllers.stop()
        (order,) = (await world.kube.list(ORDERS, namespace=world.namespace)).items
        assert order["status"]["url"]
        connector.failing.clear()
        await world.controllers.start()
        cr = await world.finished("restart")
        assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
        (after,) = (await world.kube.list(ORDERS, namespace=world.namespace)).items
        assert after["metadata"]["uid"] == order["metadata"]["uid"]
        assert after["status"]["url"] == order["status"]["url"]
        assert connector.new_orders == 1
        await world.assert_clean()


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"conflict_rate": 1.0}, id="409-on-the-order-status-write"),
        pytest.param({"error_rate": 1.0}, id="5xx-on-the-order-status-write"),
    ],
)
async def test_a_crash_after_new_order_before_its_url_is_stored_places_no_second_order(
    apiserver: Simulator,
    kube_cluster: KubeCluster,
    pebble: PebbleServer,
    fault: dict[str, float],
) -> None:
    # Issue 14 item 4: the order's URL cannot be stored (every status write of an Order
    # fails), the retries keep the order placed, then the process dies and a new one
    # finds it in the account's orders list (Pebble offers it): one new-order in all.
    connector = CountingConnector()
    async with running_world(kube_cluster, pebble, connector=connector) as world:
        await world.issuer()
        apiserver.faults.verbs = frozenset({"patch", "update"})
        apiserver.faults.resources = frozenset({"orders/status"})
        for knob, rate in fault.items():
            setattr(apiserver.faults, knob, rate)
        try:
            await world.request("orphan", ["orphan.example.com"])

            async def placed() -> int:
                return connector.new_orders

            await eventually(placed, lambda n: n >= 1, deadline=DEADLINE)

            async def status_writes() -> int:
                return apiserver.requests.count(verb="patch", resource="orders/status")

            await eventually(status_writes, lambda n: n >= 3, deadline=DEADLINE)  # retried
            assert connector.new_orders == 1  # retried with the order placed, not a new one
            await world.controllers.stop()
        finally:
            apiserver.faults.reset()
        (order,) = (await world.kube.list(ORDERS, namespace=world.namespace)).items
        assert not (order.get("status") or {}).get("url")  # never recorded
        await world.controllers.start()
        cr = await world.finished("orphan")
        assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
        (after,) = (await world.kube.list(ORDERS, namespace=world.namespace)).items
        assert after["metadata"]["uid"] == order["metadata"]["uid"]
        print(
            f"new-orders at the CA after a {next(iter(fault))} fault and a crash: "
            f"{connector.new_orders} (orphans: {connector.new_orders - 1})"
        )
        assert connector.new_orders == 1
        await world.assert_clean()


async def _issuer_condition(
    world: World, accept: Callable[[tuple[str, str, str]], bool], name: str = "pebble"
) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(ISSUERS, name, namespace=world.namespace)
        return got

    return await eventually(probe, lambda issuer: accept(_ready(issuer)), deadline=DEADLINE)


async def _secret(world: World, name: str, entries: dict[str, bytes]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": world.namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in entries.items()},
    }
    await world.kube.create(SECRETS, body, namespace=world.namespace)


@pytest.mark.parametrize(
    ("acme", "reason", "fragment"),
    [
        pytest.param(
            {"server": "https://127.0.0.1:1/dir"},
            "ErrRegisterACMEAccount",
            "Failed to register ACME account",
            id="unreachable-ca",
        ),
        pytest.param(
            {"disableAccountKeyGeneration": True},
            "ErrInitIssuer",
            "not found and disableAccountKeyGeneration is set",
            id="no-key-no-generation",
        ),
        pytest.param(
            {"profile": "shortlived"},
            "InvalidConfig",
            'does not offer profile "shortlived"',
            id="profile-not-advertised",
        ),
    ],
)
async def test_issuer_failures_are_a_ready_false_condition_and_a_warning(
    world: World, acme: dict[str, Any], reason: str, fragment: str
) -> None:
    await world.issuer(acme=acme)
    issuer = await _issuer_condition(world, lambda c: c[0] == "False")
    _, got_reason, message = _ready(issuer)
    assert got_reason == reason
    assert fragment in message
    assert any(e[1] == "Warning" and e[2] == reason for e in world.controllers.events.events)


async def test_email_change_updates_the_account(world: World) -> None:
    await world.issuer()
    first = await _issuer_ready(world)
    await world.kube.patch(
        ISSUERS,
        "pebble",
        {"spec": {"acme": {"email": "new@example.com"}}},
        namespace=world.namespace,
    )

    async def probe() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(ISSUERS, "pebble", namespace=world.namespace)
        return got

    updated = await eventually(
        probe,
        lambda i: i["status"]["acme"].get("lastRegisteredEmail") == "new@example.com",
        deadline=DEADLINE,
    )
    assert updated["status"]["acme"]["uri"] == first["status"]["acme"]["uri"]
    assert _ready(updated)[0] == "True"


async def test_edit_in_place_adds_and_removes_the_path_on_the_users_ingress(world: World) -> None:
    user_ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": world.namespace},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "edit.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    await world.kube.create(INGRESSES, user_ingress, namespace=world.namespace)
    await world.issuer(solvers=[{"http01": {"ingress": {"name": "web"}}}])
    await world.request("edit", ["edit.example.com"])
    cr = await world.finished("edit")
    assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)

    async def rules() -> Any:
        return (await world.kube.get(INGRESSES, "web", namespace=world.namespace))["spec"]["rules"]

    await eventually(rules, lambda r: r == user_ingress["spec"]["rules"], deadline=DEADLINE)
    await world.assert_clean()
    if world.sim is not None:
        # Present and clean up read the user's Ingress from the informer's cache.
        gets = world.sim.requests.count(verb="get", resource="ingresses", user=CONTROLLER_USER)
        assert gets == 0


@pytest.mark.slow
async def test_external_account_binding_required(
    kube_cluster: KubeCluster, pebble_factory: Callable[[PebbleConfig], PebbleServer]
) -> None:
    hmac = generate_eab_key()
    pebble = pebble_factory(PebbleConfig(require_eab=True, eab_keys={"kid-1": hmac}))
    async with running_world(kube_cluster, pebble) as world:
        await world.issuer("no-eab")
        failed = await _issuer_condition(world, lambda c: c[0] == "False", name="no-eab")
        assert "externalAccountRequired" in _ready(failed)[2]
        await _secret(world, "eab", {"secret": hmac.encode()})
        binding = {"keyID": "kid-1", "keySecretRef": {"name": "eab", "key": "secret"}}
        await world.issuer(acme={"externalAccountBinding": binding})
        await world.request("eab", ["eab.example.com"])
        cr = await world.finished("eab")
        assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
        await world.assert_clean()


@pytest.mark.slow
async def test_preferred_chain_picks_the_alternate_root(
    kube_cluster: KubeCluster, pebble_factory: Callable[[PebbleConfig], PebbleServer]
) -> None:
    pebble = pebble_factory(PebbleConfig(alternate_roots=1))
    roots = [x509.load_pem_x509_certificate(p.encode()) for p in pebble.root_pems()]
    names = [r.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for r in roots]
    async with running_world(kube_cluster, pebble) as world:
        for index, name in enumerate(names):
            issuer = f"chain-{index}"
            await world.issuer(issuer, acme={"preferredChain": name})
            await world.request(issuer, [f"{issuer}.example.com"], issuer=issuer)
            cr = await world.finished(issuer)
            assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
            top = _chain(cr)[-1]
            assert top.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        await world.assert_clean()


@pytest.mark.slow
async def test_blocklisted_name_fails_with_the_cas_problem(
    kube_cluster: KubeCluster, pebble_factory: Callable[[PebbleConfig], PebbleServer]
) -> None:
    pebble = pebble_factory(PebbleConfig(domain_blocklist=("blocked.example.com",)))
    async with running_world(kube_cluster, pebble) as world:
        await world.issuer()
        await world.request("blocked", ["blocked.example.com"])
        cr = await world.finished("blocked")
        status, reason, message = _ready(cr)
        assert (status, reason) == ("False", "Failed")
        assert "rejectedIdentifier" in message and "blocked.example.com" in message
        assert cr["status"]["failureTime"]
        (order,) = (await world.kube.list(ORDERS, namespace=world.namespace)).items
        assert order["status"]["state"] == "errored"
        assert order["status"]["failureTime"]
        await world.assert_clean()


@pytest.mark.slow
async def test_pebble_restart_reregisters_the_same_key(
    kube_cluster: KubeCluster, pebble_factory: Callable[[PebbleConfig], PebbleServer]
) -> None:
    pebble = pebble_factory(PebbleConfig())
    async with running_world(kube_cluster, pebble) as world:
        await world.issuer()
        await world.request("before", ["before.example.com"])
        assert _ready(await world.finished("before"))[1] == "Issued"
        old_uri = (await _issuer_ready(world))["status"]["acme"]["uri"]
        await asyncio.to_thread(pebble.restart_pebble)
        await world.request("after", ["after.example.com"])
        cr = await world.finished("after")
        assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)

        async def probe() -> dict[str, Any]:
            got: dict[str, Any] = await world.kube.get(ISSUERS, "pebble", namespace=world.namespace)
            return got

        issuer = await eventually(
            probe, lambda i: i["status"]["acme"]["uri"] != old_uri, deadline=DEADLINE
        )
        assert _ready(issuer)[0] == "True"
        await world.assert_clean()


@pytest.mark.slow
async def _certificate_ready(world: World, name: str) -> dict[str, Any]:
    """The Certificate once Ready with a revision (two controllers write them)."""

    async def probe() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(CERTIFICATES, name, namespace=world.namespace)
        return got

    return await eventually(
        probe,
        lambda c: _ready(c)[0] == "True" and bool(c["status"].get("revision")),
        deadline=DEADLINE,
    )


async def test_a_certificate_end_to_end_with_the_certificate_controllers(
    kube_cluster: KubeCluster, pebble: PebbleServer
) -> None:
    async with running_world(kube_cluster, pebble, with_certificates=True) as world:
        await world.issuer()
        certificate = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "web", "namespace": world.namespace},
            "spec": {
                "secretName": "web-tls",
                "dnsNames": ["web.example.com", "www.web.example.com"],
                "issuerRef": {"name": "pebble", "kind": "Issuer"},
                "privateKey": {"algorithm": "ECDSA", "size": 256},
            },
        }
        started = time.monotonic()
        await world.kube.create(CERTIFICATES, certificate, namespace=world.namespace)

        ready = await _certificate_ready(world, "web")
        print(f"Certificate created->Ready: {time.monotonic() - started:.3f}s")
        secret = await world.kube.get(SECRETS, "web-tls", namespace=world.namespace)
        leaf = parse_chain(base64.b64decode(secret["data"]["tls.crt"]))[0]
        assert _sans(leaf) == {"web.example.com", "www.web.example.com"}
        assert ready["status"]["revision"] == 1
        await world.assert_clean()


async def test_literal_subject_signature_algorithm_and_jks_against_pebble(
    kube_cluster: KubeCluster, pebble: PebbleServer
) -> None:
    """The CSR fields cert-manager lets a spec set beyond names, through a real CA. The CN
    inside literalSubject is also an order identifier (as a commonName is), so it must be
    among the dnsNames too: Pebble, like Let's Encrypt, wants every identifier in the SANs."""
    async with running_world(kube_cluster, pebble, with_certificates=True) as world:
        await world.issuer()
        certificate = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "lit", "namespace": world.namespace},
            "spec": {
                "secretName": "lit-tls",
                "literalSubject": "CN=lit.example.com,O=Example\\, Inc.",
                "dnsNames": ["lit.example.com", "www.lit.example.com"],
                "issuerRef": {"name": "pebble", "kind": "Issuer"},
                "privateKey": {"algorithm": "RSA", "size": 2048},
                "signatureAlgorithm": "SHA384WithRSA",
                "keystores": {"jks": {"create": True, "password": "changeit"}},
            },
        }
        await world.kube.create(CERTIFICATES, certificate, namespace=world.namespace)

        ready = await _certificate_ready(world, "lit")
        secret = await world.kube.get(SECRETS, "lit-tls", namespace=world.namespace)
        leaf = parse_chain(base64.b64decode(secret["data"]["tls.crt"]))[0]
        assert _sans(leaf) == {"lit.example.com", "www.lit.example.com"}
        store = decode_jks(base64.b64decode(secret["data"]["keystore.jks"]), b"changeit")
        assert store.keys[0].chain[0] == leaf
        assert ready["status"]["revision"] == 1
        await world.assert_clean()


@pytest.mark.slow
async def test_sequential_issuance_time_with_default_settings(
    kube_cluster: KubeCluster, pebble: PebbleServer
) -> None:
    """Measures CR created -> Ready with the shipped self-check and polling defaults."""
    defaults = Settings()
    async with running_world(
        kube_cluster,
        pebble,
        self_check_interval=defaults.self_check_interval,
        acme_poll_base=defaults.acme_poll_base,
        acme_poll_cap=defaults.acme_poll_cap,
    ) as world:
        await world.issuer()
        await _issuer_ready(world)
        times = []
        for i in range(9):
            started = time.monotonic()
            await world.request(f"seq-{i}", [f"seq{i}.example.com"])
            cr = await world.finished(f"seq-{i}", poll=0.005)
            times.append(time.monotonic() - started)
            assert _ready(cr)[:2] == ("True", "Issued"), _ready(cr)
        times.sort()
        summary = f"p50={times[4]:.3f}s min={times[0]:.3f}s max={times[-1]:.3f}s"
        print(f"single issuance CR->Ready {summary}")
        await world.assert_clean()


def _rsa_account_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("acme", "secret"),
    [
        pytest.param(
            {"skipTLSVerify": True, "caBundle": None},
            None,
            id="skip-tls-verify",
            marks=pytest.mark.filterwarnings("ignore:Unverified HTTPS request"),
        ),
        pytest.param(
            {"disableAccountKeyGeneration": True},
            {"tls.key": _rsa_account_key()},
            id="existing-rsa-key-as-cert-manager-writes-it",
        ),
        pytest.param(
            {"privateKeySecretRef": {"name": "custom", "key": "account.pem"}},
            {"account.pem": _rsa_account_key()},
            id="custom-secret-entry",
        ),
    ],
)
async def test_issuer_becomes_ready(
    world: World, acme: dict[str, Any], secret: dict[str, bytes] | None
) -> None:
    if secret is not None:
        name = acme.get("privateKeySecretRef", {}).get("name", "pebble-account")
        await _secret(world, name, secret)
    await world.issuer(acme=acme)
    issuer = await _issuer_ready(world)
    assert issuer["status"]["acme"]["lastPrivateKeyHash"]
    await world.request("variant", ["variant.example.com"])
    assert _ready(await world.finished("variant"))[:2] == ("True", "Issued")
    await world.assert_clean()


async def test_a_rotated_account_key_registers_a_new_account(world: World) -> None:
    await world.issuer()
    before = (await _issuer_ready(world))["status"]["acme"]
    secret = await world.kube.get(SECRETS, "pebble-account", namespace=world.namespace)
    secret["data"] = {"tls.key": base64.b64encode(_rsa_account_key()).decode()}
    await world.kube.update(SECRETS, secret)

    async def probe() -> dict[str, Any]:
        got: dict[str, Any] = await world.kube.get(ISSUERS, "pebble", namespace=world.namespace)
        return got

    issuer = await eventually(
        probe,
        lambda i: i["status"]["acme"]["lastPrivateKeyHash"] != before["lastPrivateKeyHash"],
        deadline=DEADLINE,
    )
    assert issuer["status"]["acme"]["uri"] != before["uri"]
    await world.request("rotated", ["rotated.example.com"])
    assert _ready(await world.finished("rotated"))[:2] == ("True", "Issued")
    await world.assert_clean()
