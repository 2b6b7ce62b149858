"""deploy/'s Deployment works as written: its container's exact args, run as a process
under deploy/'s ServiceAccount, answer every probe on the port the manifest declares,
serve metrics and the shared solver on their declared ports, and exit 0 on SIGTERM
within terminationGracePeriodSeconds."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from certmgr.testing.apiserver import discovery
from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.deployment import controller_container, deploy_documents, fixed_ports_lock
from certmgr.testing.localenv import (
    CONTROLLER_ACCOUNT,
    CONTROLLER_NAMESPACE,
    CRDS_DIR,
    ControllerProcess,
    assert_no_denials,
    deploy_manifests,
)

pytestmark = [pytest.mark.slow, pytest.mark.simulator_only("reads the store directly")]


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_until(condition: Callable[[], object], *, what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} not reached within {within} s")


def test_the_deployments_container_args_answer_on_the_declared_ports(tmp_path: Path) -> None:
    container = controller_container()
    assert container.args[0] == "run"
    with fixed_ports_lock(), Simulator.in_thread() as sim:
        sim.install_crds(sorted(CRDS_DIR.glob("*_*.yaml")))
        sim.apply_manifests(deploy_documents())  # all of deploy/, Deployment included
        assert sim.get("policy/v1", "PodDisruptionBudget", "certmgr", CONTROLLER_NAMESPACE)
        token = sim.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
        kubeconfig = sim.kubeconfig(tmp_path / "kubeconfig", token=token)
        process = ControllerProcess(
            [sys.executable, "-m", "certmgr", *container.args],
            tmp_path / "controller.log",
            env={**container.env, "KUBECONFIG": str(kubeconfig)},
        )
        process.start()
        try:
            for probe in container.probes:
                url = f"http://127.0.0.1:{probe.port}{probe.path}"
                wait_until(lambda url=url: status_of(url) == 200, what=f"{probe.kind} {url}")
            metrics = f"http://127.0.0.1:{container.ports['http-metrics']}/metrics"
            assert status_of(metrics) == 200
            # The shared solver answers (404: no such challenge) on its declared port.
            solver = container.ports["http-solver"]
            assert status_of(f"http://127.0.0.1:{solver}/.well-known/acme-challenge/x") == 404
        except BaseException:
            print(process.log_tail())
            raise
        finally:
            started = time.monotonic()
            code = process.stop(timeout=container.termination_grace_period)
            took = time.monotonic() - started
        assert code == 0, process.log_tail()
        assert took < container.termination_grace_period
        assert_no_denials(sim)


def test_an_api_server_older_than_the_crds_need_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = {**discovery.VERSION, "minor": "27", "gitVersion": "v1.27.16"}
    monkeypatch.setattr(discovery, "VERSION", old)
    with Simulator.in_thread() as sim:
        sim.apply_manifests(deploy_manifests())
        token = sim.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
        kubeconfig = sim.kubeconfig(tmp_path / "kubeconfig", token=token)
        process = ControllerProcess(
            [
                sys.executable,
                "-m",
                "certmgr",
                "run",
                f"--kubeconfig={kubeconfig}",
                "--health-address=127.0.0.1:0",
                "--metrics-address=127.0.0.1:0",
                "--http01-solver-address=127.0.0.1:0",
            ],
            tmp_path / "controller.log",
        )
        process.start()
        assert process.process is not None
        code = process.process.wait(timeout=60)
        assert_no_denials(sim)
    assert code == 2
    last = process.log_path.read_text().strip().splitlines()[-1]
    assert last.startswith("certmgr: error: Kubernetes v1.27.16 is too old"), last
    assert "v1.28" in last
