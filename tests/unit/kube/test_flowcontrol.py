"""The client-side rate limit: settings, the APF probe, and what ``connect`` puts in force."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from certmgr.kube import flowcontrol
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Unreachable
from certmgr.kube.flowcontrol import ProbeResult, RateLimit, choose

from .conftest import Reply
from .test_config import write_kubeconfig

APF = {
    "X-Kubernetes-PF-FlowSchema-UID": "7b3c1a2e-0000-4000-8000-000000000001",
    "X-Kubernetes-PF-PriorityLevel-UID": "7b3c1a2e-0000-4000-8000-000000000002",
}
WITH_APF = ProbeResult(True, "headers")
WITHOUT_APF = ProbeResult(False, "no headers")


@pytest.mark.parametrize(
    ("qps", "burst", "probe", "expected"),
    [
        (None, None, WITH_APF, (0.0, 0)),
        (None, None, WITHOUT_APF, (50.0, 100)),
        (None, None, None, (50.0, 100)),
        (20.0, 40, WITH_APF, (20.0, 40)),
        (20.0, None, WITH_APF, (20.0, 100)),
        (None, 7, WITH_APF, (50.0, 7)),
        (500.0, 1000, WITHOUT_APF, (500.0, 1000)),
        (-1.0, None, WITHOUT_APF, (0.0, 0)),
        (-1.0, -1, WITHOUT_APF, (0.0, 0)),
        (0.0, None, WITHOUT_APF, (0.0, 0)),
    ],
    ids=[
        "auto-apf-unlimited", "auto-no-apf-default", "auto-probe-missing-default",
        "explicit-both-beat-apf", "explicit-qps-default-burst", "explicit-burst-default-qps",
        "explicit-above-default", "minus-one-unlimited", "minus-one-both", "zero-unlimited",
    ],
)  # fmt: skip
def test_choose(
    qps: float | None,
    burst: int | None,
    probe: ProbeResult | None,
    expected: tuple[float, int],
) -> None:
    limit = choose(qps, burst, probe=probe)
    assert (limit.qps, limit.burst) == expected
    assert limit.unlimited == (expected[0] <= 0)
    assert limit.reason


@pytest.mark.parametrize("burst", [0, -1], ids=["zero", "minus-one"])
def test_positive_qps_needs_a_burst(burst: int) -> None:
    with pytest.raises(ValueError, match="--kube-api-burst"):
        choose(10.0, burst, probe=None)


@pytest.mark.parametrize(
    ("text", "qps", "burst"),
    [("auto", None, None), ("AUTO", None, None), ("-1", -1.0, -1), ("25", 25.0, 25)],
    ids=["auto", "auto-upper", "minus-one", "number"],
)
def test_settings_parse(text: str, qps: float | None, burst: int | None) -> None:
    assert flowcontrol.qps_setting(text) == qps
    assert flowcontrol.burst_setting(text) == burst


@pytest.mark.parametrize("text", ["fast", "", "1.5"], ids=["word", "empty", "fraction"])
def test_bad_burst_setting(text: str) -> None:
    with pytest.raises(ValueError):
        flowcontrol.burst_setting(text)


class ScriptedProbe:
    def __init__(self, answers: dict[str, tuple[int, Mapping[str, str]] | Exception]) -> None:
        self.answers = answers
        self.paths: list[str] = []

    async def __call__(self, path: str) -> tuple[int, Mapping[str, str]]:
        self.paths.append(path)
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.parametrize(
    ("answers", "apf", "paths"),
    [
        ({"/livez/ping": (200, APF)}, True, ["/livez/ping"]),
        ({"/livez/ping": (403, APF)}, True, ["/livez/ping"]),
        (
            {"/livez/ping": (200, {"X-Kubernetes-PF-PriorityLevel-UID": "u"})},
            True,
            ["/livez/ping"],
        ),
        ({"/livez/ping": (200, {})}, False, ["/livez/ping"]),
        ({"/livez/ping": (404, {}), "/version": (200, APF)}, True, ["/livez/ping", "/version"]),
        ({"/livez/ping": (404, {}), "/version": (200, {})}, False, ["/livez/ping", "/version"]),
        ({"/livez/ping": Unreachable("refused")}, False, ["/livez/ping"]),
    ],
    ids=[
        "headers", "forbidden-still-has-headers", "priority-level-header-only", "no-headers",
        "proxy-404-then-version", "old-server", "unreachable",
    ],
)  # fmt: skip
async def test_detect_priority_and_fairness(
    answers: dict[str, Any], apf: bool, paths: list[str]
) -> None:
    probe = ScriptedProbe(answers)
    result = await flowcontrol.detect_priority_and_fairness(probe)
    assert result.priority_and_fairness is apf
    assert probe.paths == paths
    assert result.evidence


# -- what connect puts in force, seen by behaviour: does request 101 wait? ----------------


async def _many_gets(kube: KubeClient, count: int) -> None:
    await asyncio.gather(*(kube.get(r.NAMESPACES, "default") for _ in range(count)))


@pytest.mark.parametrize(
    ("probe_headers", "settings", "limit", "probes"),
    [
        (APF, {}, (0.0, 0), 1),
        ({}, {}, (50.0, 100), 1),
        (APF, {"qps": 20.0, "burst": 40}, (20.0, 40), 0),
        (APF, {"burst": 100}, (50.0, 100), 0),
        ({}, {"qps": -1.0}, (0.0, 0), 0),
    ],
    ids=[
        "auto-apf-unlimited", "auto-no-apf-50-100", "explicit-beats-apf", "explicit-burst-only",
        "minus-one-unlimited",
    ],
)  # fmt: skip
async def test_connect_puts_the_limit_in_force(
    scripted: Any,
    fake_sleep: Any,
    tmp_path: Path,
    probe_headers: dict[str, str],
    settings: dict[str, Any],
    limit: tuple[float, int],
    probes: int,
) -> None:
    path = write_kubeconfig(tmp_path / "kc", scripted.url, user={"token": "t"})
    scripted.probe_replies["/livez/ping"] = Reply(200, "ok", probe_headers)
    scripted.handler = lambda seen, request: Reply(200, {"kind": "Namespace", "metadata": {}})
    qps, burst = limit
    # Two seconds' worth of requests beyond the burst (200 when unlimited).
    extra = int(2 * qps) if qps > 0 else 100
    async with await KubeClient.connect(kubeconfig=str(path), sleep=fake_sleep, **settings) as kube:
        assert kube.rate_limit is not None
        assert (kube.rate_limit.qps, kube.rate_limit.burst) == limit
        await _many_gets(kube, (burst or 100) + extra)
    assert len(scripted.probes) == probes
    if probes:
        assert scripted.probes[0].headers["Authorization"] == "Bearer t"
    # The bucket lets `burst` requests through at once; the last ones wait about two
    # seconds (less the real time the test took). Unlimited: nobody waits.
    if qps > 0:
        assert max(fake_sleep.delays) > 1.0
    else:
        assert fake_sleep.delays == []


async def test_unreachable_server_at_connect_keeps_the_default_limit(
    fake_sleep: Any, tmp_path: Path, unused_tcp_port: int
) -> None:
    path = write_kubeconfig(
        tmp_path / "kc", f"http://127.0.0.1:{unused_tcp_port}", user={"token": "t"}
    )
    async with await KubeClient.connect(kubeconfig=str(path), sleep=fake_sleep) as kube:
        assert kube.rate_limit == RateLimit(50.0, 100, kube.rate_limit.reason)
        assert "probe of /livez/ping failed" in kube.rate_limit.reason


async def test_bad_explicit_values_fail_before_any_request(scripted: Any, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", scripted.url, user={"token": "t"})
    with pytest.raises(ValueError, match="--kube-api-burst"):
        await KubeClient.connect(kubeconfig=str(path), qps=10.0, burst=0)
    assert scripted.probes == [] and scripted.seen == []
