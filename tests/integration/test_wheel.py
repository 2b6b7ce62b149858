"""The built wheel works outside a checkout: it carries crds/, deploy/ and examples/ (the
same bytes as the repository's), and in a clean venv ``certmgr manifests | kubectl apply
-f -`` against ``certmgr dev cluster`` and ``certmgr dev demo`` work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certmgr import __version__

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("crds", "deploy", "examples")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass(frozen=True, slots=True)
class Installed:
    wheel: Path
    bin: Path
    workdir: Path  # outside the checkout, so nothing can be read from it

    def certmgr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "certmgr"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
            check=False,
            env=clean_env(),
        )


def clean_env() -> dict[str, str]:
    # No PYTHONPATH or virtualenv of the test run may leak into the clean install.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("certmgr-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            f"{wheel}[demo]",
        ],
        check=True,
        timeout=600,
        env=clean_env(),
    )
    workdir = base / "work"
    workdir.mkdir()
    yield Installed(wheel, bin_dir, workdir)


def test_the_wheel_carries_the_repositorys_manifests_byte_for_byte(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        packaged = {
            name.removeprefix("certmgr/data/"): wheel.read(name)
            for name in wheel.namelist()
            if name.startswith("certmgr/data/")
        }
    repository = {
        f"{folder}/{path.name}": path.read_bytes()
        for folder in (*FOLDERS, "deploy/gateway-api")
        for path in sorted((ROOT / folder).glob("*.yaml"))
    }
    assert packaged == repository


def test_version(installed: Installed) -> None:
    result = installed.certmgr("--version")
    assert (result.returncode, result.stdout) == (0, f"certmgr {__version__}\n")


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary")
def test_manifests_apply_to_the_dev_cluster_and_pass_the_check(installed: Installed) -> None:
    kubeconfig = installed.workdir / "kubeconfig"
    cluster = subprocess.Popen(
        [str(installed.bin / "certmgr"), "dev", "cluster", f"--kubeconfig={kubeconfig}"],
        cwd=installed.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    try:
        assert cluster.stdout is not None
        deadline = time.monotonic() + 60
        for line in cluster.stdout:
            if line.startswith("kubeconfig written") or time.monotonic() > deadline:
                break
        assert kubeconfig.exists()
        manifests = installed.certmgr("manifests")
        assert manifests.returncode == 0, manifests.stderr
        applied = subprocess.run(
            ["kubectl", "apply", "-f", "-"],
            input=manifests.stdout,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**clean_env(), "KUBECONFIG": str(kubeconfig)},
        )
        assert applied.returncode == 0, applied.stderr
        created = applied.stdout.splitlines()
        assert "deployment.apps/certmgr created" in created
        assert sum("customresourcedefinition" in line for line in created) == 6
        checked = installed.certmgr("check", f"--kubeconfig={kubeconfig}")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert len(checked.stdout.splitlines()) == 9
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)


@pytest.mark.e2e
def test_dev_demo_issues_outside_a_checkout(installed: Installed) -> None:
    result = installed.certmgr("dev", "demo", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "TLS verified" in result.stdout
