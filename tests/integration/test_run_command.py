"""``certmgr run`` as a process, under deploy/'s RBAC: bad input is one line, an absent API
server is waited for, and leadership moves to a standby when the leader is killed (which
records again the Warning Events the first leader recorded: a new Event, no 403)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.localenv import (
    CONTROLLER_ACCOUNT,
    CONTROLLER_NAMESPACE,
    CRDS_DIR,
    ControllerProcess,
    assert_no_denials,
    deploy_manifests,
)
from certmgr.testing.pebble import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.simulator_only("refuses connections and reads the store"),
]

LEASE = ("coordination.k8s.io/v1", "Lease", "certmgr-controller", CONTROLLER_NAMESPACE)


def certmgr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certmgr", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--kubeconfig=/nonexistent/kubeconfig"], "/nonexistent/kubeconfig"),
        (["run", "--health-address=nonsense"], "HOST:PORT"),
        (["run", "--log-level=loud"], "invalid choice"),
    ],
    ids=["missing-kubeconfig", "bad-address", "bad-log-level"],
)
def test_bad_input_exits_non_zero_with_one_line(args: list[str], expected: str) -> None:
    result = certmgr(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert expected in last


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Simulator, Path]]:
    with Simulator.in_thread() as sim:
        sim.install_crds(sorted(CRDS_DIR.glob("*_*.yaml")))
        sim.apply_manifests(deploy_manifests())
        token = sim.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
        yield sim, sim.kubeconfig(tmp_path / "controller.kubeconfig", token=token)
        assert_no_denials(sim)  # deploy/'s RBAC grants whatever the controller asked


def controller(kubeconfig: Path, log: Path, *extra: str) -> ControllerProcess:
    process = ControllerProcess(
        [
            sys.executable,
            "-m",
            "certmgr",
            "run",
            f"--kubeconfig={kubeconfig}",
            "--health-address=127.0.0.1:0",
            "--metrics-address=127.0.0.1:0",
            f"--http01-solver-address=127.0.0.1:{free_port()}",
            "--log-format=json",
            *extra,
        ],
        log,
    )
    process.start()
    return process


def wait_until(condition: Callable[[], object], *, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} not reached within {within} s")


# An Ingress the shim rejects: every leader that looks at it records a BadConfig Event.
BAD_INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "annotations": {
            "cert-manager.io/cluster-issuer": "letsencrypt",
            "cert-manager.io/duration": "90 days",
        },
    },
    "spec": {
        "rules": [{"host": "www.example.com"}],
        "tls": [{"hosts": ["www.example.com"], "secretName": "web-tls"}],
    },
}


def bad_config_events(sim: Simulator) -> list[dict[str, Any]]:
    found = sim.list_objects("v1", "Event", namespace="default")
    return [e for e in found if e.get("reason") == "BadConfig"]


def holder(sim: Simulator) -> str:
    lease = sim.get(*LEASE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def test_an_api_server_down_at_start_is_retried_with_a_line_per_attempt(
    cluster: tuple[Simulator, Path], tmp_path: Path
) -> None:
    sim, kubeconfig = cluster
    sim.refuse_connections()
    process = controller(kubeconfig, tmp_path / "c.log")
    try:
        wait_until(
            lambda: process.log_path.read_text().count('"api_server_unreachable"') >= 2,
            what="two logged attempts",
        )
        assert holder(sim) == ""
        sim.accept_connections()
        wait_until(lambda: holder(sim), what="the controller leading once the server is back")
    finally:
        assert process.stop() == 0, process.log_tail()


def test_a_killed_leader_is_replaced_after_its_lease_expires(
    cluster: tuple[Simulator, Path], tmp_path: Path
) -> None:
    sim, kubeconfig = cluster
    timing = (
        "--leader-election-lease-duration=3",
        "--leader-election-renew-deadline=2",
        "--leader-election-retry-period=0.5",
    )
    sim.apply(BAD_INGRESS)
    first = controller(kubeconfig, tmp_path / "first.log", *timing)
    second: ControllerProcess | None = None
    try:
        wait_until(lambda: holder(sim), what="a leader")
        wait_until(lambda: bad_config_events(sim), what="the first leader's Warning Event")
        second = controller(kubeconfig, tmp_path / "second.log", *timing)
        wait_until(lambda: second.logged("leader_election_started"), what="a standby")
        leader = holder(sim)
        assert not second.logged("leader_elected"), "exactly one leads"
        killed_at = time.monotonic()
        first.stop(sig=9)
        wait_until(lambda: holder(sim) not in ("", leader), what="the standby leading")
        waited = time.monotonic() - killed_at
        # No release from a killed process: the standby must wait out the 3 s lease.
        assert waited >= 2.0, f"took over after {waited:.1f} s, before the lease expired"
        assert second.logged("leader_elected")
        # The new leader says it again: a second Event (client-go's names), not a 403.
        wait_until(lambda: len(bad_config_events(sim)) == 2, what="the new leader's Event")
    finally:
        first.stop()
        if second is not None:
            assert second.stop() == 0, second.log_tail()


def test_missing_crds_are_named_once_then_waited_for(tmp_path: Path) -> None:
    with Simulator.in_thread() as sim:
        sim.apply_manifests(deploy_manifests())  # RBAC, but no CRDs
        token = sim.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
        kubeconfig = sim.kubeconfig(tmp_path / "controller.kubeconfig", token=token)
        process = controller(kubeconfig, tmp_path / "c.log")
        try:
            log = process.log_path
            wait_until(lambda: '"crds_missing"' in log.read_text(), what="the missing CRDs named")
            line = next(x for x in log.read_text().splitlines() if '"crds_missing"' in x)
            assert "certificates.cert-manager.io" in line
            assert "certmgr manifests crds | kubectl apply -f -" in line
            sim.install_crds(sorted(CRDS_DIR.glob("*_*.yaml")))
            wait_until(lambda: holder(sim), what="the controller leading once the CRDs exist")
            text = log.read_text()
            assert text.count('"crds_missing"') == 1
            assert '"crds_installed"' in text
            assert '"informer_error"' not in text
        finally:
            assert process.stop() == 0, process.log_tail()
