"""pytest plugin: the ``kube_cluster`` fixture, the ``simulator_only`` and ``portable`` marks.

Registered through ``pytest_plugins`` in ``tests/conftest.py``. Owns:

- ``kube_cluster``: a :class:`KubeCluster` for the test, the server named by
  ``CERTMGR_TEST_KUBECONFIG`` or else a fresh in-process simulator built with
  ``simulator_options`` (a fixture a conftest may override); the namespaces the test
  made are deleted at the end;
- ``kube_namespace``: a unique namespace in it for the test;
- ``@pytest.mark.simulator_only(reason)``: the test needs a knob only the simulator has
  (faults, accounting, seeding, reading the store); skipped with that reason when
  ``CERTMGR_TEST_KUBECONFIG`` is set. A test that asks for one of
  ``SIMULATOR_FIXTURES`` is simulator-only by the same rule;
- ``portable``: added to every other test that uses ``kube_cluster``, so
  ``pytest -m portable`` selects what runs against a real server.

It must not create anything in the cluster beyond what a test asks for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from certmgr.testing.cluster import ENV_VAR, KubeCluster, external_kubeconfig, simulated

T = TypeVar("T")
# Fixtures that hand a test the in-process simulator itself.
SIMULATOR_FIXTURES = frozenset({"apiserver", "sim"})


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a loop of its own in a worker thread, so sync
    fixtures can do async setup and teardown whatever loop the test itself runs on."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    """Keyword arguments for the in-process ``Simulator`` (ignored against a real server)."""
    return {"bookmark_interval": 0.5}


@pytest.fixture
def kube_cluster(simulator_options: dict[str, Any], tmp_path: Path) -> Iterator[KubeCluster]:
    external = external_kubeconfig()
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    if external is not None:
        cluster = KubeCluster(kubeconfig=external.resolve(), workdir=workdir)
        try:
            yield cluster
        finally:
            run_coroutine(cluster.delete_namespaces)
        return
    with simulated(workdir, **simulator_options) as cluster:
        yield cluster


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster) -> str:
    return run_coroutine(kube_cluster.create_namespace)


def simulator_only_reason(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("simulator_only")
    if marker is not None:
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        return f"simulator only: {reason}" if reason else "simulator only"
    used = SIMULATOR_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if used:
        fixture = min(used)
        return (
            f"simulator only: asks for the simulator itself ({fixture!r}): knobs, accounting, store"
        )
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"simulator_only(reason): needs the in-process simulator; skipped when {ENV_VAR} is set",
    )
    config.addinivalue_line(
        "markers",
        "portable: runs unchanged against a real API server (set for tests using kube_cluster)",
    )


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    external = external_kubeconfig() is not None
    for item in items:
        reason = simulator_only_reason(item)
        if reason is None:
            if "kube_cluster" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.portable)
        elif external:
            item.add_marker(pytest.mark.skip(reason=reason))
