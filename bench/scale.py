"""Scale benchmark: ``certmgr run`` as its own process over N issued Certificates (printed figures).

For each size the API simulator runs in a child process, seeded straight into its store
with N Certificates that are already issued (a real ECDSA leaf from a throwaway CA, the
Secret exactly as the issuing controller writes it, Ready status with the renewal time the
product computes, and the completed CertificateRequest that issued it, the one a cluster
keeps per Certificate; ``--no-requests`` leaves them out; ``--orders`` adds each request's
valid ACME Order with the chain, as cert-manager keeps it), spread over 10 namespaces, plus
``--foreign`` unrelated 4 KB Secrets in 20 other namespaces. Pebble backs the one ACME
ClusterIssuer. Then ``certmgr run`` starts under deploy/'s service account, with leader
election, and this process measures from the outside:

- cold start to idle: until /readyz answers and, for 2 s, every work queue is empty, no
  worker is busy and the process uses < 5 % of a core; the CPU seconds of that start;
- RSS (VmRSS, VmHWM) once idle; writes the simulator saw during the start (Leases and
  Events apart) and ACME requests (``certmanager_http_acme_client_request_count``);
- the longest event-loop stall (``certmgr_event_loop_lag_max_seconds``, the loop-lag
  probe) and the longest gap between two Lease renewals (the child polls its own store);
- idle CPU over ``--idle`` seconds; one /metrics scrape's CPU and peak RSS increase
  (VmHWM reset through /proc/PID/clear_refs), then RSS before and after ``--scrapes`` more.

certmgr runs from the dev venv with a kubeconfig, or with ``--deployed`` as the image runs it:
from a runtime-only install (pyproject.toml's dependencies, no extras; built once under
``--deployed-cache``), through the image's entrypoint with deploy/'s environment and
in-cluster configuration (the service account files appear at the kubelet's path in a mount
namespace of its own, so the controller runs unmodified). Each figure line names the mode.

Renewal precision is bench/renewal.py's. Run: ``.venv/bin/python bench/scale.py
[--sizes 1000,10000] [--foreign 50000] [--idle 60] [--scrapes 100] [--deployed]``. Not
imported by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from certmgr.testing.localenv import deploy_manifests, pointed_at
from certmgr.testing.pebble import PebbleServer, free_port
from certmgr.testing.seeding import IssuedSeeder

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "bench-acme"
CERT_NAMESPACES = 10
FOREIGN_NAMESPACES = 20
LEASE = ("certmgr", "certmgr-controller")
TICKS = os.sysconf("SC_CLK_TCK")


# -- the child: the simulator, its seeding and its Lease log --------------------------------


def _issuer_manifest(pebble_dir: str, ca_bundle: str) -> dict[str, Any]:
    class _Pebble:
        directory_url = pebble_dir

    _Pebble.ca_bundle = ca_bundle  # type: ignore[attr-defined]
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ISSUER},
        "spec": {
            "acme": {
                "server": "",
                "email": "bench@example.com",
                "privateKeySecretRef": {"name": "bench-acme-account"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
            }
        },
    }
    return pointed_at(issuer, _Pebble)  # type: ignore[arg-type]


def _foreign_secret(namespace: str, name: str, payload: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {"blob": payload},
    }


def write_service_account(prefix: str, *, token: str, ca_pem: bytes, port: int) -> None:
    """What the kubelet mounts for the service account, and the API Service's port."""
    account = Path(prefix + ".serviceaccount")
    account.mkdir(exist_ok=True)
    (account / "token").write_text(token)
    (account / "ca.crt").write_bytes(ca_pem)
    (account / "namespace").write_text("certmgr")
    Path(prefix + ".port").write_text(str(port))


