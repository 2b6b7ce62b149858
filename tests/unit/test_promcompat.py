"""ExactCounter: rendered under the exact name, without the ``_total`` prometheus-client
would add to a counter, and safe to share."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from certmgr.promcompat import ExactCounter


def test_renders_under_its_exact_name_as_untyped() -> None:
    registry = CollectorRegistry()
    counter = ExactCounter("demo_request_count", "Requests.", ["status"], registry=registry)
    counter.inc("200")
    counter.inc("200", amount=2)
    counter.inc("500")
    text = generate_latest(registry).decode()
    assert "# TYPE demo_request_count untyped" in text
    assert 'demo_request_count{status="200"} 3.0' in text
    assert 'demo_request_count{status="500"} 1.0' in text
    assert "_total" not in text
    assert registry.get_sample_value("demo_request_count", {"status": "200"}) == 3
    assert counter.value("404") == 0


def test_a_second_metric_of_the_same_name_is_refused() -> None:
    registry = CollectorRegistry()
    ExactCounter("demo_once", "Once.", [], registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        ExactCounter("demo_once", "Twice.", [], registry=registry)


@pytest.mark.parametrize(
    ("labels", "amount"),
    [pytest.param(("a", "b"), 1.0, id="wrong-label-count"), pytest.param(("a",), -1.0, id="down")],
)
def test_misuse_is_an_error(labels: tuple[str, ...], amount: float) -> None:
    counter = ExactCounter("demo_misuse", "Misuse.", ["one"], registry=None)
    with pytest.raises(ValueError):
        counter.inc(*labels, amount=amount)


def test_increments_from_many_threads_are_all_counted() -> None:
    counter = ExactCounter("demo_threads", "Threads.", ["t"], registry=None)

    def work() -> None:
        for _ in range(10_000):
            counter.inc("x")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.value("x") == 40_000


def test_a_bound_label_set_counts_like_inc_with_its_labels() -> None:
    registry = CollectorRegistry()
    counter = ExactCounter("demo_bound", "Bound.", ["status"], registry=registry)
    bound = counter.labels("200")
    assert registry.get_sample_value("demo_bound", {"status": "200"}) is None, "no series yet"
    bound.inc()
    bound.inc()
    counter.inc("200")
    assert counter.value("200") == 3
    assert registry.get_sample_value("demo_bound", {"status": "200"}) == 3
    with pytest.raises(ValueError):
        counter.labels("a", "b")
