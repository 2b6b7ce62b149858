"""Renewal scheduler benchmark: 10,000 Certificates on the real clock (printed figures, not a test).

The API simulator runs in a child process (so its CPU and its share of the GIL are not
counted against the controllers), seeded directly in its store with Certificates that
are already issued: the Secret the issuing controller would have written for each
(``secretdata.build_secret``: key pair from a local CA, key in the spec's PKCS#1
default, every managed label and annotation, ``ca.crt``) and the status readiness would
write (revision 1, Ready, notBefore/notAfter/renewalTime computed by the product's own
functions), so nothing needs issuing or repairing at start. This process runs the
Certificate controllers (``setup_all``) and a ``LocalCAIssuer`` on a ``Manager`` with
the product's client limits (50 qps, burst 100) and default ``Settings``.

Phases:

1. start: sync time, the first pass's wall and CPU time, and the objects the simulator
   saw written during it (Secrets, CertificateRequests, Certificates: 0 expected, so a
   wrong seed or a controller that rewrites up-to-date Secrets shows);
2. idle: CPU of this process while every renewal is pending (``time.process_time`` and
   ``getrusage`` deltas; the event loop's thread is the only busy one);
3. renewals: ``--renewing`` of the Certificates have a 90 s lifetime (so no jitter: 1 %
   is under a second) and renewal times spread over ``--window`` seconds; the others
   renew in weeks. Their Secrets are stored (and cached here) before the Certificates,
   so none is issued early as ``DoesNotExist``. Lateness after ``status.renewalTime``
   of three moments: the trigger's work queue re-adding the key (its delayed add fired:
   the scheduler), the trigger's ``issuance_triggered`` log line (``Issuing=True``
   written), and ``Issuing=True`` seen through this process's watch; plus how many
   waited for the renewal pace;
4. restart: the controllers stop, ``--overdue`` Certificates whose renewal time has
   passed are added, the controllers start again: when the first renewal starts, and the
   pace (renewals started per second against ``renewal_rate_qps``/``burst``).

Each phase prints the load average. Run: ``.venv/bin/python bench/renewal.py
[--certificates 10000] [--renewing 300] [--window 100] [--overdue 300]`` (about 5
minutes). It must not be imported by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
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

from certmgr.api.codec import parse_rfc3339
from certmgr.controllers.certificates import setup_all
from certmgr.controllers.certificates.trigger import NAME as TRIGGER
from certmgr.controllers.context import Context, Settings
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.manager import Manager
from certmgr.runtime.workqueue import WorkQueue
from certmgr.testing.issuers import LocalCAIssuer
from certmgr.testing.seeding import IssuedSeeder

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "test-ca"
NAMESPACE = "bench"
OVERDUE_NAMESPACE = "overdue"
RENEWING_LIFETIME = timedelta(seconds=90)  # under 100 s: the jitter bound is 0
FAR_LIFETIME = timedelta(days=30)
TARGET_LATENESS = 1.0
STALL = 0.1
BUSY_ITERATION = 0.02
# Log lines every issuance writes: not what explains an event-loop stall.
PER_ISSUANCE = frozenset(
    {
        "issuance_triggered",
        "certificate_issued",
        "readiness_updated",
        "next_private_key_stored",
        "next_private_key_deleted",
        "certificate_request_created",
        "old_certificate_request_deleted",
    }
)


def renewing(i: int) -> str:
    """The name of the ``i``-th Certificate renewing in the window."""
    return f"c{i:05d}"


# -- the child: the simulator and its seeding --------------------------------------------------


class Seeder(IssuedSeeder):
    """``IssuedSeeder`` for this benchmark: Certificates named by when they renew."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim, issuer_ref={"name": ISSUER, "kind": "Issuer"})

    def store(
        self,
        namespace: str,
        name: str,
        *,
        renew_at: datetime,
        lifetime: timedelta,
        hold: bool = False,
    ) -> None:
        """A Certificate whose (unjittered) renewal time is ``renew_at`` (default 2/3 rule)."""
        not_before = renew_at - lifetime * 2 / 3
        self.certificate(
            namespace, name, not_before=not_before, not_after=not_before + lifetime, hold=hold
        )

    def census_line(self) -> str:
        """Writes to the store since ``mark``: objects of each kind changed, and in all."""
        written = self.census()
        counts = [
            f"{kind}={written.get(plural, 0)}"
            for plural, kind in (
                ("secrets", "Secret"),
                ("certificaterequests", "CertificateRequest"),
                ("certificates", "Certificate"),
            )
        ]
        return f"{' '.join(counts)} writes={self.sim.store.resource_version - self.mark}"


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
                    seeder.store(
                        NAMESPACE, renewing(i), renew_at=at, lifetime=RENEWING_LIFETIME, hold=True
                    )
            elif command == "release":
                seeder.release()
            elif command == "overdue":
                # Overdue by up to a minute, still valid for ten (default renewBefore 1/3).
                for i in range(args.overdue):
                    seeder.store(
                        OVERDUE_NAMESPACE,
                        f"o{i:05d}",
                        renew_at=now - timedelta(seconds=i % 60),
                        lifetime=timedelta(minutes=30),
                    )
            elif command == "mark":
                seeder.mark = sim.store.resource_version
            elif command == "census":
                print(seeder.census_line(), flush=True)
                continue
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
    # namespace/name -> reason of its latest Issuing=True (to explain an outlier).
    reasons: dict[str, str] = field(default_factory=dict)
    status_writes: int = 0

    def handler(self, event: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if old is None or new is None:
            return
        if (old.get("status") or {}) != (new.get("status") or {}):
            self.status_writes += 1
        if issuing(new) and not issuing(old):
            self.reasons[f"{new['metadata']['namespace']}/{new['metadata']['name']}"] = next(
                str(c.get("reason"))
                for c in new["status"]["conditions"]
                if c.get("type") == "Issuing"
            )
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
    stages: Stages
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
        self.stages.watch_queue(next(c for c in manager.controllers if c.name == TRIGGER).queue)
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

    async def secrets_cached(self, namespace: str, names: list[str]) -> None:
        """Until this process's Secret cache holds all of ``names``."""
        assert self.manager is not None
        cache = self.manager.secrets.managed.cache
        await wait_for(lambda: all(cache.get(namespace, f"{n}-tls") for n in names), within=60)

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
    return (
        f"p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


async def ask(child: Any, command: str) -> str:
    """Have the simulator process seed or count something; its one-line answer."""
    child.stdin.write(command + "\n")
    child.stdin.flush()
    answer: str = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
    return answer.strip()


async def wait_for(condition: Any, *, within: float) -> None:
    deadline = time.monotonic() + within
    # Polls a list an informer handler appends to; no event to wait on.
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


@dataclass
class Stages:
    """When each renewal passed each step inside this process (not through the API).

    ``fired``: the trigger's work queue re-adding a key because its delayed add came due
    (the scheduler proper); ``triggered``: the trigger's ``issuance_triggered`` log line,
    written once its ``Issuing=True`` status write returned.
    """

    fired: list[tuple[float, str]] = field(default_factory=list)
    triggered: dict[str, float] = field(default_factory=dict)
    # key -> the wall time its latest delayed add asked to fire at.
    scheduled: dict[str, float] = field(default_factory=dict)
    # key -> what the delayed add that fired first (after ``clear``) had asked for.
    asked: dict[str, float] = field(default_factory=dict)
    # Garbage collector pauses (generation, seconds): they stop the event loop too.
    gc_pauses: list[tuple[int, float]] = field(default_factory=list)
    _gc_started: float = 0.0

    # Event-loop iterations over BUSY_ITERATION s of CPU or of wall time (waiting in the
    # selector included): (wall end, wall, CPU).
    busy: list[tuple[float, float, float]] = field(default_factory=list)

    def watch_iterations(self, loop: asyncio.AbstractEventLoop) -> None:
        """Note each loop iteration that burnt CPU (bench-only patch of ``_run_once``)."""
        run_once = loop._run_once  # type: ignore[attr-defined]

        def run_once_noting() -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            run_once()
            used, wall = time.process_time() - cpu, time.perf_counter() - wall
            if used > BUSY_ITERATION or wall > BUSY_ITERATION:
                self.busy.append((time.time(), wall, used))

        loop._run_once = run_once_noting  # type: ignore[attr-defined]

    def busy_between(self, start: float, end: float) -> str:
        found = [(w, c) for at, w, c in self.busy if start <= at <= end + 0.05]
        return (
            f"{len(found)} long loop iterations, {sum(w for w, _ in found) * 1000:.0f} ms wall, "
            f"{sum(c for _, c in found) * 1000:.0f} ms CPU"
        )

    async def watch_loop(self) -> None:
        """Note every time the event loop could not run this task for STALL seconds."""
        tick = 0.02
        while True:
            before, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(tick)
            late = time.perf_counter() - before - tick
            if late > STALL:
                self.stalls.append((time.time(), late, time.process_time() - cpu))

    def stall_summary(self) -> list[str]:
        lines = [f"event loop stalls over {STALL * 1000:.0f} ms: {len(self.stalls)}"]
        for ended, length, cpu in sorted(self.stalls, key=lambda s: -s[1])[:5]:
            during = sorted(
                {name for at, name in self.logged if ended - length - 0.2 <= at <= ended + 0.2}
            )
            lines.append(
                f"    {length * 1000:.0f} ms ({cpu * 1000:.0f} ms CPU here), log lines then: "
                f"{', '.join(during) or '-'}"
            )
        return lines

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append((info["generation"], time.perf_counter() - self._gc_started))

    def gc_summary(self) -> str:
        full = [seconds for generation, seconds in self.gc_pauses if generation == 2]
        longest = max((seconds for _, seconds in self.gc_pauses), default=0.0)
        return (
            f"{len(self.gc_pauses)} collections ({len(full)} full, longest full "
            f"{max(full, default=0.0) * 1000:.0f} ms), longest pause {longest * 1000:.0f} ms"
        )

    # Event-loop stalls over STALL seconds (wall time it ended, length, CPU this process
    # used meanwhile: about the length when the loop was busy, less when it waited for a
    # core), and the log
    # lines other than an issuance's own, to say what ran then.
    stalls: list[tuple[float, float, float]] = field(default_factory=list)
    logged: list[tuple[float, str]] = field(default_factory=list)

    def log_processor(self, _: Any, method: str, event: Any) -> Any:
        name = event.get("event")
        if name == "issuance_triggered" and event.get("controller") == TRIGGER:
            self.triggered.setdefault(str(event.get("key")), time.time())
        if name not in PER_ISSUANCE:
            self.logged.append((time.time(), f"{name} {event.get('informer', '')}".strip()))
        if method in ("error", "critical", "exception"):
            return event
        raise structlog.DropEvent

    def watch_queue(self, queue: WorkQueue[str]) -> None:
        """Note every key ``queue``'s timer re-adds, with the wall time (bench-only patch)."""
        fire_due, add, add_after = queue._fire_due, queue.add, queue.add_after
        firing = False

        def add_after_noting(key: str, delay: float) -> None:
            if delay > 0:
                self.scheduled[key] = time.time() + delay
            add_after(key, delay)

        def add_noting(key: str) -> None:
            if firing:
                self.fired.append((time.time(), key))
                self.asked.setdefault(key, self.scheduled.get(key, 0.0))
            add(key)

        def fire_due_noting() -> float | None:
            nonlocal firing
            firing = True
            try:
                return fire_due()
            finally:
                firing = False

        queue.add = add_noting  # type: ignore[method-assign]
        queue._fire_due = fire_due_noting  # type: ignore[method-assign]
        queue.add_after = add_after_noting  # type: ignore[method-assign]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def measure(kubeconfig: str, args: argparse.Namespace, child: Any) -> None:
    settings = Settings()
    observed = Observed()
    stages = Stages()
    gc.callbacks.append(stages.gc_callback)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            stages.log_processor,
            structlog.dev.ConsoleRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(20),  # info: the trigger's line
    )
    far = args.certificates - args.renewing
    async with await KubeClient.connect(kubeconfig=kubeconfig) as kube:
        controllers = Controllers(kube, settings, observed, stages)
        print(f"start: {load()}")
        await ask(child, "mark")
        started, cpu = time.perf_counter(), time.process_time()
        synced = await controllers.start()
        await controllers.quiesce()
        cpu = time.process_time() - cpu
        census = await ask(child, "census")
        print(
            f"start: {far} Certificates synced in {synced:.1f} s; every controller's first "
            f"reconcile of each done after {time.perf_counter() - started - 1.0:.1f} s "
            f"({cpu:.1f} s CPU, {cpu / far * 1000:.2f} ms a Certificate); {load()}"
        )
        print(
            f"start: objects written by the start (all 0 expected): {census}; status "
            f"writes seen {observed.status_writes}; renewals started {len(observed.issuing)}"
        )

        window_start = float(int(time.time() + args.lead))
        await ask(child, f"renewing {window_start} {args.window}")
        await controllers.secrets_cached(NAMESPACE, [renewing(i) for i in range(args.renewing)])
        await ask(child, "release")
        await controllers.quiesce()
        stages.fired.clear()
        stages.gc_pauses.clear()
        stages.asked.clear()
        stages.stalls.clear()
        stages.logged.clear()
        stages.triggered.clear()
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
                f"{used / elapsed * 100:.2f} % of one core; {load()}"
            )

        def renewed() -> dict[str, tuple[float, datetime | None]]:
            first: dict[str, tuple[float, datetime | None]] = {}
            for seen, ns, due, name in observed.issuing:
                if ns == NAMESPACE:
                    first.setdefault(f"{ns}/{name}", (seen, due))
            return first

        # After the idle phase: its 50 wake-ups a second would count there.
        loop_watch = asyncio.create_task(stages.watch_loop())
        stages.watch_iterations(asyncio.get_running_loop())
        wait = window_start + args.window + 30 - time.time()
        cpu = time.process_time()
        await wait_for(lambda: len(renewed()) >= args.renewing, within=wait)
        await controllers.quiesce()
        cpu = time.process_time() - cpu
        loop_watch.cancel()
        report_renewals(args, settings, stages, renewed(), cpu=cpu, reasons=observed.reasons)
        await controllers.stop()

        await ask(child, "overdue")
        observed.issuing.clear()
        print(f"restart: {load()}")
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
        f"CPU {cpu:.0f} s over {started_at[-1] - restarted:.0f} s; {load()}"
    )


