"""Renewal scheduler benchmark: 10,000 Certificates on the real clock (printed figures, not a test).

The API simulator runs in a child process (so its CPU and its share of the GIL are not
counted against the controllers), seeded directly in its store with Certificates that
are already issued: a Secret with a key pair from a local CA and the status readiness
would write (revision 1, Ready, notBefore/notAfter/renewalTime computed by the product's
own functions), so nothing needs issuing at start. This process runs the Certificate
controllers (``setup_all``) and a ``LocalCAIssuer`` on a ``Manager`` with the product's
client limits (50 qps, burst 100) and default ``Settings``.

Phases:

1. start: informer sync time and status writes caused by the start (0 expected);
2. idle: CPU of this process while every renewal is pending (``time.process_time`` and
   ``getrusage`` deltas; the event loop's thread is the only busy one);
3. renewals: ``--renewing`` of the Certificates have a 90 s lifetime (so no jitter: 1 %
   is under a second) and renewal times spread over ``--window`` seconds; the others
   renew in weeks. For each, lateness = when this process saw ``Issuing=True`` (the
   trigger's status write back through the watch) minus ``status.renewalTime``;
4. restart: the controllers stop, ``--overdue`` Certificates whose renewal time has
   passed are added, the controllers start again: when the first renewal starts, and the
   pace (renewals started per second against ``renewal_rate_qps``/``burst``).

Run: ``.venv/bin/python bench/renewal.py [--certificates 10000] [--renewing 300]
[--window 100] [--overdue 1000]`` (about 4 minutes). It must not be imported by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.api import labels
from certmgr.api.codec import parse_rfc3339, rfc3339
from certmgr.api.reasons import READY, READY_MESSAGE
from certmgr.controllers.certificates import setup_all
from certmgr.controllers.certificates.gather import renewal_jitter_seconds
from certmgr.controllers.context import Context, Settings
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.pki.renewal import jittered_renewal_time, renewal_time
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.manager import Manager
from certmgr.testing.issuers import LocalCAIssuer

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "test-ca"
NAMESPACE = "bench"
OVERDUE_NAMESPACE = "overdue"
RENEWING_LIFETIME = timedelta(seconds=90)  # under 100 s: the jitter bound is 0
FAR_LIFETIME = timedelta(days=30)
TARGET_LATENESS = 1.0


# -- the child: the simulator and its seeding --------------------------------------------------


class Seeder:
    """Builds already-issued Certificates and stores them with their status."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench root")])
        # One leaf key for all: key generation is not what is measured.
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._admitted: dict[str, Any] | None = None
        self.key_pem = self.leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def namespace(self, name: str) -> None:
        self.sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def leaf(self, name: str, not_before: datetime, not_after: datetime) -> bytes:
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_name)
            .public_key(self.leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"{name}.example.com")]), critical=True
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def store(self, namespace: str, name: str, *, renew_at: datetime, lifetime: timedelta) -> None:
        """A Certificate whose (unjittered) renewal time is ``renew_at`` (default 2/3 rule)."""
        not_before = renew_at - lifetime * 2 / 3
        not_after = not_before + lifetime
        pem = self.leaf(name, not_before, not_after)
        base = renewal_time(
            not_before=not_before,
            not_after=not_after,
            renew_before=None,
            renew_before_percentage=None,
        )
        jitter = renewal_jitter_seconds(pem, cap=Settings().renewal_jitter_max)
        due = jittered_renewal_time(base, jitter_seconds=jitter, not_before=not_before)
        self._create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {
                    "name": f"{name}-tls",
                    "namespace": namespace,
                    "labels": {labels.FOR_ATTENTION_OF: "true"},
                    "annotations": {
                        labels.CERTIFICATE_NAME: name,
                        labels.ISSUER_NAME: ISSUER,
                        labels.ISSUER_KIND: "Issuer",
                        labels.ISSUER_GROUP: "cert-manager.io",
                    },
                },
                "data": {
                    "tls.crt": base64.b64encode(pem).decode(),
                    "tls.key": base64.b64encode(self.key_pem).decode(),
                },
            }
        )
        self._create(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "secretName": f"{name}-tls",
                    "issuerRef": {"name": ISSUER, "kind": "Issuer"},
                    "dnsNames": [f"{name}.example.com"],
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                },
            },
            status={
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": READY,
                        "message": READY_MESSAGE,
                        "lastTransitionTime": rfc3339(not_before),
                        "observedGeneration": 1,
                    }
                ],
                "notBefore": rfc3339(not_before),
                "notAfter": rfc3339(not_after),
                "renewalTime": rfc3339(due),
                "revision": 1,
            },
        )

    def _create(self, obj: dict[str, Any], *, status: dict[str, Any] | None = None) -> None:
        # The simulator's own admission and store: fast, and unlike a create through the
        # API (which drops a custom resource's status) it keeps the status we computed.
        from certmgr.testing.apiserver import admission

        sim = self.sim
        rtype = sim.store.catalogue.by_kind(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"]["namespace"]
        if obj["kind"] != "Certificate":
            prepared = admission.prepare_create(sim.store, rtype, namespace, obj)
        else:
            # The CRD's CEL rules cost ~30 ms a Certificate here: admit the first one,
            # and give the rest the same shape (they differ only in names).
            if self._admitted is None:
                self._admitted = admission.prepare_create(sim.store, rtype, namespace, obj)
            prepared = copy.deepcopy(self._admitted)
            prepared["metadata"].update(obj["metadata"])
            prepared["spec"].update(obj["spec"])
        if status is not None:
            prepared["status"] = status
        sim.store.create(rtype, prepared)


async def serve(kubeconfig: str, args: argparse.Namespace) -> None:
    from certmgr.testing.apiserver import Simulator

    loop = asyncio.get_running_loop()
    async with Simulator(bookmark_interval=5.0) as sim:
        sim.install_crds(sorted((ROOT / "crds").glob("*_*.yaml")))
        seeder = Seeder(sim)
        seeder.namespace(NAMESPACE)
        seeder.namespace(OVERDUE_NAMESPACE)
        started = time.perf_counter()
        far = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
        for i in range(args.renewing, args.certificates):
            # Renewal in ten days and more, one second apart.
            at = far + timedelta(seconds=i)
            seeder.store(NAMESPACE, f"c{i:05d}", renew_at=at, lifetime=FAR_LIFETIME)
            if i % 500 == 0:
                await asyncio.sleep(0)
        sim.kubeconfig(kubeconfig)
        print(
            f"seeded {args.certificates - args.renewing} Certificates renewing in 10+ days "
            f"in {time.perf_counter() - started:.1f} s"
        )
        print("ready", flush=True)
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            command, *values = line.split()
            now = datetime.now(UTC).replace(microsecond=0)
            if command == "renewing":
                # Renewal times spread evenly over the window (whole seconds, as stored).
                start, window = float(values[0]), float(values[1])
                step = window / max(args.renewing, 1)
                for i in range(args.renewing):
                    at = datetime.fromtimestamp(start + i * step, UTC).replace(microsecond=0)
                    seeder.store(NAMESPACE, f"c{i:05d}", renew_at=at, lifetime=RENEWING_LIFETIME)
            elif command == "overdue":
                # Overdue by up to a minute, still valid for ten (default renewBefore 1/3).
                for i in range(args.overdue):
                    seeder.store(
                        OVERDUE_NAMESPACE,
                        f"o{i:05d}",
                        renew_at=now - timedelta(seconds=i % 60),
                        lifetime=timedelta(minutes=30),
                    )
            print("seeded", flush=True)


# -- the parent: the controllers and the measurements -----------------------------------------


class NoEvents:
    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass


class NoAcme:
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("only the local CA issues here")


@dataclass
class Observed:
    """What this process saw through its Certificate informer."""

    # (wall time seen, namespace, renewalTime, name) of every transition to Issuing=True.
    issuing: list[tuple[float, str, datetime | None, str]] = field(default_factory=list)
    status_writes: int = 0

    def handler(self, event: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if old is None or new is None:
            return
        if (old.get("status") or {}) != (new.get("status") or {}):
            self.status_writes += 1
        if issuing(new) and not issuing(old):
            renewal = (old.get("status") or {}).get("renewalTime")
            self.issuing.append(
                (
                    time.time(),
                    new["metadata"]["namespace"],
                    parse_rfc3339(renewal) if renewal else None,
                    new["metadata"]["name"],
                )
            )


def issuing(obj: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Issuing" and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or ()
    )


@dataclass
class Controllers:
    kube: KubeClient
    settings: Settings
    observed: Observed
    manager: Manager | None = None
    task: asyncio.Task[None] | None = None

    async def start(self) -> float:
        """Start every certificate controller; seconds until the informers synced."""
        clock = SystemClock()
        manager = Manager(self.kube, clock=clock)
        ctx = Context(
            client=self.kube,
            manager=manager,
            clock=clock,
            events=NoEvents(),
            acme=NoAcme(),
            settings=self.settings,
        )
        setup_all(ctx)
        LocalCAIssuer(clock=clock, name=ISSUER).setup(manager)
        manager.informer(r.CERTIFICATES).add_handler(self.observed.handler)
        self.manager = manager
        started = time.perf_counter()
        self.task = asyncio.create_task(manager.run())
        await manager.wait_synced()
        return time.perf_counter() - started

    async def quiesce(self, *, calm_polls: int = 10) -> None:
        """Until no controller has queued or running work for ``calm_polls`` polls."""
        assert self.manager is not None
        calm = 0
        while calm < calm_polls:
            busy = any(len(c.queue) or c.busy for c in self.manager.controllers)
            calm = 0 if busy else calm + 1
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = self.manager = None


def cpu_seconds() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.process_time(), usage.ru_utime + usage.ru_stime


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    q = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else ordered * 99
    )
    return f"p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


async def ask(child: Any, command: str) -> None:
    """Have the simulator process seed something; return once it has."""
    child.stdin.write(command + "\n")
    child.stdin.flush()
    await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)