async def serve(args: argparse.Namespace) -> None:
    from certmgr.testing.apiserver import Simulator

    loop = asyncio.get_running_loop()
    size = args.serve_size
    async with Simulator(bookmark_interval=5.0) as sim:
        sim.install_crds(sorted((ROOT / "crds").glob("*_*.yaml")))
        sim.apply_manifests(deploy_manifests())
        seeder = IssuedSeeder(
            sim,
            issuer_ref={"name": ISSUER, "kind": "ClusterIssuer"},
            requests=args.requests,
            orders=args.orders,
        )
        sim.apply(_issuer_manifest(args.pebble_dir, args.pebble_ca))
        not_before = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
        started = time.perf_counter()
        for n in range(CERT_NAMESPACES):
            seeder.namespace(f"certs-{n}")
        for i in range(size):
            namespace = f"certs-{i % CERT_NAMESPACES}"
            seeder.certificate(
                namespace,
                f"c{i:06d}",
                not_before=not_before,
                not_after=not_before + timedelta(days=90),
                dns_name=f"c{i:06d}.{namespace}.example.com",
            )
            if i % 500 == 0:
                await asyncio.sleep(0)
        payload = "A" * 4096
        for n in range(FOREIGN_NAMESPACES):
            seeder.namespace(f"foreign-{n}")
        for i in range(args.foreign):
            seeder.create(
                _foreign_secret(f"foreign-{i % FOREIGN_NAMESPACES}", f"s{i:06d}", payload)
            )
            if i % 1000 == 0:
                await asyncio.sleep(0)
        if args.list_latency:
            # Each page of a list answered late, as from etcd through a kube-apiserver.
            sim.faults.latency = args.list_latency
            sim.faults.verbs = frozenset({"list"})
        sim.kubeconfig(args.serve)
        token = sim.service_account_token("certmgr", "certmgr")
        sim.kubeconfig(args.serve + ".sa", token=token)
        write_service_account(args.serve, token=token, ca_pem=sim.ca_pem, port=sim.port)
        print(
            f"seeded {size} issued Certificates"
            f"{' (with their CertificateRequests' if args.requests else ''}"
            f"{' and Orders' if args.requests and args.orders else ''}"
            f"{')' if args.requests else ''}"
            f" + {args.foreign} foreign Secrets "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        renewals: list[datetime] = []
        # The renewal standing at the last mark: a stopped process's, not one to count a
        # gap from (a restart would count its own start-up as a gap).
        before_mark: list[str | None] = [None]

        def renew_time() -> str | None:
            lease = sim.get("coordination.k8s.io/v1", "Lease", LEASE[1], LEASE[0])
            return ((lease or {}).get("spec") or {}).get("renewTime")

        async def lease_log() -> None:
            from certmgr.api.codec import parse_rfc3339

            while True:
                stamp = renew_time()
                if stamp and stamp != before_mark[0]:
                    at = parse_rfc3339(stamp)
                    if not renewals or renewals[-1] != at:
                        renewals.append(at)
                await asyncio.sleep(0.1)

        poller = asyncio.create_task(lease_log())
        print("ready", flush=True)
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if line == "mark":
                seeder.mark = sim.store.resource_version
                renewals.clear()
                before_mark[0] = renew_time()
                print("ok", flush=True)
            elif line == "census":
                gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(renewals)]
                worst = max(gaps, default=0.0)
                written = seeder.census(skip=frozenset({"leases", "events"}))
                census = " ".join(f"{k}={v}" for k, v in sorted(written.items())) or "none"
                print(f"{census}|{len(renewals)}|{worst:.2f}", flush=True)
        poller.cancel()


