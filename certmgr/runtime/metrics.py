"""The runtime's Prometheus metrics, all in one place, and how they are exposed.

Registry strategy: every certmgr metric is created once, at import, in prometheus-client's
process-wide default ``REGISTRY``, and told apart by labels (queue name, controller name,
lease). One registry means ``/metrics`` shows the runtime's metrics, the Kubernetes client's
(``certmgr.kube`` cannot import this layer) and the process collectors without wiring, and
creating many queues or controllers (tests do) never registers a name twice. Tests read
values with ``REGISTRY.get_sample_value`` under a label unique to the test.

cert-manager's controller counters (``certmanager_controller_sync_call_count`` and
``..._sync_error_count``) sit beside ours so PromQL written for cert-manager keeps working;
they are ``ExactCounter``s because cert-manager's names carry no ``_total``. Their
``controller`` label carries certmgr's controller names (``certificates-trigger``,
``acme-orders``...), which are not all cert-manager's.

This module owns metric names, help texts, buckets and the histogram type the hot paths
observe through (``_Histogram``: prometheus-client's, with a cheaper ``observe``), and the
lock-free values of the series only the event loop's thread updates (``_LoopValue``); it
must not hold any other logic.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.values import MutexValue

from certmgr.promcompat import ExactCounter

__all__ = ["CONTENT_TYPE_LATEST", "REGISTRY", "render"]


class _LoopValue:
    """prometheus-client's ``MutexValue`` without the lock, for series updated only on the
    event loop's thread (the work queues' and controllers' per-reconcile series: a
    reconcile and a queue operation run on the loop) and read there too (``Snapshot``
    collects on the loop; only the collected samples go to a thread). The lock was most
    of a no-op reconcile's bookkeeping."""

    __slots__ = ("_exemplar", "_value")
    _multiprocess = False

    def __init__(self) -> None:
        self._value = 0.0
        self._exemplar: Any = None

    def inc(self, amount: float) -> None:
        self._value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._value = value

    def set_exemplar(self, exemplar: Any) -> None:
        self._exemplar = exemplar

    def get(self) -> float:
        return self._value

    def get_exemplar(self) -> Any:
        return self._exemplar


def _on_loop(value: Any) -> Any:
    """``value`` as a ``_LoopValue`` unless prometheus-client made it another kind than its
    mutex float (multiprocess mode keeps its own)."""
    return _LoopValue() if type(value) is MutexValue else value


class _LoopCounter(Counter):
    """prometheus-client's ``Counter`` whose children hold a ``_LoopValue``: increment it
    on the event loop's thread only."""

    def _metric_init(self) -> None:
        super()._metric_init()
        self._value = _on_loop(self._value)


class _Histogram(Histogram):
    """prometheus-client's ``Histogram`` whose ``observe`` finds the bucket by bisection
    and skips the per-call label check on a labelled child: three observations per
    reconcile, ~40 % cheaper each; its children hold ``_LoopValue``s: observe on the
    event loop's thread only. The same series and values (tests compare the exposition
    with the parent class's)."""

    def _metric_init(self) -> None:
        super()._metric_init()
        self._sum = _on_loop(self._sum)
        self._buckets = [_on_loop(bucket) for bucket in self._buckets]

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        if exemplar or amount != amount or (self._labelnames and not self._labelvalues):
            super().observe(amount, exemplar)  # the parent's checks and its errors
            return
        self._sum.inc(amount)
        # The first bound >= amount, as the parent's walk finds it (the last is +Inf).
        self._buckets[bisect_left(self._upper_bounds, amount)].inc(1)


# Queue waits and reconciles run from sub-millisecond (cache hit, nothing to do) to minutes
# (an ACME call behind a slow CA), so the buckets span both.
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

