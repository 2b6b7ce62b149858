"""Prometheus metrics for API calls made through the Kubernetes door.

Owns ``certmgr_kube_requests_total{verb,resource,code}`` and
``certmgr_kube_request_duration_seconds{verb,resource}``. They live in prometheus-client's
default registry, defined once at import: a process has one API server and the runtime's
``/metrics`` endpoint serves the default registry, so per-client registries would only add
wiring. Tests read the counters as deltas. This module must not do I/O.

``code`` is the HTTP status as a string, or ``error`` when no response arrived.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "certmgr_kube_requests",
    "Kubernetes API requests (each attempt, retries included) by verb, resource and code.",
    ["verb", "resource", "code"],
)

REQUEST_DURATION = Histogram(
    "certmgr_kube_request_duration_seconds",
    "Latency of Kubernetes API request attempts until the response headers arrived.",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


# (verb, resource, code) -> the two labelled children: ``labels()`` validates and joins
# its arguments under a lock on every call, and every API request lands here. Bounded:
# verbs, resources and status codes are few.
_CHILDREN: Final[dict[tuple[str, str, str], tuple[Counter, Histogram]]] = {}


def observe(*, verb: str, resource: str, code: str, seconds: float) -> None:
    children = _CHILDREN.get((verb, resource, code))
    if children is None:
        children = (
            REQUESTS.labels(verb=verb, resource=resource, code=code),
            REQUEST_DURATION.labels(verb=verb, resource=resource),
        )
        _CHILDREN[(verb, resource, code)] = children
    children[0].inc()
    children[1].observe(seconds)
