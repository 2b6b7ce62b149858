"""Issuance benchmark: certmgr against Pebble, beside the bare ``acme`` library and lego.

Prints one table (issue 5, "Benchmark (bench/issuance)"); it is not a test. One Pebble
serves every run (``PEBBLE_VA_NOSLEEP=1``; Pebble's default 5 % nonce rejection and 50 %
authorization reuse, not overridden). Each certmgr run gets a fresh local environment
(API simulator + data plane + ``certmgr run`` as a child process, see
``certmgr.testing.localenv``), hence a fresh ACME account, so every run issues the same
names without Pebble reusing another run's authorizations. Certificates are ECDSA P-256
with one dnsName (even index) or two (odd index), from a ClusterIssuer with an
``http01.ingress`` solver.

Measured, per run:

- create -> Ready: from just before the Certificates are stored (one hop into the
  simulator for the whole batch) to the moment this process's watch on Certificates
  (admin user) sees ``Ready=True``. Size 1 is issued ``--single-rounds`` times in a row
  (one at a time), so its p50 is a median of several issuances, the first one cold.
- certs/s: certificates / (last Ready - create), summed over the batches of the run.
  The simulator takes a while to store a batch (admission runs every CRD's CEL rules in
  cel-python: ~0.8 s for 100 Certificates on an idle machine, 2.4 s at load 9), during
  which no watch event leaves it; the pairs also print the rate counted from the moment
  the whole batch is stored, which is the controller's own part.
- API writes / issuance: create, update, patch, delete, deletecollection by the
  controller's service account (``system:serviceaccount:certmgr:certmgr``) from the
  simulator's accounting, from the create until the controller has been quiet for
  ``SETTLE`` seconds after the last Ready (so solver clean-up and late Events count),
  divided by the certificates. Lease renewals are shown apart, not counted.
- ACME requests / issuance: the requests Pebble logs (``-> calling handler``) over the
  same window, account registration excluded (it happens when the ClusterIssuer gets Ready).

References on the same Pebble, run first while nothing else listens on its HTTP-01 port:
the ``acme`` library with 16 threads issuing the largest size (tight polling) in a process
of its own (``bench/issuance_reference.py`` as a script; its CPU is printed beside the
controller's), and the ``lego`` CLI issuing one certificate, timed as a whole process
(registration included).

Controller CPU is read from ``/proc/<pid>/stat`` of the ``certmgr run`` process only (user
and system apart), from the create to the last Ready: the API simulator and the data
plane run in this process and are not counted.

The library's rate moves with the machine's load more than anything certmgr does (12 to
28 certificates/s on the same two shared vCPUs), so one library run against one certmgr
run minutes later is a noisy ratio. ``--pairs N`` (default 3) runs the library and certmgr
shared mode at the largest size alternately, N pairs in all (the table's two runs are the
first pair), and the "share of the library's rate" target is judged on the median of the
N per-pair ratios; every pair is printed, then min, median and max of the rates and of
the controller's CPU per issuance. Issue 15's figures (100 Certificates at once):

    .venv/bin/python bench/issuance.py --sizes 100 --modes shared --skip-lego --pairs 5

    .venv/bin/python bench/issuance.py [--sizes 1,20,200] [--modes shared,pod] [--skip-lego]

``--controller-code DIR`` runs ``certmgr run`` from another checkout (``git archive
REV | tar -x -C DIR``) in this venv, against this checkout's simulator, Pebble and
library reference: old and new controller code over the same bench, run alternately.
``--controller-python PY`` runs the controller with another interpreter (a venv of another
Python version with certmgr installed), with ``--controller-code`` that checkout's code.
The "API reads" line lists the controller's other verbs (get, list, watch) per issuance.
The "reconciles" line lists the controller's reconciles per issuance by controller and
result (its /metrics, scraped before the create and after the run settles).
``--cpu-profile PREFIX`` samples the controller's Python stacks on its CPU time, from the
create to the last Ready (``cpusampling/sitecustomize.py``), into ``PREFIX-<run>.txt`` and
prints the frames most samples ended in; unlike py-spy, which samples wall time, a
controller waiting for a core is not counted as busy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from issuance_reference import lego_issuance
from issuance_stages import format_hops, hop_durations, rate_limit

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Gone
from certmgr.runtime.logging import configure_logging
from certmgr.testing.apiserver.accounting import WRITE_VERBS
from certmgr.testing.localenv import (
    CONTROLLER_ACCOUNT,
    CONTROLLER_NAMESPACE,
    EXAMPLES_DIR,
    LocalEnvironment,
    local_environment,
)
from certmgr.testing.pebble import PebbleConfig, PebbleServer

CONTROLLER_USER = f"system:serviceaccount:{CONTROLLER_NAMESPACE}:{CONTROLLER_ACCOUNT}"
ISSUER_NAME = "letsencrypt-staging"  # examples/clusterissuer-letsencrypt-staging.yaml
NAMESPACE = "default"
SETTLE = 1.0  # seconds without controller writes or ACME requests that end a run
LIBRARY_THREADS = 16

TARGET_SINGLE_P50 = 0.3
TARGET_LIBRARY_SHARE = 0.8
TARGET_WRITES = 15.0

_HANDLER = re.compile(r"\b(GET|HEAD|POST) (/[^/ ]*/?)\S* -> calling handler")


def dns_names(index: int) -> list[str]:
    first = f"c{index}.bench.example.com"
    return [first] if index % 2 == 0 else [first, f"www.{first}"]


def certificate(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": f"bench-{index}", "namespace": NAMESPACE},
        "spec": {
            "secretName": f"bench-{index}-tls",
            "dnsNames": dns_names(index),
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": ISSUER_NAME, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
    }


def is_ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


# -- counting ------------------------------------------------------------------------------


class PebbleLog:
    """ACME requests as Pebble logs them, counted between two byte offsets of its log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size

    def requests_since(self, offset: int) -> Counter[str]:
        with self.path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        return Counter(f"{m[1]} {m[2]}" for m in _HANDLER.finditer(text))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    return sum(cpu_split(pid))


