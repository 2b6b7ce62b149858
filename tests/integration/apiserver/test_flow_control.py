"""API Priority and Fairness as a client sees it: response headers, probes, seats."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.flowcontrol import FLOW_SCHEMA_HEADER, PRIORITY_LEVEL_HEADER
from certmgr.testing.apiserver.wire import Cluster, read_kubeconfig

APF_HEADERS = (FLOW_SCHEMA_HEADER, PRIORITY_LEVEL_HEADER)
RBAC = "rbac.authorization.k8s.io"


def has_apf(headers: dict[str, str]) -> bool:
    return all(name in headers for name in APF_HEADERS)


@pytest.fixture
def quiet_sim() -> Iterator[Simulator]:
    with Simulator.in_thread(priority_and_fairness=False) as simulator:
        yield simulator


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/livez/ping"),
        ("GET", "/livez"),
        ("GET", "/readyz"),
        ("GET", "/healthz"),
        ("GET", "/version"),
        ("GET", "/api/v1/namespaces/default"),
        ("GET", "/api/v1/namespaces/absent"),
        ("GET", "/apis"),
    ],
    ids=["livez-ping", "livez", "readyz", "healthz", "version", "get", "not-found", "discovery"],
)
async def test_every_answer_carries_the_apf_headers(
    sim: Simulator, tmp_path: Path, method: str, path: str
) -> None:
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kc")) as admin:
        reply = await admin.request(method, path)
    assert reply.status in (200, 404)
    assert has_apf(reply.headers)


async def test_health_probes_are_served(sim: Simulator, tmp_path: Path) -> None:
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kc")) as admin:
        for path in ("/livez/ping", "/livez", "/readyz", "/healthz"):
            reply = await admin.request("GET", path)
            assert (reply.status, reply.body) == (200, "ok"), path


async def test_flows_differ_by_user_and_forbidden_answers_carry_them(
    sim: Simulator, tmp_path: Path
) -> None:
    token = sim.service_account_token("default", "nobody")
    url, tls, admin_token = read_kubeconfig(sim.kubeconfig(tmp_path / "kc"))
    async with (
        Cluster.connect(url, tls=tls, token=admin_token) as admin,
        Cluster.connect(url, tls=tls, token=token) as account,
    ):
        as_admin = await admin.request("GET", "/api/v1/namespaces/default/secrets")
        forbidden = await account.request("GET", "/api/v1/namespaces/default/secrets")
        probe = await account.request("GET", "/livez/ping")
    assert forbidden.status == 403
    # APF classifies before authorization: the 403 carries the headers too.
    assert has_apf(forbidden.headers) and has_apf(as_admin.headers)
    assert as_admin.headers[FLOW_SCHEMA_HEADER] != forbidden.headers[FLOW_SCHEMA_HEADER]
    assert as_admin.headers[PRIORITY_LEVEL_HEADER] == probe.headers[PRIORITY_LEVEL_HEADER]


async def test_unauthenticated_answers_have_no_apf_headers(sim: Simulator, tmp_path: Path) -> None:
    url, tls, _ = read_kubeconfig(sim.kubeconfig(tmp_path / "kc"))
    async with Cluster.connect(url, tls=tls, token="not-a-token") as stranger:
        reply = await stranger.request("GET", "/livez/ping")
    assert reply.status == 401
    assert not any(name in reply.headers for name in APF_HEADERS)


async def test_watch_streams_carry_the_apf_headers(sim: Simulator, tmp_path: Path) -> None:
    url, tls, token = read_kubeconfig(sim.kubeconfig(tmp_path / "kc"))
    async with (
        Cluster.connect(url, tls=tls, token=token) as admin,
        admin.session.get(
            url + "/api/v1/namespaces", params={"watch": "true", "timeoutSeconds": "1"}
        ) as response,
    ):
        assert response.status == 200
        assert has_apf(dict(response.headers))


@pytest.mark.parametrize(
    "path",
    ["/livez/ping", "/version", "/api/v1/namespaces/default"],
    ids=["ping", "version", "get"],
)
async def test_no_headers_without_priority_and_fairness(
    quiet_sim: Simulator, tmp_path: Path, path: str
) -> None:
    async with Cluster.from_kubeconfig(quiet_sim.kubeconfig(tmp_path / "kc")) as admin:
        reply = await admin.request("GET", path)
    assert reply.status == 200
    assert not any(name in reply.headers for name in APF_HEADERS)


GRANT_READ = [
    {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "read-namespaces"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
    },
    {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "reader-read-namespaces"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "read-namespaces"},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": "reader"}],
    },
]


async def test_seats_beyond_the_cap_are_refused_with_retry_after(tmp_path: Path) -> None:
    with Simulator.in_thread(max_requests_in_flight=2) as sim:
        sim.apply_manifests(GRANT_READ)
        sim.add_token("reader-token", "reader")
        # Every request holds its seat this long, so a burst of 8 overlaps.
        sim.faults.latency = 0.3
        url, tls, admin_token = read_kubeconfig(sim.kubeconfig(tmp_path / "kc"))
        async with (
            Cluster.connect(url, tls=tls, token="reader-token") as reader,
            Cluster.connect(url, tls=tls, token=admin_token) as admin,
        ):
            replies = await asyncio.gather(
                *(reader.request("GET", "/api/v1/namespaces/default") for _ in range(8)),
                # system:masters is exempt: never refused, never counted.
                *(admin.request("GET", "/api/v1/namespaces/default") for _ in range(4)),
            )
        control = sim.flow_control
        peak, rejected, in_flight = control.peak_in_flight, control.rejected, control.in_flight

    readers, admins = replies[:8], replies[8:]
    assert [r.status for r in admins] == [200] * 4
    refused = [r for r in readers if r.status == 429]
    assert {r.status for r in readers} == {200, 429}
    assert all(r.headers["Retry-After"] == "1" and has_apf(r.headers) for r in refused)
    assert refused[0].body["reason"] == "TooManyRequests"
    assert rejected == len(refused)
    assert peak == 2 and in_flight == 0


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        Simulator(max_requests_in_flight=0)
