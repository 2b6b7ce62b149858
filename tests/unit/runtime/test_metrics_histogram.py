"""The runtime's cheaper histogram exposes exactly what prometheus-client's would."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from certmgr.runtime.metrics import _Histogram

BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def _exposition(kind: type[Histogram], amounts: list[float]) -> list[str]:
    registry = CollectorRegistry()
    histogram = kind("demo_seconds", "Demo.", ["name"], buckets=BUCKETS, registry=registry)
    child = histogram.labels(name="q")
    for amount in amounts:
        child.observe(amount)
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if "_created" not in line  # the creation time differs
    ]


@pytest.mark.parametrize(
    "amounts",
    [
        pytest.param([], id="none"),
        pytest.param([0.0, 0.0002, 0.001, 0.0010001], id="first-bucket-and-its-bound"),
        pytest.param([0.07, 2.5, 299.9, 300.0], id="middle-and-last-bounds"),
        pytest.param([300.5, 1e9, math.inf], id="past-the-last-bound"),
        pytest.param([-1.0], id="negative"),
        pytest.param([math.nan, 0.2], id="nan"),
    ],
)
def test_observations_expose_as_prometheus_clients(amounts: list[float]) -> None:
    assert _exposition(_Histogram, amounts) == _exposition(Histogram, amounts)


def test_the_labelled_parent_still_refuses_observations() -> None:
    histogram = _Histogram("demo_parent", "Demo.", ["name"], registry=None)
    with pytest.raises(ValueError):
        histogram.observe(1.0)