def controller_requests(
    before: dict[Any, int], after: dict[Any, int], *, writes: bool
) -> Counter[str]:
    """Writes (or the other verbs: reads) by the controller's user between two accounting
    snapshots, per verb and resource."""
    counted: Counter[str] = Counter()
    for (verb, resource, user), n in after.items():
        if user == CONTROLLER_USER and (verb in WRITE_VERBS) == writes:
            counted[f"{verb} {resource}"] += n - before.get((verb, resource, user), 0)
    return +counted


# -- one certmgr run -----------------------------------------------------------------------


@dataclass
class Row:
    label: str
    certificates: int
    latencies: list[float]
    elapsed: float
    writes: Counter[str] | None = None
    acme: Counter[str] = field(default_factory=Counter)
    note: str = ""
    events: Counter[str] = field(default_factory=Counter)
    hops: list[str] = field(default_factory=list)
    api_requests: int = 0  # every verb by the controller, create -> last Ready
    one_at_a_time: bool = False
    controller_cpu: float = 0.0  # CPU seconds of the controller process, create -> last Ready
    controller_system: float = 0.0  # the kernel's part of it (system time)
    stored: float = 0.0  # seconds the simulator took to store the batches
    harness_cpu: float = 0.0  # this process: API simulator, data plane, watch
    pebble_cpu: float = 0.0  # pebble + challtestsrv
    rate_limit: str = ""  # the controller's client-side limit, from its log
    reads: Counter[str] = field(default_factory=Counter)  # every other verb (watches included)
    reconciles: Counter[str] = field(default_factory=Counter)  # by controller and result

    @property
    def per_second(self) -> float:
        return self.certificates / self.elapsed if self.elapsed else float("nan")

    @property
    def per_second_once_stored(self) -> float:
        """The rate counted from the moment the simulator had stored the batch."""
        return self.certificates / (self.elapsed - self.stored) if self.elapsed else float("nan")

    @property
    def writes_per_issuance(self) -> float | None:
        if self.writes is None:
            return None
        counted = sum(n for key, n in self.writes.items() if not key.endswith(" leases"))
        return counted / self.certificates

    @property
    def acme_per_issuance(self) -> float:
        return sum(self.acme.values()) / self.certificates


