"""The runtime's cheaper histogram and counter expose exactly what prometheus-client's would."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from certmgr.runtime import metrics
from certmgr.runtime.metrics import _Histogram, _LoopCounter, _LoopValue

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


def _counter_exposition(kind: type[Counter], amounts: list[float]) -> list[str]:
    registry = CollectorRegistry()
    counter = kind("demo", "Demo.", ["name"], registry=registry)
    child = counter.labels(name="q")
    for amount in amounts:
        child.inc(amount)
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


@pytest.mark.parametrize(
    "amounts",
    [
        pytest.param([], id="none"),
        pytest.param([1, 1, 0.5], id="some"),
        pytest.param([1e9, math.inf], id="huge"),
    ],
)
def test_counter_increments_expose_as_prometheus_clients(amounts: list[float]) -> None:
    assert _counter_exposition(_LoopCounter, amounts) == _counter_exposition(Counter, amounts)


def test_the_loop_counter_still_refuses_a_decrement() -> None:
    child = _LoopCounter("demo_down", "Demo.", ["name"], registry=None).labels(name="q")
    with pytest.raises(ValueError):
        child.inc(-1)


def test_the_per_reconcile_series_take_no_lock() -> None:
    # Each no-op reconcile updates these (three observations, two increments): their
    # locks were ~5 us of its ~9 us. They are only updated and collected on the loop.
    children = [
        metrics.RECONCILE_TIME.labels(controller="lockfree"),
        metrics.WORKQUEUE_QUEUE_DURATION.labels(name="lockfree"),
        metrics.WORKQUEUE_WORK_DURATION.labels(name="lockfree"),
    ]
    values = [v for child in children for v in (child._sum, *child._buckets)]
    values += [
        metrics.RECONCILE_TOTAL.labels(controller="lockfree", result="success")._value,
        metrics.WORKQUEUE_ADDS.labels(name="lockfree")._value,
    ]
    assert all(isinstance(value, _LoopValue) for value in values)
