"""Prometheus counters that keep the exact name the Go client would expose.

cert-manager's counters (``certmanager_controller_sync_call_count``,
``certmanager_http_acme_client_request_count``) are exposed by the Go client under exactly
that name. prometheus-client renders every ``counter`` as ``<name>_total`` in the text
format, so a ``Counter`` would break every rule and dashboard that names the series.
``ExactCounter`` therefore renders as ``untyped`` under the exact name: PromQL (``rate``,
``increase``, ``sum by``) works on it unchanged, only the ``# TYPE`` line differs.

Owns that one metric type; it must not define metric names (the modules that own each
metric do) and must not import anything of certmgr's, so every layer may use it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from prometheus_client.core import Metric, UnknownMetricFamily
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry


class ExactCounter(Collector):
    """A monotonically increasing value per label set, safe to increment from any thread."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def inc(self, *labelvalues: str, amount: float = 1.0) -> None:
        if len(labelvalues) != len(self._labelnames):
            raise ValueError(f"{self.name} takes labels {self._labelnames}, got {labelvalues}")
        if amount < 0:
            raise ValueError("a counter only goes up")
        self._add(labelvalues, amount)

    def labels(self, *labelvalues: str) -> BoundCounter:
        """One label set's ``inc`` without the checks per call (a hot path's)."""
        if len(labelvalues) != len(self._labelnames):
            raise ValueError(f"{self.name} takes labels {self._labelnames}, got {labelvalues}")
        return BoundCounter(self, labelvalues)

    def _add(self, labelvalues: tuple[str, ...], amount: float) -> None:
        with self._lock:
            self._values[labelvalues] = self._values.get(labelvalues, 0.0) + amount

    def value(self, *labelvalues: str) -> float:
        """The current value of one label set (0 when never incremented)."""
        with self._lock:
            return self._values.get(labelvalues, 0.0)

    def describe(self) -> Iterable[Metric]:
        # Names only: lets the registry refuse a second metric of the same name.
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            values = list(self._values.items())
        family = self._family()
        for labelvalues, value in values:
            family.add_metric(list(labelvalues), value)
        return [family]

    def _family(self) -> UnknownMetricFamily:
        return UnknownMetricFamily(self.name, self._documentation, labels=self._labelnames)


class BoundCounter:
    """``ExactCounter.labels(...)``: increments one label set."""

    __slots__ = ("_counter", "_labelvalues")

    def __init__(self, counter: ExactCounter, labelvalues: tuple[str, ...]) -> None:
        self._counter = counter
        self._labelvalues = labelvalues

    def inc(self) -> None:
        self._counter._add(self._labelvalues, 1.0)