class ReadyWatch:
    """When this process first saw each Certificate Ready, through a watch (admin user)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.ready_at: dict[str, float] = {}
        self.ready_wall: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listed = await self.kube.list(r.CERTIFICATES, namespace=NAMESPACE)
        self._task = asyncio.create_task(self._run(listed.resource_version))

    async def _run(self, version: str) -> None:
        while True:
            try:
                async for event in self.kube.watch(
                    r.CERTIFICATES, namespace=NAMESPACE, resource_version=version
                ):
                    version = event.resource_version or version
                    name = event.object.get("metadata", {}).get("name")
                    if name and name not in self.ready_at and is_ready(event.object):
                        self.ready_at[name] = time.perf_counter()
                        self.ready_wall[name] = time.time()
                        self._changed.set()
            except Gone:
                relisted = await self.kube.list(r.CERTIFICATES, namespace=NAMESPACE)
                version = relisted.resource_version

    async def all_ready(self, names: Sequence[str], *, within: float) -> list[float]:
        deadline = time.monotonic() + within
        while missing := [n for n in names if n not in self.ready_at]:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(missing)} of {len(names)} Certificates not Ready")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return [self.ready_at[n] for n in names]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def wait_for(probe: Any, *, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


async def settle(env: LocalEnvironment, log: PebbleLog) -> None:
    """Until neither the controller writes nor Pebble hears a request for SETTLE seconds."""

    def state() -> tuple[int, int]:
        return env.simulator.requests.writes(user=CONTROLLER_USER), log.mark()

    last, quiet_since = state(), time.monotonic()
    deadline = quiet_since + 30
    while time.monotonic() - quiet_since < SETTLE and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = state()
        if now != last:
            last, quiet_since = now, time.monotonic()


async def certmgr_run(
    pebble: PebbleServer,
    log: PebbleLog,
    workdir: Path,
    *,
    mode: str,
    size: int,
    rounds: int,
    flags: Sequence[str] = (),
    command: Sequence[str] = (),
    cpu_profile: Path | None = None,
) -> Row:
    batches = [[i] for i in range(rounds)] if size == 1 else [list(range(size))]
    async with local_environment(workdir, pebble=pebble) as env:
        controller = env.start_controller(
            f"--http01-solver-mode={mode}",
            *flags,
            command=command,
            env=cpu_sampler_environment(cpu_profile) if cpu_profile else None,
        )
        env.apply([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
        await wait_for(
            lambda: is_ready(env.simulator.get("cert-manager.io/v1", "ClusterIssuer", ISSUER_NAME)),
            what=f"ClusterIssuer Ready\n{controller.log_tail()}",
            within=60,
        )
        kube = await KubeClient.connect(kubeconfig=str(env.admin_kubeconfig), qps=1000, burst=1000)
        watch = ReadyWatch(kube)
        try:
            await watch.start()
            await settle(env, log)  # the issuer's own writes and registration stay out
            before, mark = env.simulator.requests.snapshot(), log.mark()
            port = metrics_port(controller.log_path)
            reconciles_before = await reconcile_counts(port)
            latencies: list[float] = []
            elapsed = 0.0
            created_wall: dict[str, float] = {}
            api_requests = 0
            controller_cpu = controller_system = harness_cpu = pebble_cpu = stored = 0.0
            assert controller.process is not None
            pid = controller.process.pid
            counts = env.simulator.requests
            if cpu_profile:
                forget(cpu_profile)  # an older run's file must not pass for this one's
                controller.process.send_signal(signal.SIGUSR1)  # the sampler starts
            for batch in batches:
                names = [f"bench-{i}" for i in batch]
                created = time.perf_counter()
                created_wall.update(dict.fromkeys(names, time.time()))
                requests_before = counts.count(user=CONTROLLER_USER)
                user_before, system_before = cpu_split(pid)
                harness_before = time.process_time()
                pebble_before = sum(map(cpu_seconds, pebble.pids))
                env.simulator.apply_many(certificate(i) for i in batch)
                stored += time.perf_counter() - created
                try:
                    ready = await watch.all_ready(names, within=60 + 2 * len(batch))
                except TimeoutError as exc:
                    raise TimeoutError(f"{mode}/{size}: {exc}\n{controller.log_tail()}") from None
                api_requests += counts.count(user=CONTROLLER_USER) - requests_before
                user_after, system_after = cpu_split(pid)
                controller_cpu += user_after + system_after - user_before - system_before
                controller_system += system_after - system_before
                harness_cpu += time.process_time() - harness_before
                pebble_cpu += sum(map(cpu_seconds, pebble.pids)) - pebble_before
                latencies += [t - created for t in ready]
                elapsed += max(ready) - created
            if cpu_profile:
                controller.process.send_signal(signal.SIGUSR1)  # it stops and writes the file
                await wait_for(cpu_profile.exists, what=f"{cpu_profile} written", within=10)
                print(f"  controller CPU samples while issuing: {cpu_profile}; self time, top:")
                print("\n".join(f"    {line}" for line in cpu_profile_summary(cpu_profile)))
            await settle(env, log)
            after = env.simulator.requests.snapshot()
            reconciles = await reconcile_counts(port)
            reconciles.subtract(reconciles_before)
            reconciles = +reconciles
            writes = controller_requests(before, after, writes=True)
            reads = controller_requests(before, after, writes=False)
            acme = log.requests_since(mark)
            events = Counter(
                f"{e.get('type')} {e.get('reason')}"
                for e in env.list("v1", "Event")
                if e.get("involvedObject", {}).get("name", "").startswith("bench-")
                for _ in range(int(e.get("count") or 1))
            )
        finally:
            await watch.stop()
            await kube.close()
    label = f"certmgr {mode}"
    rounds_note = [f"{rounds} in a row"] if size == 1 and rounds > 1 else []
    note = " ".join([*rounds_note, *flags])
    hops = hop_durations(controller.log_path, created=created_wall, seen_ready=watch.ready_wall)
    return Row(
        label,
        sum(map(len, batches)),
        latencies,
        elapsed,
        writes,
        acme,
        note,
        events=events,
        hops=format_hops(hops),
        api_requests=api_requests,
        one_at_a_time=size == 1,
        controller_cpu=controller_cpu,
        controller_system=controller_system,
        stored=stored,
        harness_cpu=harness_cpu,
        pebble_cpu=pebble_cpu,
        rate_limit=rate_limit(controller.log_path),
        reads=reads,
        reconciles=reconciles,
    )


_RECONCILES = re.compile(
    r'^certmgr_controller_reconcile_total\{controller="([^"]*)",result="([^"]*)"\} (\S+)$',
    re.MULTILINE,
)


def metrics_port(log_path: Path) -> int:
    """The controller's /metrics port, from its ``certmgr_starting`` log line."""
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"certmgr_starting"' in line:
            return int(json.loads(line)["metrics_port"])
    raise RuntimeError(f"no certmgr_starting line in {log_path}")


