"""The container image as deploy/ runs it: built by ``make image``'s script, started with
podman under deploy/'s Deployment (its args, env, user, read-only root filesystem with a
/tmp, all capabilities dropped) and deploy/'s ServiceAccount mounted where a kubelet
mounts it, against the API simulator, its data plane and Pebble. It issues a certificate,
answers its probes on the declared ports, and exits 0 on SIGTERM within the Deployment's
terminationGracePeriodSeconds.

The container shares the host's network (the simulator and Pebble listen on loopback),
so the Deployment's fixed ports are held under ``fixed_ports_lock``. Cluster DNS does
not exist here: the self-check's port and nameserver are appended to the Deployment's
args, as the local environment does for a process; the Pod IP is 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.controllers.acme.solver_objects import SolverTarget, solver_pod
from certmgr.controllers.context import Settings
from certmgr.testing.dataplane.podspec import image_repository, process_spec
from certmgr.testing.deployment import (
    controller_container,
    controller_deployment,
    deploy_documents,
    fixed_ports_lock,
)
from certmgr.testing.localenv import (
    CONTROLLER_ACCOUNT,
    CONTROLLER_NAMESPACE,
    EXAMPLES_DIR,
    ROOT,
    LocalEnvironment,
    assert_no_denials,
    load_manifests,
    local_environment,
)
from certmgr.testing.pebble import PebbleServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.simulator_only("hands the simulator's port and CA to a container"),
]

BUILD = ROOT / "deploy" / "image" / "build"
TOOLS = ("podman", "buildah", "runc", "debootstrap")
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CERT = ("cert-manager.io/v1", "Certificate")


def _containers_env() -> dict[str, str]:
    """podman's configuration under .containers/, as deploy/image/build writes it."""
    script = f". {ROOT}/deploy/image/containers-env && certmgr_containers_env {ROOT} && env -0"
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env=_containers_env(),
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def container_logs(name: str, *, tail: int | None = None) -> str:
    """The container's stdout and stderr (podman logs splits them like the container)."""
    argv = ["podman", "logs", *([f"--tail={tail}"] if tail else []), name]
    result = subprocess.run(
        argv, capture_output=True, text=True, env=_containers_env(), timeout=60, check=False
    )
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def image() -> str:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make image-tools installs them)")
    result = subprocess.run(
        [str(BUILD)], cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)  # the image size
    (tag,) = re.findall(r"^== image (\S+): \d+ MB", result.stdout, re.MULTILINE)
    return tag


@pytest.fixture
async def env(pebble: PebbleServer, tmp_path: Path) -> AsyncIterator[LocalEnvironment]:
    async with local_environment(tmp_path, pebble=pebble) as env:
        # All of deploy/ besides what local_environment applied: the Services, the PDB.
        env.apply([d for d in deploy_documents() if d["kind"] != "Namespace"])
        yield env


def service_account_dir(env: LocalEnvironment, path: Path) -> Path:
    """What the kubelet mounts for deploy/'s ServiceAccount, readable by the image's user."""
    path.mkdir(mode=0o755)
    token = env.simulator.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
    (path / "token").write_text(token)
    (path / "ca.crt").write_bytes(env.simulator.ca_pem)
    (path / "namespace").write_text(CONTROLLER_NAMESPACE)
    for file in path.iterdir():
        file.chmod(0o644)
    path.chmod(0o755)
    return path


