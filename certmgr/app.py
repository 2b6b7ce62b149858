"""``certmgr run``: the composition root. Wires clock, Kubernetes door, caches, controllers,
ACME, leader election, the shared HTTP-01 solver and the health/metrics server (with
cert-manager's metrics: the resource collector and the ACME exchange observer), and runs
them in one TaskGroup.

Owns process lifecycle: SIGTERM/SIGINT make the process unready and its solver endpoint
terminating, keep answering the challenges the CA was asked to validate until they are
final (``--shutdown-drain-timeout``), stop the controllers, release the Lease (so a
standby takes over at once), withdraw the endpoint and exit 0; losing leadership exits 1 (the
pod restarts and campaigns again, as controller-runtime does); a bad flag or kubeconfig
exits 2 with one line. It must not contain reconcile logic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import structlog

from certmgr import runflags
from certmgr.acme import metrics as acme_metrics
from certmgr.acme.session import connect as acme_connect
from certmgr.controllerflags import disabled_controllers, gateway_shim_named
from certmgr.controllers import acme as acme_controllers
from certmgr.controllers import certificates as certificate_controllers
from certmgr.controllers import gatewayshim, ingressshim
from certmgr.controllers import issuers as issuer_controllers
from certmgr.controllers import metrics as resource_metrics
from certmgr.controllers.acme.shared_solver import is_not_final
from certmgr.controllers.context import Context, Settings
from certmgr.errors import UsageError
from certmgr.kube import serverversion
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import APIError, ConfigError, NotFound, Unreachable
from certmgr.kube.resources import (
    CERTIFICATEREQUESTS,
    CERTIFICATES,
    CHALLENGES,
    CLUSTERISSUERS,
    ISSUERS,
    NAMESPACES,
    ORDERS,
)
from certmgr.runtime import allocator, gcpolicy, heapprofile
from certmgr.runtime.clock import Clock, SystemClock
from certmgr.runtime.events import EventRecorder
from certmgr.runtime.health import METRICS_PATHS, PROBE_PATHS, HealthServer
from certmgr.runtime.leaderelection import LeaderElectionConfig, LeaderElector
from certmgr.runtime.logging import configure_logging
from certmgr.runtime.looplag import LoopLagProbe
from certmgr.runtime.manager import Manager
from certmgr.runtime.metrics import REGISTRY

log = structlog.get_logger("certmgr")


class LeadershipLost(Exception):
    """The Lease was lost: stop writing at once and let the process restart."""


def configure(parser: argparse.ArgumentParser) -> None:
    runflags.add_flags(parser)


def settings_from(args: argparse.Namespace) -> Settings:
    _, solver_port = split_address(args.http01_solver_address)
    if args.renewal_rate_qps <= 0 or args.renewal_rate_burst < 1:
        raise UsageError("--renewal-rate-qps must be > 0 and --renewal-rate-burst >= 1")
    if gateway_shim_named(args.controllers) and not args.enable_gateway_api:
        raise UsageError("--controllers: gateway-shim runs only with --enable-gateway-api")
    return Settings(
        cluster_resource_namespace=args.cluster_resource_namespace,
        issuance_backoff_base=timedelta(seconds=args.issuance_backoff_base),
        issuance_backoff_cap=timedelta(seconds=args.issuance_backoff_cap),
        solver_mode=args.http01_solver_mode,
        shared_solver_host=args.http01_solver_service_host,
        shared_solver_service_type=args.http01_solver_service_type,
        shared_solver_port=solver_port,
        shared_solver_service_linger=args.http01_solver_service_linger,
        solver_image=args.http01_solver_image,
        self_check_port=args.http01_self_check_port,
        self_check_nameserver=args.http01_self_check_nameserver,
        self_check_successes=args.http01_self_check_successes,
        self_check_interval=args.http01_self_check_interval,
        max_concurrent_challenges=args.max_concurrent_challenges,
        dns01_recursive_nameservers=tuple(args.dns01_recursive_nameservers),
        dns01_recursive_nameservers_only=args.dns01_recursive_nameservers_only,
        cluster_issuer_ambient_credentials=args.cluster_issuer_ambient_credentials,
        issuer_ambient_credentials=args.issuer_ambient_credentials,
        default_issuer_name=args.default_issuer_name,
        default_issuer_kind=args.default_issuer_kind,
        default_issuer_group=args.default_issuer_group,
        detailed_events=args.detailed_events,
        acme_renewal_info=args.acme_renewal_info,
        enable_certificate_owner_ref=args.enable_certificate_owner_ref,
        renewal_rate_qps=args.renewal_rate_qps,
        renewal_rate_burst=args.renewal_rate_burst,
        workers=args.workers,
        enable_gateway_api=args.enable_gateway_api,
        disabled_controllers=disabled_controllers(
            args.controllers, gateway_api=args.enable_gateway_api
        ),
    )


def split_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def run(args: argparse.Namespace) -> int:
    try:
        configure_logging(
            runflags.log_level(args),
            json=None if args.log_format is None else args.log_format == "json",
        )
        for ignored in args.ignored_flags:
            log.warning("flag_ignored", flag=ignored)
        settings = settings_from(args)
        problem = runflags.leader_election_problem(args)
        if problem is not None:
            raise UsageError(problem)
        split_address(args.health_address)
        if args.metrics_address != "0":
            split_address(args.metrics_address)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return asyncio.run(main(args, settings))


async def main(args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None) -> int:
    clock = clock or SystemClock()
    allocator.tune_tls_reads()  # before the first connection
    try:
        client = await KubeClient.connect(
            kubeconfig=args.kubeconfig,
            context=args.context,
            qps=args.kube_api_qps,
            burst=args.kube_api_burst,
        )
    except (ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    heapprofile.install(loop)
    try:
        return await _serve(client, args, settings, clock=clock, stop=stop)
    finally:
        await client.close()


async def wait_for_api_server(client: KubeClient, *, namespace: str, clock: Clock) -> None:
    """Block until the API server answers, logging each failed attempt (capped backoff)."""
    delay, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            await client.get(NAMESPACES, namespace)
            return
        except Unreachable as exc:
            log.warning("api_server_unreachable", attempt=attempt, retry_in=delay, error=str(exc))
        except APIError:
            return  # it answered (NotFound, Forbidden...): reachable
        await clock.sleep(delay)
        delay = min(delay * 2, 30.0)


async def refuse_an_old_server(client: KubeClient) -> None:
    """Raise ``UsageError`` (one line) when the server is older than the CRDs need."""
    try:
        document = await client.server_version()
    except (APIError, Unreachable) as exc:
        log.warning("kube_server_version_unknown", error=str(exc))
        return
    line = serverversion.refusal(document)
    if line is not None:
        raise UsageError(line)
    log.info("kube_server_version", git_version=document.get("gitVersion"))


CRD_RESOURCES: Final = (
    CERTIFICATES,
    CERTIFICATEREQUESTS,
    ISSUERS,
    CLUSTERISSUERS,
    ORDERS,
    CHALLENGES,
)
INSTALL_CRDS: Final = "certmgr manifests crds | kubectl apply -f -"


async def missing_crds(client: KubeClient, *, namespace: str | None) -> list[str]:
    """The CRDs (``plural.group``) whose resources the API server does not serve."""
    missing: list[str] = []
    for resource in CRD_RESOURCES:
        try:
            async for _ in client.list_pages(
                resource,
                namespace=namespace if resource.namespaced else None,
                metadata_only=True,
                page_size=1,
            ):
                break
        except NotFound:
            missing.append(f"{resource.plural}.{resource.group}")
        except APIError:
            pass  # served (Forbidden and the like are the informers' to report)
    return missing


async def wait_for_crds(client: KubeClient, *, namespace: str | None, clock: Clock) -> None:
    """Block until every CRD is served; say once which are missing and how to install them
    (then wait quietly, as cert-manager's controller does)."""
    delay, reported = 1.0, False
    while missing := await missing_crds(client, namespace=namespace):
        if not reported:
            log.error("crds_missing", crds=missing, install=INSTALL_CRDS)
            reported = True
        await clock.sleep(delay)
        delay = min(delay * 2, 30.0)
    if reported:
        log.info("crds_installed")


async def _serve(
    client: KubeClient,
    args: argparse.Namespace,
    settings: Settings,
    *,
    clock: Clock,
    stop: asyncio.Event,
) -> int:
    waiting = asyncio.ensure_future(
        wait_for_api_server(client, namespace=settings.cluster_resource_namespace, clock=clock)
    )
    await asyncio.wait({waiting, asyncio.ensure_future(stop.wait())}, return_when="FIRST_COMPLETED")
    if not waiting.done():
        waiting.cancel()
        return 0
    await refuse_an_old_server(client)
    manager = Manager(client, clock=clock, namespace=args.namespace)
    events = EventRecorder(client, clock=clock)
    elector: LeaderElector | None = None
    if args.leader_elect:
        elector = LeaderElector(
            client,
            LeaderElectionConfig(
                namespace=args.leader_election_namespace or settings.cluster_resource_namespace,
                name=args.leader_election_name,
                lease_duration=args.leader_election_lease_duration,
                renew_deadline=args.leader_election_renew_deadline,
                retry_period=args.leader_election_retry_period,
            ),
            clock=clock,
        )
    ctx = Context(
        client=client,
        manager=manager,
        clock=clock,
        events=events,
        # Every ACME exchange feeds cert-manager's certmanager_http_acme_client_* metrics;
        # a write to the CA is sent only while the Lease is surely ours (a process frozen
        # past its renew deadline would otherwise place orders its successor also places).
        acme=functools.partial(
            acme_connect,
            observer=acme_metrics.observe_exchange,
            may_write=elector.holds_lease if elector is not None else None,
        ),
        settings=settings,
    )
    certificate_controllers.setup_all(ctx)
    acme = acme_controllers.setup_all(ctx)
    issuer_controllers.setup_all(ctx)
    if settings.runs("ingress-shim"):
        ingressshim.setup(ctx)
    if settings.enable_gateway_api and settings.runs("gateway-shim"):
        gatewayshim.setup(ctx)
    collector = (
        resource_metrics.register(manager, clock=clock)
        if settings.runs("certificates-metrics")
        else None
    )

    draining = asyncio.Event()
    endpoints = _shared_endpoints(args, settings, manager)
    if endpoints is not None:
        acme.challenges.route_through(endpoints)
    health = HealthServer(
        readiness={
            "caches_synced": lambda: manager.has_synced,
            "leading_or_standing_by": lambda: elector is None or elector.healthy,
            "not_shutting_down": lambda: not draining.is_set(),
        }
    )
    host, port = split_address(args.health_address)
    solver_host, solver_port = split_address(args.http01_solver_address)
    try:
        health_port = await health.start(host, port, paths=PROBE_PATHS)
        metrics_port = None
        if args.metrics_address != "0":
            metrics_host, metrics_port = split_address(args.metrics_address)
            metrics_port = await health.start(metrics_host, metrics_port, paths=METRICS_PATHS)
        # Every replica answers HTTP-01 from its Challenge cache, leader or not.
        solver = await acme_controllers.serve_shared_solver(
            manager, host=solver_host, port=solver_port
        )
    except OSError as exc:
        await health.stop()
        _unregister(collector)
        raise UsageError(f"cannot listen: {exc.strerror or exc}") from exc
    log.info(
        "certmgr_starting",
        health_port=health_port,
        metrics_port=metrics_port,
        leader_elect=elector is not None,
    )
    exit_code = 0
    crds = asyncio.ensure_future(wait_for_crds(client, namespace=args.namespace, clock=clock))
    await asyncio.wait({crds, asyncio.ensure_future(stop.wait())}, return_when="FIRST_COMPLETED")
    if not crds.done():
        crds.cancel()
        await solver.cleanup()
        await acme.close()
        await events.close()
        await health.stop()
        _unregister(collector)
        return 0
    # Two task groups, so shutdown has an order: the writers (controllers, under the
    # Lease) drain and the Lease is released first; then informers and the solver stop.
    drain = ShutdownDrain(
        acme=acme,
        manager=manager,
        endpoints=endpoints,
        draining=draining,
        clock=clock,
        deadline=args.shutdown_drain_timeout,
        serving=settings.solver_mode == "shared",
    )
    gc_pauses = gcpolicy.PauseTimer()
    survivors = gcpolicy.SurvivorFreezer()
    try:
        async with asyncio.TaskGroup() as background:
            background.create_task(manager.run_informers())
            background.create_task(LoopLagProbe(trace_over=args.log_slow_loop_turns).run())
            gcpolicy.tune()
            allocator.tune()
            gc_pauses.install()
            survivors.install()
            background.create_task(gcpolicy.refreeze_forever(clock))
            background.create_task(gcpolicy.release_memos_forever(clock))
            if endpoints is not None:
                background.create_task(endpoints.run())
            try:
                async with asyncio.TaskGroup() as writers:
                    writers.create_task(drain.until(stop))
                    if elector is None:
                        writers.create_task(manager.run_controllers())
                    else:
                        writers.create_task(_lead(elector, manager))
            except* _Stopped:
                log.info("certmgr_stopping")
            await drain.solver()
            raise _Stopped
    except* _Stopped:
        log.info("certmgr_stopped")
    except* LeadershipLost:
        log.error("leader_election_lost")
        exit_code = 1
    finally:
        gc_pauses.uninstall()
        survivors.uninstall()
        await solver.cleanup()
        await acme.close()
        await events.close()
        await health.stop()
        _unregister(collector)
    return exit_code


def _unregister(collector: resource_metrics.ResourceMetrics | None) -> None:
    if collector is not None:
        REGISTRY.unregister(collector)


class _Stopped(Exception):
    """Raised inside the TaskGroup to cancel every task on SIGTERM/SIGINT."""


# How often the drain looks whether the challenges it waits for are final.
DRAIN_POLL_SECONDS: Final = 0.2


def _shared_endpoints(
    args: argparse.Namespace, settings: Settings, manager: Manager
) -> acme_controllers.ReplicaEndpoints | None:
    """This replica's EndpointSlice publisher (shared mode, EndpointSlice Services): its
    Pod's name and IP come from the downward API (POD_NAME, POD_IP)."""
    if settings.solver_mode != "shared" or settings.shared_solver_service_type != "EndpointSlice":
        return None
    solver_host, solver_port = split_address(args.http01_solver_address)
    ip = os.environ.get("POD_IP") or ("" if solver_host in ("0.0.0.0", "::") else solver_host)
    if not ip:
        log.warning(
            "shared_solver_endpoint_unpublished",
            reason="POD_IP is not set (deploy/deployment.yaml sets it from status.podIP)",
        )
        return None
    replica = acme_controllers.Replica(
        name=os.environ.get("POD_NAME") or socket.gethostname(), ip=ip, port=solver_port
    )
    return acme_controllers.publish_shared_endpoints(
        manager,
        replica=replica,
        lease_namespace=args.leader_election_namespace or settings.cluster_resource_namespace,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownDrain:
    """SIGTERM, in order: unready and endpoint terminating; the challenges accepted by
    this process answered until final; controllers stopped (Lease released); then every
    challenge still pending answered (another replica may have accepted it while this
    one was still routed to), all within one deadline; the endpoint withdrawn."""

    acme: acme_controllers.AcmeControllers
    manager: Manager
    endpoints: acme_controllers.ReplicaEndpoints | None
    draining: asyncio.Event
    clock: Clock
    deadline: float
    serving: bool
    started: list[float] = field(default_factory=list)

    async def until(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.started.append(self.clock.monotonic())
        self.draining.set()
        log.info("shutdown_requested", drain_deadline=self.deadline)
        if self.endpoints is not None:
            with contextlib.suppress(APIError, Unreachable):
                await self.endpoints.drain()
        self.acme.challenges.drain()
        await self._wait(self.acme.challenges.accepted_in_flight, what="accepted")
        raise _Stopped

    async def solver(self) -> None:
        """After the controllers stopped: answer what is still pending, then withdraw."""
        if self.serving:
            await self._wait(self._pending_challenges, what="pending")
        if self.endpoints is not None:
            with contextlib.suppress(APIError, Unreachable):
                await self.endpoints.withdraw()

    def _pending_challenges(self) -> int:
        cache = self.manager.informer(CHALLENGES).cache
        return sum(1 for c in cache if is_not_final(c))

    async def _wait(self, count: Callable[[], int], *, what: str) -> None:
        end = (self.started[0] if self.started else self.clock.monotonic()) + self.deadline
        left = count()
        if left:
            log.info("shutdown_draining_challenges", challenges=left, kind=what)
        while left and self.clock.monotonic() < end:
            await self.clock.sleep(DRAIN_POLL_SECONDS)
            left = count()
        if left:
            log.warning("shutdown_drain_deadline_passed", challenges=left, kind=what)


async def _lead(elector: LeaderElector, manager: Manager) -> None:
    await elector.run(manager.run_controllers)
    raise LeadershipLost