async def reconcile_counts(port: int) -> Counter[str]:
    """Reconciles so far by controller and result, from the controller's /metrics (scraped
    outside the CPU window: before the create and after the run settles)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    counts: Counter[str] = Counter()
    for controller, result, value in _RECONCILES.findall(text):
        counts[f"{controller} {result}"] += int(float(value))
    return counts


def profile_path(prefix: str | None, run: str) -> Path | None:
    return Path(f"{prefix}-{run}.txt") if prefix else None


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)


def cpu_sampler_environment(output: Path) -> dict[str, str]:
    """What ``certmgr run`` needs to load ``cpusampling/sitecustomize.py`` (writing
    ``output`` on its second SIGUSR1)."""
    sampler = str(Path(__file__).with_name("cpusampling"))
    path = os.pathsep.join(p for p in (sampler, os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "CERTMGR_CPU_PROFILE": str(output)}


def cpu_profile_summary(path: Path, *, top: int = 15) -> list[str]:
    """The frames the most samples ended in (self time), as shares of all samples."""
    leaves: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rpartition(";")[2]
        # ``qualname (file:line)`` -> ``qualname (package/file)``: lines apart add up.
        name, _, where = leaf.partition(" (")
        parts = where.rsplit(":", 1)[0].split("/")
        leaves[f"{name} ({'/'.join(parts[-2:])})"] += int(count)
    total = sum(leaves.values())
    return [f"{n / total:6.1%} {leaf}" for leaf, n in leaves.most_common(top)] if total else []


def controller_command(code: Path | None, python: Path | None = None) -> list[str]:
    """``python -m certmgr`` (empty: the default), another checkout's certmgr, or either
    run by another interpreter (a venv of another Python version with certmgr installed)."""
    if code is None:
        return [] if python is None else [str(python), "-m", "certmgr"]
    # The editable install's import hook must not answer for certmgr: drop it first.
    return [
        str(python or sys.executable),
        "-c",
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {str(code)!r}); "
        "from certmgr.cli import main; sys.exit(main())",
    ]


# -- references ----------------------------------------------------------------------------


async def library_row(pebble: PebbleServer, log: PebbleLog, size: int) -> Row:
    """The library reference in a process of its own; its CPU goes in ``controller_cpu``."""
    argv = [
        sys.executable,
        str(Path(__file__).with_name("issuance_reference.py")),
        f"--directory-url={pebble.directory_url}",
        f"--ca-bundle={pebble.ca_bundle}",
        f"--http01-port={pebble.http01_port}",
        f"--threads={LIBRARY_THREADS}",
    ]
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps([dns_names(i) for i in range(size)]).encode())
    process.stdin.close()
    mark: int | None = None
    result: dict[str, Any] | None = None
    async for line in process.stdout:
        if line.strip() == b"batch":
            mark = log.mark()
        elif line.startswith(b"{"):
            result = json.loads(line)
    if await process.wait() != 0 or mark is None or result is None:
        raise RuntimeError(f"the library reference failed (exit {process.returncode})")
    await asyncio.sleep(0.2)  # Pebble's log is written as it answers; let the last line land
    return Row(
        f"acme library, {LIBRARY_THREADS} threads",
        size,
        result["latencies"],
        result["elapsed"],
        acme=log.requests_since(mark),
        controller_cpu=result["cpu"],
    )


async def lego_row(pebble: PebbleServer, log: PebbleLog, runs: int) -> Row:
    """``runs`` lego processes one after the other, each a new account and one certificate."""
    mark = log.mark()
    latencies = [
        (await asyncio.to_thread(lego_issuance, pebble, dns_names(1))).elapsed for _ in range(runs)
    ]
    await asyncio.sleep(0.2)
    return Row(
        "lego CLI, whole process",
        runs,
        latencies,
        sum(latencies),
        acme=log.requests_since(mark),
        note=f"{runs} in a row, each with registration: " + " ".join(f"{t:.2f}" for t in latencies),
    )


# -- the table -----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(fraction * 100) - 1]


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'run':<26} {'certs':>6} {'p50 s':>7} {'p95 s':>7} {'certs/s':>8} "
        f"{'API writes/iss':>14} {'ACME req/iss':>12}  note"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        writes = row.writes_per_issuance
        print(
            f"{row.label:<26} {row.certificates:>6} {percentile(row.latencies, 0.5):>7.3f} "
            f"{percentile(row.latencies, 0.95):>7.3f} {row.per_second:>8.2f} "
            f"{'-' if writes is None else f'{writes:.1f}':>14} {row.acme_per_issuance:>12.1f}"
            f"  {row.note}"
        )


@dataclass(frozen=True)
class Pair:
    """The library and certmgr shared mode at the same size, run one right after the other."""

    library: Row
    certmgr: Row

    @property
    def share(self) -> float:
        return self.certmgr.per_second / self.library.per_second

    @property
    def share_once_stored(self) -> float:
        return self.certmgr.per_second_once_stored / self.library.per_second


def print_pairs(pairs: Sequence[Pair]) -> None:
    print(f"\nlibrary and certmgr shared, {pairs[0].library.certificates} certs, alternated")
    for index, pair in enumerate(pairs, 1):
        cpu_ms = pair.certmgr.controller_cpu * 1000 / pair.certmgr.certificates
        print(
            f"  pair {index}: library {pair.library.per_second:6.2f}/s, certmgr "
            f"{pair.certmgr.per_second:6.2f}/s ({cpu_ms:.1f} ms controller CPU per issuance): "
            f"{pair.share:.0%}; batch stored after {pair.certmgr.stored:.2f} s, from then "
            f"{pair.certmgr.per_second_once_stored:.2f}/s: {pair.share_once_stored:.0%}"
        )
    shares = [pair.share for pair in pairs]
    print(f"  median {statistics.median(shares):.0%}, range {min(shares):.0%}-{max(shares):.0%}")
    stored = [pair.share_once_stored for pair in pairs]
    print(
        f"  from the batch stored: median {statistics.median(stored):.0%}, "
        f"range {min(stored):.0%}-{max(stored):.0%}"
    )

    def ms(row: Row, seconds: float) -> float:
        return seconds * 1000 / row.certificates

    def spread(values: Sequence[float], unit: str, digits: int = 1) -> str:
        return (
            f"min {min(values):.{digits}f}{unit}, median {statistics.median(values):.{digits}f}"
            f"{unit}, max {max(values):.{digits}f}{unit}"
        )

    certmgr = [pair.certmgr for pair in pairs]
    library = [pair.library for pair in pairs]
    system = statistics.median(ms(row, row.controller_system) for row in certmgr)
    print(
        "  controller CPU per issuance: "
        + spread([ms(row, row.controller_cpu) for row in certmgr], " ms")
        + f" (of which system, median: {system:.1f} ms)"
    )
    print(
        "  library process CPU per issuance: "
        + spread([ms(row, row.controller_cpu) for row in library], " ms", 0)
    )
    print("  certmgr rate: " + spread([row.per_second for row in certmgr], "/s"))
    print("  library rate: " + spread([row.per_second for row in library], "/s"))


def print_targets(rows: Sequence[Row], pairs: Sequence[Pair]) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\ntargets (issue 5)")
    library = next((row for row in rows if row.label.startswith("acme library")), None)
    for row in rows:
        if row.label == "certmgr shared" and row.one_at_a_time:
            p50 = percentile(row.latencies, 0.5)
            print(
                f"  shared single issuance p50 <= {TARGET_SINGLE_P50} s: {p50:.3f} s"
                f"  {verdict(p50 <= TARGET_SINGLE_P50)}"
            )
    if library is not None:
        for row in rows:
            if row.label.startswith("certmgr") and row.certificates == library.certificates:
                share = row.per_second / library.per_second
                print(
                    f"  {row.label}, {row.certificates} certs >= {TARGET_LIBRARY_SHARE:.0%} of "
                    f"the library's {library.per_second:.1f}/s: {share:.0%}"
                    + (
                        ""
                        if len(pairs) > 1 and row.label == "certmgr shared"
                        else f"  {verdict(share >= TARGET_LIBRARY_SHARE)}"
                    )
                )
    if len(pairs) > 1:
        share = statistics.median(pair.share for pair in pairs)
        print(
            f"  certmgr shared, {pairs[0].certmgr.certificates} certs >= "
            f"{TARGET_LIBRARY_SHARE:.0%} of the library's rate, median of {len(pairs)} "
            f"alternated pairs: {share:.0%}  {verdict(share >= TARGET_LIBRARY_SHARE)}"
        )
    for row in rows:
        writes = row.writes_per_issuance
        if writes is not None:
            print(
                f"  {row.label}, {row.certificates} certs: <= {TARGET_WRITES:.0f} API writes per "
                f"issuance: {writes:.1f}  {verdict(writes <= TARGET_WRITES)}"
            )


def print_details(rows: Sequence[Row]) -> None:
    print("\nper issuance, by request")
    for row in rows:
        print(f"  {row.label}, {row.certificates} certs")
        if row.writes is not None:
            writes = ", ".join(
                f"{key} {n / row.certificates:.2f}" for key, n in sorted(row.writes.items())
            )
            print(f"    API writes: {writes}")
            reads = ", ".join(
                f"{key} {n / row.certificates:.2f}" for key, n in sorted(row.reads.items())
            )
            print(f"    API reads: {reads or 'none'}")
            reconciles = ", ".join(
                f"{key} {n / row.certificates:.2f}" for key, n in sorted(row.reconciles.items())
            )
            total = sum(row.reconciles.values()) / row.certificates
            print(f"    reconciles ({total:.1f}): {reconciles or 'none'}")
            print(
                f"    API requests (all verbs) while issuing: {row.api_requests}, "
                f"{row.api_requests / row.elapsed:.1f}/s "
                f"(controller's client-side limit: {row.rate_limit})"
            )
            print(
                f"    controller CPU while issuing: {row.controller_cpu:.1f} s "
                f"(system {row.controller_system:.1f} s), "
                f"{row.controller_cpu / row.elapsed:.0%} of one core, "
                f"{row.controller_cpu / row.certificates * 1000:.1f} ms per issuance; "
                f"meanwhile simulator + data plane {row.harness_cpu / row.elapsed:.0%}, "
                f"Pebble {row.pebble_cpu / row.elapsed:.0%} of one core"
            )
        acme = ", ".join(f"{key} {n / row.certificates:.2f}" for key, n in sorted(row.acme.items()))
        print(f"    ACME: {acme}")
        if row.events:
            events = ", ".join(
                f"{key} {n / row.certificates:.2f}" for key, n in sorted(row.events.items())
            )
            print(f"    Events (occurrences, involved object bench-*): {events}")
    print("\nwhere the time goes (controller log timestamps, per Certificate)")
    for row in rows:
        if row.hops:
            print(f"  {row.label}, {row.certificates} certs")
            for line in row.hops:
                print(f"    {line}")


async def bench(args: argparse.Namespace) -> tuple[list[Row], list[Pair]]:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="certmgr-bench-issuance-"))
    print(f"workdir (Pebble and controller logs): {workdir}", flush=True)
    print(f"controller code: {args.controller_code or 'this checkout'}", flush=True)
    if args.controller_python:
        print(f"controller interpreter: {args.controller_python}", flush=True)
    rows: list[Row] = []
    pairs: list[Pair] = []
    largest = max(args.sizes)
    with PebbleServer(PebbleConfig(va_nosleep=True), workdir=workdir / "pebble") as pebble:
        log = PebbleLog(pebble.log_path)
        if not args.skip_library:
            print(f"acme library: {max(args.sizes)} certificates ...", flush=True)
            rows.append(await library_row(pebble, log, max(args.sizes)))
        if not args.skip_lego:
            print(f"lego: 1 certificate, {args.lego_runs} times ...", flush=True)
            rows.append(await lego_row(pebble, log, args.lego_runs))
        for mode in args.modes:
            for size in args.sizes:
                print(f"certmgr {mode}: {size} certificates ...", flush=True)
                rows.append(
                    await certmgr_run(
                        pebble,
                        log,
                        workdir / f"{mode}-{size}",
                        mode=mode,
                        size=size,
                        rounds=args.single_rounds,
                        flags=args.controller_flag,
                        command=controller_command(args.controller_code, args.controller_python),
                        cpu_profile=profile_path(args.cpu_profile, f"{mode}-{size}"),
                    )
                )
        if args.skip_library or "shared" not in args.modes or args.pairs < 1:
            return rows, pairs
        first = next(row for row in rows if row.label.startswith("acme library"))
        shared = next(r for r in rows if r.label == "certmgr shared" and r.certificates == largest)
        pairs.append(Pair(first, shared))
        for index in range(2, args.pairs + 1):
            print(f"pair {index}: acme library, then certmgr shared, {largest} ...", flush=True)
            library = await library_row(pebble, log, largest)
            certmgr = await certmgr_run(
                pebble,
                log,
                workdir / f"pair-{index}",
                mode="shared",
                size=largest,
                rounds=1,
                flags=args.controller_flag,
                command=controller_command(args.controller_code, args.controller_python),
                cpu_profile=profile_path(args.cpu_profile, f"pair-{index}"),
            )
            pairs.append(Pair(library, certmgr))
    return rows, pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 20, 200]
    )
    parser.add_argument("--modes", type=lambda s: s.split(","), default=["shared", "pod"])
    parser.add_argument("--single-rounds", type=int, default=5, help="size 1: issuances in a row")
    parser.add_argument("--skip-lego", action="store_true")
    parser.add_argument("--lego-runs", type=int, default=3, help="lego processes in a row")
    parser.add_argument(
        "--controller-flag",
        action="append",
        default=[],
        help="extra flag for certmgr run, e.g. --controller-flag=--kube-api-qps=50 (diagnosis)",
    )
    parser.add_argument(
        "--controller-code",
        type=Path,
        help="run certmgr from this checkout (e.g. `git archive main | tar -x -C DIR`) with "
        "this venv; the simulator, Pebble and the library reference stay this checkout's",
    )
    parser.add_argument(
        "--controller-python",
        type=Path,
        help="run certmgr with this interpreter (e.g. another Python version's venv with "
        "certmgr installed: `pip install .`); with --controller-code that checkout's code",
    )
    parser.add_argument(
        "--cpu-profile",
        metavar="PREFIX",
        help="sample the controller's stacks on its CPU time while it issues (SIGPROF, "
        "bench/cpusampling) into PREFIX-<run>.txt, collapsed stacks as py-spy's raw format",
    )
    parser.add_argument("--skip-library", action="store_true")
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="library / certmgr shared runs at the largest size, alternated (the ratio target "
        "is judged on their median)",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a new temp dir)")
    args = parser.parse_args()
    # A plain kill must still stop Pebble and the controller: unwind the context managers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    configure_logging("warning")  # the data plane's; the controller logs to its own file
    load_before = os.getloadavg()
    rows, pairs = asyncio.run(bench(args))
    load_after = os.getloadavg()
    print()
    print(
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
        f"({os.cpu_count()} CPUs, shared with whatever else runs)"
    )
    print(
        "Pebble: PEBBLE_VA_NOSLEEP=1, default nonce rejection (5 %) and authz reuse (50 %); "
        "ECDSA P-256, 1 or 2 dnsNames"
    )
    print_table(rows)
    if pairs:
        print_pairs(pairs)
    print_targets(rows, pairs)
    print_details(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
