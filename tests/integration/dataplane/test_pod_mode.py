"""A solver Pod (as cert-manager creates it) behind a Service and an Ingress, end to end."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp
import pytest

from certmgr.kube.client import KubeClient
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import INGRESSES, PODS, SERVICES
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.manifests import ingress, selector_service, solver_pod
from certmgr.testing.dataplane.waiting import eventually
from solvers import challenge_path

TOKEN = "tok-abc"
KEY = "tok-abc.thumbprint"
DOMAIN = "app.example.com"
ACMESOLVER = "quay.io/jetstack/cert-manager-acmesolver:v1.16.1"


async def _present(kube: KubeClient, namespace: str, *, image: str = ACMESOLVER) -> None:
    pod = solver_pod(
        "solver-a", domain=DOMAIN, token=TOKEN, key=KEY, image=image, namespace=namespace
    )
    await kube.create(PODS, pod)
    service = selector_service(
        "solver-a", selector={"solver": "solver-a"}, target=8089, namespace=namespace
    )
    await kube.create(SERVICES, service)
    route = (challenge_path(TOKEN), "ImplementationSpecific", "solver-a", 8089)
    await kube.create(
        INGRESSES, ingress("solver-a", host=DOMAIN, paths=[route], namespace=namespace)
    )


async def _get(http: aiohttp.ClientSession, url: str, host: str) -> tuple[int, str]:
    async with http.get(url, headers={"Host": host}) as response:
        return response.status, await response.text()


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def test_challenge_reaches_the_solver_pod(
    dataplane: DataPlane, kube: KubeClient, http: aiohttp.ClientSession, namespace: str
) -> None:
    await _present(kube, namespace)
    url = dataplane.router.http_url + challenge_path(TOKEN)

    assert await eventually(lambda: _get(http, url, DOMAIN), lambda r: r[0] == 200) == (200, KEY)

    pod = await kube.get(PODS, "solver-a", namespace=namespace)
    assert pod["status"]["phase"] == "Running" and _ready(pod)
    pod_ip = ipaddress.ip_address(pod["status"]["podIP"])
    assert pod_ip.is_loopback and pod_ip != ipaddress.ip_address("127.0.0.1")
    assert (await _get(http, url, "other.example.com"))[0] == 404


async def test_deleting_the_pod_stops_it_and_the_route_answers_503(
    dataplane: DataPlane, kube: KubeClient, http: aiohttp.ClientSession, namespace: str
) -> None:
    await _present(kube, namespace)
    url = dataplane.router.http_url + challenge_path(TOKEN)
    await eventually(lambda: _get(http, url, DOMAIN), lambda r: r[0] == 200)
    process = dataplane.pods.running()[(namespace, "solver-a")].process

    await kube.delete(PODS, "solver-a", namespace=namespace)

    status, _ = await eventually(lambda: _get(http, url, DOMAIN), lambda r: r[0] != 200)
    assert status == 503
    await eventually(_noop, lambda _: process.returncode is not None)
    assert dataplane.pods.running() == {}


async def test_finalizer_holds_the_pod_until_its_process_stopped(
    kubeconfig: Any, kube: KubeClient, http: aiohttp.ClientSession, namespace: str
) -> None:
    finalizer = "dataplane.certmgr.io/process"
    async with DataPlane(kubeconfig=kubeconfig, finalizer=finalizer) as plane:
        await _present(kube, namespace)
        url = plane.router.http_url + challenge_path(TOKEN)
        await eventually(lambda: _get(http, url, DOMAIN), lambda r: r[0] == 200)
        pod = await kube.get(PODS, "solver-a", namespace=namespace)
        assert finalizer in pod["metadata"]["finalizers"]
        process = plane.pods.running()[(namespace, "solver-a")].process

        await kube.delete(PODS, "solver-a", namespace=namespace)

        await eventually(lambda: _exists(kube, namespace, "solver-a"), lambda exists: not exists)
        assert process.returncode is not None


@pytest.mark.parametrize(
    "image",
    [
        pytest.param("nginx:1.27", id="foreign-image"),
        pytest.param("quay.io/jetstack/cert-manager-controller:v1.16.1", id="other-jetstack"),
    ],
)
async def test_other_images_stay_pending_with_err_image_pull(
    dataplane: DataPlane, kube: KubeClient, image: str, namespace: str
) -> None:
    await kube.create(
        PODS,
        solver_pod("web", domain=DOMAIN, token=TOKEN, key=KEY, image=image, namespace=namespace),
    )

    async def status() -> dict[str, Any]:
        pod = await kube.get(PODS, "web", namespace=namespace)
        return dict(pod.get("status") or {})

    found = await eventually(status, lambda s: bool(s.get("containerStatuses")))
    assert found["phase"] == "Pending"
    assert found["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    assert "podIP" not in found
    assert dataplane.pods.running() == {}


async def test_stop_ends_every_process(kubeconfig: Any, kube: KubeClient, namespace: str) -> None:
    async with DataPlane(kubeconfig=kubeconfig) as plane:
        for index in range(3):
            name = f"solver-{index}"
            pod = solver_pod(
                name,
                domain=f"h{index}.example",
                token=TOKEN,
                key=KEY,
                image=ACMESOLVER,
                namespace=namespace,
            )
            await kube.create(PODS, pod)
        await eventually(_noop, lambda _: len(plane.pods.running()) == 3)
        processes = [entry.process for entry in plane.pods.running().values()]
        addresses = {entry.address for entry in plane.pods.running().values()}
    assert len(addresses) == 3  # every pod binds :8089 on its own address
    assert all(process.returncode is not None for process in processes)


async def _exists(kube: KubeClient, namespace: str, name: str) -> bool:
    try:
        await kube.get(PODS, name, namespace=namespace)
    except NotFound:
        return False
    return True


async def _noop() -> None:
    return None


async def test_a_process_that_exits_marks_the_pod_failed(
    dataplane: DataPlane, kube: KubeClient, namespace: str
) -> None:
    pod = solver_pod(
        "broken", domain=DOMAIN, token=TOKEN, key=KEY, image=ACMESOLVER, namespace=namespace
    )
    pod["spec"]["containers"][0]["args"] = ["--listen-port=8089"]  # no --domain: exits 2
    await kube.create(PODS, pod)

    async def status() -> dict[str, Any]:
        return dict((await kube.get(PODS, "broken", namespace=namespace)).get("status") or {})

    found = await eventually(status, lambda s: s.get("phase") == "Failed")
    assert found["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert not _ready({"status": found})
    assert dataplane.pods.running() == {}


async def test_pods_bound_to_another_node_are_left_alone(
    dataplane: DataPlane, kube: KubeClient, namespace: str
) -> None:
    elsewhere = solver_pod(
        "elsewhere", domain=DOMAIN, token=TOKEN, key=KEY, image="nginx", namespace=namespace
    )
    elsewhere["spec"]["nodeName"] = "node-1"
    await kube.create(PODS, elsewhere)
    here = solver_pod(
        "here", domain=DOMAIN, token=TOKEN, key=KEY, image="nginx", namespace=namespace
    )
    await kube.create(PODS, here)

    async def status(name: str) -> dict[str, Any]:
        return dict((await kube.get(PODS, name, namespace=namespace)).get("status") or {})

    # Events arrive in order: once "here" is reported, "elsewhere" was seen too, and
    # settled() waits until whatever the runner started for it has finished.
    await eventually(lambda: status("here"), lambda s: s.get("phase") == "Pending")
    await dataplane.pods.settled()
    assert "containerStatuses" not in await status("elsewhere")