WORKQUEUE_DEPTH = Gauge(
    "certmgr_workqueue_depth", "Keys waiting in the work queue (not delayed).", ["name"]
)
WORKQUEUE_ADDS = _LoopCounter(
    "certmgr_workqueue_adds_total", "Keys added to the work queue (merged adds too).", ["name"]
)
WORKQUEUE_QUEUE_DURATION = _Histogram(
    "certmgr_workqueue_queue_duration_seconds",
    "Time a key waits in the queue between becoming ready and being handed to a worker.",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_WORK_DURATION = _Histogram(
    "certmgr_workqueue_work_duration_seconds",
    "Time between a worker getting a key and marking it done.",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_RETRIES = Counter(
    "certmgr_workqueue_retries_total", "Rate-limited re-adds (retries after an error).", ["name"]
)
WORKQUEUE_DELAYED = Gauge(
    "certmgr_workqueue_delayed", "Keys waiting for a delayed add to fire.", ["name"]
)

LOOP_LAG_MAX = Gauge(
    "certmgr_event_loop_lag_max_seconds",
    "The longest time the event loop was held since the process started.",
)
LOOP_LAG_ON_CPU_MAX = Gauge(
    "certmgr_event_loop_lag_on_cpu_max_seconds",
    "The longest event-loop stall counting at most the CPU time the process used meanwhile "
    "(a process waiting for a core on a busy machine is held, but not by its own work).",
)
LOOP_LAG = Histogram(
    "certmgr_event_loop_lag_seconds",
    "How long a turn of the event loop held it (turns of 1 ms or more): work that did not yield.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

GC_PAUSE_MAX = Gauge(
    "certmgr_gc_pause_max_seconds",
    "The longest cyclic garbage collection of each generation since the process started.",
    ["generation"],
)
GC_PAUSE_CPU_MAX = Gauge(
    "certmgr_gc_pause_cpu_max_seconds",
    "The most CPU time one cyclic garbage collection of each generation took since the "
    "process started (below the wall time when the process waited for a core).",
    ["generation"],
)

RECONCILE_TOTAL = _LoopCounter(
    "certmgr_controller_reconcile_total",
    "Reconciles by outcome: success, requeue_after, error, conflict, terminal_error.",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "certmgr_controller_reconcile_errors_total",
    "Reconciles that raised an unexpected error (retried with backoff).",
    ["controller"],
)
RECONCILE_TIME = _Histogram(
    "certmgr_controller_reconcile_time_seconds",
    "Duration of one reconcile.",
    ["controller"],
    buckets=_DURATION_BUCKETS,
)
ACTIVE_WORKERS = Gauge(
    "certmgr_controller_active_workers", "Workers busy reconciling right now.", ["controller"]
)

# cert-manager's names: a reconcile is a "sync"; an error is any reconcile that did not
# succeed (unexpected error, conflict, terminal error).
SYNC_CALLS = ExactCounter(
    "certmanager_controller_sync_call_count",
    "The number of sync() calls made by a controller (cert-manager's name; certmgr's "
    "controller names).",
    ["controller"],
)
SYNC_ERRORS = ExactCounter(
    "certmanager_controller_sync_error_count",
    "The number of errors encountered during controller sync() (cert-manager's name; "
    "certmgr's controller names).",
    ["controller"],
)

LEADER_IS_LEADER = Gauge(
    "certmgr_leader_is_leader", "1 while this process holds the Lease, else 0.", ["lease"]
)

EVENTS_RECORDED = Counter(
    "certmgr_events_total", "Kubernetes Events written (created or aggregated).", ["type"]
)
EVENTS_DROPPED = Counter(
    "certmgr_events_dropped_total",
    "Kubernetes Events not written, by why: queue_full, api_error, timeout.",
    ["why"],
)


def render(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The registry in the Prometheus text exposition format (``CONTENT_TYPE_LATEST``)."""
    return generate_latest(registry)


class Collecting(Protocol):
    """A registry, or prometheus-client's view of one restricted to some names."""

    def collect(self) -> Iterable[Metric]: ...


class Snapshot:
    """Every metric of a registry, collected at one moment, for rendering elsewhere.

    Collecting reads the informer caches (not thread-safe) and must happen on the event
    loop; turning the series into text can happen in a worker thread instead, so a scrape
    does not stall reconciles and Lease renewals. A family with a ``text()`` method
    (cert-manager's per-Certificate families: ~70,000 series at 10,000 Certificates)
    writes itself from pre-formatted series; the rest go through prometheus-client.
    """

    def __init__(self, registry: Collecting = REGISTRY) -> None:
        self._metrics = list(registry.collect())

    def collect(self) -> list[Metric]:
        return self._metrics

    def render(self) -> bytes:
        return b"".join(self.render_chunks())

    def render_chunks(self) -> Iterator[bytes]:
        """The exposition in pieces (a self-writing family's ``text_chunks``, else its
        ``text()``; one per run of the others), so a server can send each as it is made
        instead of holding the whole text (118 MB at 100,000 Certificates)."""
        plain: list[Metric] = []
        for metric in self._metrics:
            pieces = getattr(metric, "text_chunks", None)
            text = getattr(metric, "text", None)
            if not callable(pieces) and not callable(text):
                plain.append(metric)
                continue
            if plain:
                yield generate_latest(_Fixed(plain))  # type: ignore[arg-type,unused-ignore]
                plain = []
            if callable(pieces):
                for piece in pieces():
                    yield str(piece).encode()
            else:
                yield str(text()).encode()  # type: ignore[misc]
        if plain:
            yield generate_latest(_Fixed(plain))  # type: ignore[arg-type,unused-ignore]


class _Fixed:
    """Metrics already collected, shaped as the registry ``generate_latest`` reads."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> list[Metric]:
        return self._metrics