async def wait_for(condition: Any, *, within: float) -> None:
    deadline = time.monotonic() + within
    # Polls a list an informer handler appends to; no event to wait on.
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def measure(kubeconfig: str, args: argparse.Namespace, child: Any) -> None:
    settings = Settings()
    observed = Observed()
    far = args.certificates - args.renewing
    async with await KubeClient.connect(kubeconfig=kubeconfig) as kube:
        controllers = Controllers(kube, settings, observed)
        started, cpu = time.perf_counter(), time.process_time()
        synced = await controllers.start()
        await controllers.quiesce()
        print(
            f"start: {far} Certificates synced in {synced:.1f} s; every controller's first "
            f"reconcile of each done after {time.perf_counter() - started - 1.0:.1f} s "
            f"({time.process_time() - cpu:.1f} s CPU); status writes caused by the start: "
            f"{observed.status_writes}; renewals started: {len(observed.issuing)}"
        )

        window_start = float(int(time.time() + args.lead))
        await ask(child, f"renewing {window_start} {args.window}")
        await controllers.quiesce()
        idle = min(args.idle, window_start - time.time() - 1.0)
        if idle < 3:
            print(f"(only {idle:.1f} s left before the renewal window: raise --lead)")
        else:
            before, wall = cpu_seconds(), time.perf_counter()
            await asyncio.sleep(idle)
            after, elapsed = cpu_seconds(), time.perf_counter() - wall
            used = after[0] - before[0]
            print(
                f"idle: {args.certificates} renewals pending, {elapsed:.1f} s: CPU "
                f"{used * 1000:.0f} ms (process_time), "
                f"{(after[1] - before[1]) * 1000:.0f} ms (getrusage) = "
                f"{used / elapsed * 100:.2f} % of one core"
            )

        def renewed() -> list[tuple[float, datetime | None]]:
            first: dict[str, tuple[float, datetime | None]] = {}
            for seen, ns, due, name in observed.issuing:
                if ns == NAMESPACE:
                    first.setdefault(name, (seen, due))
            return list(first.values())

        wait = window_start + args.window + 30 - time.time()
        await wait_for(lambda: len(renewed()) >= args.renewing, within=wait)
        fired = renewed()
        late = [seen - due.timestamp() for seen, due in fired if due is not None]
        on_time = sum(1 for value in late if value <= TARGET_LATENESS)
        early = sum(1 for value in late if value < 0)
        print(
            f"renewals: {len(fired)}/{args.renewing} over {args.window:.0f} s "
            f"({args.renewing / args.window:.1f}/s; pacing {settings.renewal_rate_qps:g}/s, "
            f"burst {settings.renewal_rate_burst}), lateness after renewalTime: "
            f"{quantiles(late) if late else 'none'}; within {TARGET_LATENESS:g} s: "
            f"{on_time}/{len(late)}; early: {early}"
        )
        await controllers.quiesce()
        await controllers.stop()

        await ask(child, "overdue")
        observed.issuing.clear()
        restarted, cpu = time.time(), time.process_time()
        synced = await controllers.start()

        def overdue() -> list[float]:
            return sorted(seen for seen, ns, _, _ in observed.issuing if ns == OVERDUE_NAMESPACE)

        await wait_for(lambda: len(overdue()) >= args.overdue, within=args.restart_deadline)
        started_at = overdue()
        cpu = time.process_time() - cpu
        await controllers.stop()
    if not started_at:
        print("restart: no overdue renewal started")
        return
    first = started_at[0] - restarted
    span = started_at[-1] - started_at[0]
    in_first_second = sum(1 for t in started_at if t - started_at[0] <= 1.0)
    after_burst = [t for t in started_at if t - started_at[0] > 1.0]
    steady = (
        f"{(len(after_burst) - 1) / (after_burst[-1] - after_burst[0]):.1f}/s"
        if len(after_burst) > 1
        else "-"
    )
    print(
        f"restart with {args.overdue} overdue + {args.certificates} up to date: synced in "
        f"{synced:.1f} s; first overdue renewal {first:.1f} s after start, {in_first_second} "
        f"in its first second, then {steady}; {len(started_at)} started over {span:.1f} s "
        f"(limit: burst {settings.renewal_rate_burst}, then {settings.renewal_rate_qps:g}/s); "
        f"CPU {cpu:.0f} s over {started_at[-1] - restarted:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--renewing", type=int, default=300, help="renewing in the window")
    parser.add_argument("--window", type=float, default=100.0, help="seconds")
    parser.add_argument("--lead", type=float, default=40.0, help="seconds to the window")
    parser.add_argument("--idle", type=float, default=20.0, help="idle window, seconds")
    parser.add_argument("--overdue", type=int, default=300)
    parser.add_argument("--overdue-deadline", dest="restart_deadline", type=float, default=900.0)
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    if args.serve:
        asyncio.run(serve(args.serve, args))
        return
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(Path(tmp) / "kubeconfig")
        child = subprocess.Popen(
            [sys.executable, __file__, *sys.argv[1:], "--serve", kubeconfig],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.strip() == "ready":
                    break
                print(f"[simulator] {line.rstrip()}")
            else:
                raise SystemExit("the simulator exited before it was ready")
            asyncio.run(measure(kubeconfig, args, child))
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


if __name__ == "__main__":
    main()