# -- the parent: certmgr run and the measurements --------------------------------------------


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM in MB (of 2**20 bytes, as the kernel's kB are 2**10)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            values[key] = int(rest.split()[0]) / 1024
    return values


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def fetch(url: str, timeout: float = 30.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except OSError as exc:
        return 0, str(exc)


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def metric_by_label(text: str, name: str, label: str) -> dict[str, float]:
    """``name``'s samples summed by the value of ``label``."""
    found: dict[str, float] = {}
    marker = f'{label}="'
    for line in text.splitlines():
        if not line.startswith(name + "{") or marker not in line:
            continue
        value = line.split(marker, 1)[1].split('"', 1)[0]
        found[value] = found.get(value, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def by_label(counts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _digest(paths: list[Path], base: Path) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in paths:
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _pip(python: str | Path, *argv: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"pip install {' '.join(argv)} failed:\n{result.stderr}")


def deployed_install(code: Path, cache: Path) -> tuple[Path, Path]:
    """A runtime-only install of ``code``, as the image makes it (deploy/image/Containerfile:
    ``pip install --constraint constraints.txt`` of the wheel, no extras): the Python of a
    venv holding only pyproject.toml's dependencies (cached by their declaration) and the
    directory certmgr's own packages are installed into (cached by their sources)."""
    declared = [code / name for name in ("pyproject.toml", "setup.py", "constraints.txt")]
    venv = cache / f"venv-{_digest([p for p in declared if p.exists()], code)}"
    if not (venv / "complete").exists():
        print(f"  building the runtime-only venv {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        _pip(venv / "bin" / "python", "--constraint", str(code / "constraints.txt"), str(code))
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "uninstall", "--quiet", "--yes", "certmgr"],
            check=True,
        )
        (venv / "complete").touch()
    sources = sorted(
        path
        for package in ("certmgr", "solvers")
        for path in (code / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    installed = cache / f"code-{_digest([*declared[:2], *sources], code)}"
    if not (installed / "complete").exists():
        print(f"  installing {code} into {installed}", flush=True)
        _pip(venv / "bin" / "python", "--no-deps", "--target", str(installed), str(code))
        (installed / "complete").touch()
    return venv / "bin" / "python", installed


def controller_command(args: argparse.Namespace, kubeconfig: str) -> list[str]:
    """``certmgr run`` with the bench's ports: from the dev venv with the kubeconfig, or as
    deployed (``--deployed``: the image's entrypoint in the runtime-only install, in-cluster
    configuration); from another checkout over the same seeding with ``--controller-code``."""
    flags = [
        "--cluster-resource-namespace=certmgr",
        # Under tracemalloc everything is ~3x slower: no Lease to lose.
        f"--leader-elect={'false' if args.tracemalloc else 'true'}",
    ]
    if args.deployed:
        # The service account files go where the kubelet mounts them: this process (and
        # nothing else) sees a /run with them added on top (a mount namespace, overlayfs),
        # so the controller runs unmodified, reading the path it reads in a Pod.
        account = Path(kubeconfig + ".serviceaccount")
        layer = Path(kubeconfig + ".run")
        target = layer / "upper" / "secrets" / "kubernetes.io"
        target.mkdir(parents=True, exist_ok=True)
        (layer / "work").mkdir(exist_ok=True)
        if not (target / "serviceaccount").exists():
            (target / "serviceaccount").symlink_to(account)
        mount = (
            f"mount -t overlay overlay -o lowerdir=/run,upperdir={layer}/upper,"
            f"workdir={layer}/work /run"
        )
        prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c"]
        prefix += [f'{mount} && exec "$@"', "sh", str(args.deployed_python)]
        # deploy/image/Containerfile's ENTRYPOINT and deploy/'s args.
        return [*prefix, "-B", "-P", "-m", "certmgr.entrypoint", "run", *flags]
    if not args.controller_code:
        return [
            str(Path(sys.executable).with_name("certmgr")),
            "run",
            *flags,
            f"--kubeconfig={kubeconfig}.sa",
        ]
    # The editable install's import hook would win over the path: drop it first.
    return [
        sys.executable,
        "-c",
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {args.controller_code!r}); "
        "from certmgr.cli import main; sys.exit(main())",
        "run",
        *flags,
        f"--kubeconfig={kubeconfig}.sa",
    ]


def controller_env(args: argparse.Namespace, kubeconfig: str) -> dict[str, str] | None:
    """The dev mode inherits this environment; the deployed one gets a container's: the
    image's ENV, deploy/'s env for a Pod on this host and the in-cluster Service address."""
    traced = {"PYTHONTRACEMALLOC": "12"} if args.tracemalloc else {}
    if not args.deployed:
        return {**os.environ, **traced} if traced else None
    from certmgr.testing.deployment import controller_container

    return {
        "PATH": f"{Path(args.deployed_python).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(Path(kubeconfig).parent),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(args.deployed_code),
        **controller_container().env,
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": Path(kubeconfig + ".port").read_text(),
        **traced,
    }


def mode(args: argparse.Namespace) -> str:
    code = args.controller_code or "this checkout"
    if args.deployed:
        return f"deployed ({code} installed runtime-only, in-cluster configuration)"
    return f"dev venv, kubeconfig ({code})"


def print_heap_profile(pid: int, log_path: Path) -> None:
    """Ask certmgr for its ``heap_profile`` (SIGUSR2 under tracemalloc) and print it."""
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if '"heap_profile"' in line:
                profile = json.loads(line)
                print(f"  heap profile: {profile['traced_mib']} MiB traced")
                print(profile["top"])
                print("  by the innermost certmgr line:")
                print(profile["allocated_in_certmgr"])
                return
        time.sleep(2)
    print("  heap profile: none within 600 s")


def gc_pauses(text: str) -> str:
    """The longest collection per generation, wall and CPU (``certmgr_gc_pause_max_seconds``,
    ``certmgr_gc_pause_cpu_max_seconds``: absent from older checkouts)."""
    figures = []
    for name in ("certmgr_gc_pause_max_seconds", "certmgr_gc_pause_cpu_max_seconds"):
        worst = [metric_sum(text, f'{name}{{generation="{g}"}}') * 1000 for g in "012"]
        figures.append("/".join(f"{ms:.0f}" for ms in worst))
    counted = [metric_sum(text, f'python_gc_collections_total{{generation="{g}"}}') for g in "012"]
    collections = "/".join(f"{count:.0f}" for count in counted)
    return (
        f"longest GC {figures[0]} ms (gen 0/1/2; on CPU {figures[1]} ms; collections {collections})"
    )


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


class Run:
    """One ``certmgr run`` process over the seeded simulator."""

    def __init__(self, args: argparse.Namespace, kubeconfig: str, log_path: Path) -> None:
        self.health, self.metrics, solver = free_port(), free_port(), free_port()
        self.log_path = log_path
        self.mode = "deployed" if args.deployed else "dev"
        self.metrics_url = f"http://127.0.0.1:{self.metrics}/metrics"
        self.probe_url = (
            f"{self.metrics_url}?name[]=certmgr_workqueue_depth"
            "&name[]=certmgr_controller_active_workers"
        )
        self.started = time.monotonic()
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *controller_command(args, kubeconfig),
                    f"--healthz-listen-address=127.0.0.1:{self.health}",
                    f"--metrics-listen-address=127.0.0.1:{self.metrics}",
                    f"--http01-solver-address=127.0.0.1:{solver}",
                    "--log-format=json",
                    "--log-level=warning",
                    *([f"--log-slow-loop-turns={args.trace_turns}"] if args.trace_turns else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=controller_env(args, kubeconfig),
            )
        self.pid = self.process.pid
        self.profiler: subprocess.Popen[bytes] | None = None
        if args.py_spy:
            # A tool, not a dependency: `pip install py-spy` into the venv to use it.
            self.profile = f"{args.py_spy}-{log_path.stem}.txt"
            self.profiler = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    *("record", "--rate", str(args.py_spy_rate)),
                    *("--format", "raw", "--nonblocking"),
                    *("-o", self.profile, "-p", str(self.pid)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def wait_idle(self, args: argparse.Namespace) -> float | None:
        """Seconds from the start to idle: ready, queues empty, no worker busy, < 5 % CPU,
        for 2 s running (None: not within ``--start-deadline``). CPU is sampled over
        windows without a scrape in them (a scrape is work for the process)."""
        quiet_since: float | None = None
        deadline = self.started + args.start_deadline
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"certmgr run exited {self.process.returncode}; see {self.log_path}"
                )
            window_start, cpu0 = time.monotonic(), cpu_seconds(self.pid)
            time.sleep(1.0)
            now = time.monotonic()
            busy = (cpu_seconds(self.pid) - cpu0) / (now - window_start)
            quiet = False
            if busy < 0.05:
                ready, _ = fetch(f"http://127.0.0.1:{self.health}/readyz", timeout=2)
                # Only the two gauges: a whole scrape is 0.4 s of the process's CPU at
                # 100k, which the start's figures would otherwise count.
                code, text = fetch(self.probe_url, timeout=10)
                quiet = (
                    ready == 200
                    and code == 200
                    and metric_sum(text, "certmgr_workqueue_depth") == 0
                    and metric_sum(text, "certmgr_controller_active_workers") == 0
                )
            if args.verbose:
                print(f"    t={now - self.started:.1f} busy={busy:.2f} quiet={quiet}")
            if not quiet:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = window_start
            elif now - quiet_since >= 2.0:
                self.stop_profiler()
                return quiet_since - self.started
        self.stop_profiler()
        return None

    def stop_profiler(self) -> None:
        if self.profiler is not None and self.profiler.poll() is None:
            self.profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            self.profiler.wait(60)
            print(f"  py-spy samples of the start: {self.profile}")

    def stop(self) -> None:
        self.stop_profiler()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def report_start(run: Run, idle_after: float, ask: Callable[[str], str], label: str) -> None:
    start_cpu = cpu_seconds(run.pid)
    rss = proc_status(run.pid)
    _, text = fetch(run.metrics_url)
    acme = metric_by_label(text, "certmanager_http_acme_client_request_count", "action")
    syncs = metric_by_label(text, "certmanager_controller_sync_call_count", "controller")
    stall = metric_sum(text, "certmgr_event_loop_lag_max_seconds")
    stall_cpu = metric_sum(text, "certmgr_event_loop_lag_on_cpu_max_seconds")
    census, renewals, worst_gap = ask("census").split("|")
    print(
        f"  {label} [{run.mode}]: idle after {idle_after:.1f} s, {start_cpu:.1f} s CPU; "
        f"RSS {rss['VmRSS']:.1f} MB (peak {rss['VmHWM']:.1f} MB); writes during start: {census}; "
        f"ACME requests {sum(acme.values()):.0f} ({by_label(acme) or 'none'}); "
        f"longest loop stall {stall * 1000:.0f} ms "
        f"(on CPU <= {stall_cpu * 1000:.0f} ms; {gc_pauses(text)}); "
        f"Lease renewals {renewals}, longest gap {worst_gap} s; load {load()}"
    )
    print(f"    reconciles: {sum(syncs.values()):.0f} ({by_label(syncs)})")
    on_cpu, waiting = loop_thread_schedule(run.pid)
    print(
        f"    event-loop thread until idle: on CPU {on_cpu:.1f} s, waiting for a core "
        f"{waiting:.1f} s, asleep (waiting for I/O or timers) "
        f"{max(0.0, idle_after - on_cpu - waiting):.1f} s"
    )


def loop_thread_schedule(pid: int) -> tuple[float, float]:
    """Seconds the process's main thread (the event loop) spent on a CPU and runnable but
    waiting for one (``/proc/PID/task/PID/schedstat``; needs schedstats in the kernel).
    What remains of the wall time it slept: the waits that reading ahead can hide, apart
    from the machine's load."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except OSError:
        return 0.0, 0.0
    return int(fields[0]) / 1e9, int(fields[1]) / 1e9


def measure_size(size: int, args: argparse.Namespace, pebble: PebbleServer, tmp: Path) -> None:
    kubeconfig = str(tmp / f"kubeconfig-{size}")
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kubeconfig,
            "--serve-size",
            str(size),
            "--foreign",
            str(args.foreign),
            "--requests" if args.requests else "--no-requests",
            "--orders" if args.orders else "--no-orders",
            "--list-latency",
            str(args.list_latency),
            "--pebble-dir",
            pebble.directory_url,
            "--pebble-ca",
            str(pebble.ca_bundle),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None

    def ask(command: str) -> str:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(command + "\n")
        child.stdin.flush()
        return child.stdout.readline().strip()

    run: Run | None = None
    try:
        for line in child.stdout:
            if line.strip() == "ready":
                break
            print(f"  [simulator] {line.rstrip()}")
        else:
            raise SystemExit("the simulator exited before it was ready")
        ask("mark")
        run = Run(args, kubeconfig, tmp / f"certmgr-{size}.log")
        idle_after = run.wait_idle(args)
        if idle_after is None and args.tracemalloc:
            print(f"  not idle within {args.start_deadline:.0f} s (tracemalloc): profiling now")
            print_heap_profile(run.pid, run.log_path)
            return
        if idle_after is None:
            raise SystemExit(f"not idle within {args.start_deadline:.0f} s; see {run.log_path}")
        report_start(run, idle_after, ask, "start")
        pid, metrics_url = run.pid, run.metrics_url
        if args.tracemalloc:
            print_heap_profile(pid, run.log_path)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(args.idle)
        idle_share = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        print(
            f"  idle [{run.mode}]: {idle_share * 100:.2f} % of a core over {args.idle:.0f} s; "
            f"load {load()}"
        )
        # One scrape: its CPU and how far it lifts the peak RSS.
        before = proc_status(pid)["VmRSS"]
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        cpu0 = cpu_seconds(pid)
        _, text = fetch(metrics_url)
        scrape_cpu = cpu_seconds(pid) - cpu0
        peak = proc_status(pid)["VmHWM"]
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        print(
            f"  one scrape: {series} series, {len(text) / 1e6:.1f} MB text, "
            f"{scrape_cpu:.2f} s CPU, peak +{peak - before:.1f} MB over RSS {before:.1f} MB"
        )
        first = proc_status(pid)["VmRSS"]
        for _ in range(args.scrapes):
            fetch(metrics_url)
        last = proc_status(pid)["VmRSS"]
        text = fetch(metrics_url)[1]
        stall = metric_sum(text, "certmgr_event_loop_lag_max_seconds")
        stall_cpu = metric_sum(text, "certmgr_event_loop_lag_on_cpu_max_seconds")
        print(
            f"  {args.scrapes} more scrapes: RSS {first:.1f} -> {last:.1f} MB; "
            f"longest loop stall so far {stall * 1000:.0f} ms (on CPU <= "
            f"{stall_cpu * 1000:.0f} ms; {gc_pauses(text)}); load {load()}"
        )
        census, _, worst_gap = ask("census").split("|")
        print(f"  whole run: writes {census}; longest Lease renew gap {worst_gap} s")
        for n in range(1, args.restarts + 1):
            # A restart over the store the first run set up (account registered): what a
            # rollout or a crash costs.
            run.stop()
            ask("mark")
            run = Run(args, kubeconfig, tmp / f"certmgr-{size}-restart{n}.log")
            idle_after = run.wait_idle(args)
            if idle_after is None:
                raise SystemExit(f"restart {n} not idle within {args.start_deadline:.0f} s")
            report_start(run, idle_after, ask, f"restart {n}")
    finally:
        if run is not None:
            run.stop()
        child.stdin.close()
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--foreign", type=int, default=50_000)
    parser.add_argument(
        "--requests",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="seed each Certificate's completed CertificateRequest, as a cluster keeps it "
        "(default; --no-requests: as benches before 2026-12-06's fifth session)",
    )
    parser.add_argument(
        "--orders",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="with --requests, also seed each request's valid ACME Order (owned by it, the "
        "chain in status.certificate), as a cluster keeps it while it keeps the request "
        "(off by default: the figures before 2026-12-07 were measured without Orders)",
    )
    parser.add_argument(
        "--list-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="the simulator answers every list request (each page) this late: etcd and a "
        "kube-apiserver take 50-300 ms for a page of 500 Secrets (default 0)",
    )
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--scrapes", type=int, default=100)
    parser.add_argument("--start-deadline", type=float, default=600.0)
    parser.add_argument("--workdir", help="keep certmgr's logs here (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--trace-turns",
        metavar="DURATION",
        help="run certmgr with --log-slow-loop-turns=DURATION: its log names the callbacks "
        "of every turn of the event loop that long (event_loop_turn_slow)",
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=0,
        help="after the measurements, restart certmgr this many times over the same store",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="record each start with py-spy (raw stacks to PREFIX-<log name>.txt, until idle)",
    )
    parser.add_argument(
        "--py-spy-rate",
        type=int,
        default=100,
        metavar="HZ",
        help="py-spy's samples a second (default 100; 400+ to rank per-object costs)",
    )
    parser.add_argument(
        "--controller-code",
        help="run certmgr from this checkout (e.g. `git archive` of an older commit)",
    )
    parser.add_argument(
        "--deployed",
        action="store_true",
        help="run certmgr as deployed: a runtime-only install (built once into --deployed-cache),"
        " the image's entrypoint, in-cluster configuration (needs unshare and overlayfs)",
    )
    parser.add_argument(
        "--deployed-cache",
        default=str(ROOT / ".bench" / "deployed"),
        help="where --deployed keeps its venv and installs (default: .bench/deployed)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run certmgr under tracemalloc and print where its heap is once idle (slow)",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--serve-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pebble-dir", help=argparse.SUPPRESS)
    parser.add_argument("--pebble-ca", help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    if args.serve:
        asyncio.run(serve(args))
        return
    if args.deployed:
        code = Path(args.controller_code or ROOT).resolve()
        args.deployed_python, args.deployed_code = deployed_install(
            code, Path(args.deployed_cache).resolve()
        )
    with tempfile.TemporaryDirectory() as tmp, PebbleServer() as pebble:
        workdir = Path(args.workdir or tmp).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        for size in (int(s) for s in args.sizes.split(",")):
            requests = "with" if args.requests else "without"
            orders = " and Orders" if args.requests and args.orders else ""
            print(
                f"== {size} issued Certificates ({requests} their requests{orders}) + "
                f"{args.foreign} foreign Secrets; {mode(args)}"
                + (
                    f"; each list page {args.list_latency * 1000:.0f} ms late"
                    if args.list_latency
                    else ""
                )
            )
            measure_size(size, args, pebble, workdir)


if __name__ == "__main__":
    main()