def report_renewals(
    args: argparse.Namespace,
    settings: Settings,
    stages: Stages,
    seen: dict[str, tuple[float, datetime | None]],
    *,
    cpu: float,
    reasons: dict[str, str],
) -> None:
    """Lateness after ``status.renewalTime`` of each step of the renewals in the window."""
    fired: dict[str, list[float]] = {}
    for at, key in stages.fired:
        fired.setdefault(key, []).append(at)

    def fired_at(key: str) -> list[float]:
        return fired.get(key, [])

    scheduler, trigger, watch, queued = [], [], [], []
    paced = by_event = 0
    outliers: list[str] = []
    late_fires: list[tuple[float, str, float, float]] = []
    for key, (seen_at, due) in seen.items():
        if due is None:
            continue
        due_at = due.timestamp()
        watch.append(seen_at - due_at)
        if not 0 <= seen_at - due_at <= TARGET_LATENESS:
            fires_at = ",".join(f"{t - due_at:+.3f}" for t in fired_at(key))
            outliers.append(
                f"{key} {reasons.get(key)}: seen {seen_at - due_at:+.3f} s, fired [{fires_at}]"
            )
        triggered = stages.triggered.get(key)
        if triggered is not None:
            trigger.append(triggered - due_at)
        fires = [t for t in fired.get(key, ()) if triggered is None or t <= triggered]
        if not fires:
            by_event += 1  # woken by an event, not its delayed add
            continue
        scheduler.append(fires[0] - due_at)
        late_fires.append((fires[0] - due_at, key, due_at, fires[0]))
        if triggered is not None:
            queued.append(triggered - fires[0])
        paced += len(fires) > 1  # sent away by the pace, back at its booked slot

    def line(name: str, values: list[float]) -> str:
        if not values:
            return f"  {name}: none"
        within = sum(1 for v in values if v <= TARGET_LATENESS)
        early = sum(1 for v in values if v < 0)
        return (
            f"  {name}: {quantiles(values)}; within {TARGET_LATENESS:g} s {within}/{len(values)}"
            f", early {early}"
        )

    print(
        f"renewals: {len(seen)}/{args.renewing} over {args.window:.0f} s "
        f"({args.renewing / args.window:.1f}/s; pacing {settings.renewal_rate_qps:g}/s, "
        f"burst {settings.renewal_rate_burst}); paced {paced}, woken by an event "
        f"{by_event}; CPU {cpu:.1f} s ({cpu / max(len(seen), 1) * 1000:.0f} ms a renewal); "
        f"{load()}; lateness after status.renewalTime:"
    )
    print(line("scheduler fired (delayed add re-added the key)", scheduler))
    print(line("trigger wrote Issuing=True", trigger))
    print(line("seen through the watch", watch))
    print(line("fired -> Issuing written (queue wait + reconcile)", queued))
    print(f"  garbage collector from the idle phase on: {stages.gc_summary()}")
    for stall in stages.stall_summary():
        print(f"  {stall}")
    print(
        f"  loop iterations over {BUSY_ITERATION * 1000:.0f} ms (CPU or wall): {len(stages.busy)}"
    )
    for lateness, key, due_at, fired_at_ in sorted(late_fires, reverse=True)[:5]:
        print(
            f"    fired {lateness * 1000:.0f} ms late: {key} (asked for "
            f"{(stages.asked.get(key, 0.0) - due_at) * 1000:+.0f} ms); between its time "
            "and the fire: "
            f"{stages.busy_between(due_at, fired_at_)}"
        )
    for outlier in outliers[:10]:
        print(f"  outside [0, {TARGET_LATENESS:g} s]: {outlier}")


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