def run_argv(env: LocalEnvironment, image: str, name: str, account: Path) -> list[str]:
    """``podman run`` with the Deployment's pod and container settings."""
    deployment = controller_deployment()
    pod = deployment["spec"]["template"]["spec"]
    (spec,) = pod["containers"]
    container = controller_container(pod_name=name)
    security = spec["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in spec.get("volumeMounts") or ()}
    argv = [
        "run",
        "--detach",
        f"--name={name}",
        "--runtime=runc",
        "--network=host",
        "--ulimit=nofile=20000:20000",
        "--ulimit=nproc=4096:4096",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--user={pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}",
        *[f"--tmpfs={path}:rw,size=64m,mode=1777" for path in sorted(mounts)],
        f"--volume={account}:{SERVICE_ACCOUNT_DIR}:ro",
        "--env=KUBERNETES_SERVICE_HOST=127.0.0.1",
        f"--env=KUBERNETES_SERVICE_PORT={env.simulator.port}",
        *[f"--env={key}={value}" for key, value in container.env.items()],
        image,
        *container.args,
        # No cluster DNS here (see the module docstring).
        f"--http01-self-check-port={env.pebble.http01_port}",
        f"--http01-self-check-nameserver={env.pebble.dns_address}",
    ]
    return argv


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


async def eventually(probe: Callable[[], Any], *, what: str, name: str, within: float) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        await asyncio.sleep(0.2)
    logs = container_logs(name, tail=60)
    pytest.fail(f"{what} not reached within {within} s\n{logs}")


def ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"certmgr-image-test-{os.getpid()}"
    yield name
    podman("rm", "--force", "--time=0", name, check=False)


async def test_the_image_runs_as_deploy_says_and_issues(
    image: str, env: LocalEnvironment, tmp_path: Path, container_name: str
) -> None:
    container = controller_container(pod_name=container_name)
    account = service_account_dir(env, tmp_path / "serviceaccount")
    with fixed_ports_lock():
        podman(*run_argv(env, image, container_name, account))
        for probe in container.probes:
            url = f"http://127.0.0.1:{probe.port}{probe.path}"
            await eventually(
                lambda url=url: status_of(url) == 200,
                what=f"{probe.kind} {url}",
                name=container_name,
                within=120,
            )
        metrics = f"http://127.0.0.1:{container.ports['http-metrics']}/metrics"
        assert status_of(metrics) == 200

        env.apply([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
        env.apply(load_manifests(EXAMPLES_DIR / "certificate.yaml"))
        await eventually(
            lambda: ready(env.simulator.get(*CERT, "www-example-com", "default")),
            what="Certificate Ready",
            name=container_name,
            within=180,
        )
        secret = env.simulator.get("v1", "Secret", "www-example-com-tls", "default")
        assert secret is not None and secret["type"] == "kubernetes.io/tls"

        grace = container.termination_grace_period
        started = time.monotonic()
        podman("stop", f"--time={grace}", container_name, timeout=grace + 30)
        took = time.monotonic() - started
        print(f"SIGTERM to exit: {took:.1f} s (grace {grace} s)")
        exit_code = podman("inspect", "--format={{.State.ExitCode}}", container_name)
    logs = container_logs(container_name)
    assert exit_code == "0", logs
    assert took < grace, f"stopped after {took:.1f} s (SIGKILL at {grace} s)\n{logs}"
    assert "certmgr_stopped" in logs
    assert "Traceback" not in logs, _around("Traceback", logs)
    assert_no_denials(env.simulator)  # deploy/'s RBAC covered everything the image did


def test_the_image_is_the_default_pod_mode_solver(image: str, container_name: str) -> None:
    """A solver Pod as certmgr builds it by default (cert-manager's args, no command) runs
    on this image and answers its challenge."""
    assert image_repository(Settings().solver_image) == image_repository(image).removeprefix(
        "localhost/"
    )
    target = SolverTarget(
        name="cm-acme-http-solver-x",
        namespace="default",
        dns_name="www.example.com",
        token="tok",
        key="tok.thumb",
        owner={},
    )
    pod = solver_pod(target, image=image)
    spec = process_spec(pod, pod_ip="127.0.0.1", host_ip="127.0.0.1")
    with fixed_ports_lock():
        podman(
            "run",
            "--detach",
            f"--name={container_name}",
            "--runtime=runc",
            "--network=host",
            "--ulimit=nofile=20000:20000",
            "--ulimit=nproc=4096:4096",
            "--read-only",
            "--cap-drop=ALL",
            image,
            *spec.args,
        )
        url = f"http://127.0.0.1:{spec.port}{target.path}"
        deadline = time.monotonic() + 60
        answer = None
        while answer is None and time.monotonic() < deadline:
            request = urllib.request.Request(url, headers={"Host": target.dns_name})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = response.read().decode()
            except OSError:
                time.sleep(0.2)
        podman("stop", "--time=10", container_name)
        exit_code = podman("inspect", "--format={{.State.ExitCode}}", container_name)
    assert answer == target.key, container_logs(container_name)
    assert exit_code == "0", container_logs(container_name)


CHECK_BYTECODE = """
import importlib.util, os, sys
import certmgr.app, certmgr.entrypoint, solvers.__main__
missing = sorted(
    m.__file__ for m in list(sys.modules.values())
    if (getattr(m, "__file__", None) or "").endswith(".py")
    and not os.path.exists(importlib.util.cache_from_source(m.__file__))
)
print("\\n".join(missing))
sys.exit(1 if missing else 0)
"""


def test_the_image_keeps_no_build_secret_and_needs_no_bytecode_writes(image: str) -> None:
    """The CA bundle was a build secret (in no layer), pip is gone, and every module
    ``certmgr run`` and the solver import has its bytecode compiled at build time, so a
    read-only root filesystem costs nothing at import."""
    common = [
        "run",
        "--rm",
        "--runtime=runc",
        "--network=host",
        "--ulimit=nofile=20000:20000",
        "--ulimit=nproc=4096:4096",
        "--read-only",
    ]
    files = "test ! -e /run/secrets/ca.pem && test ! -e /src && test ! -e /opt/certmgr/bin/pip"
    podman(*common, "--entrypoint=/bin/sh", image, "-c", files)
    podman(*common, "--entrypoint=/opt/certmgr/bin/python", image, "-c", CHECK_BYTECODE)


def _around(needle: str, logs: str, *, lines: int = 20) -> str:
    """The log lines around the first ``needle``, so a failure in CI shows its cause."""
    text = logs.splitlines()
    at = next(i for i, line in enumerate(text) if needle in line)
    return "\n".join(text[max(0, at - lines) : at + lines])
