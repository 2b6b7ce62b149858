"""cert-manager's ACME client metrics, fed by the transport's ``ExchangeObserver`` seam.

Owns ``certmanager_http_acme_client_request_count`` and
``certmanager_http_acme_client_request_duration_seconds``, labelled as current
cert-manager (1.19 and later) labels them: ``scheme``, ``host``, ``action`` (the protocol
step, e.g. ``get_directory``, ``authorize_order``, ``finalize_order``), ``method`` and
``status`` (the HTTP status, ``"999"`` when no response arrived, as cert-manager). Every
label is bounded: cert-manager <= 1.18 had a ``path`` label instead, which carried order
and authorization ids on CAs whose URLs do not fit its two-segment cut, and dropped it.

Like :mod:`certmgr.kube.metrics`, the metrics live in prometheus-client's default
registry, defined once at import. The count is an ``ExactCounter`` (cert-manager's name
has no ``_total``); the duration is a Summary without quantiles (prometheus-client
computes none): ``_sum`` and ``_count`` match cert-manager's. The composition root passes
``observe_exchange`` to ``connect(observer=...)``. This module must not do I/O; it runs on
the event loop with every exchange, so it must be cheap.
"""

from __future__ import annotations

import urllib.parse

from prometheus_client import Summary

from certmgr.promcompat import ExactCounter

LABELS = ("scheme", "host", "action", "method", "status")
# cert-manager's status label when the exchange got no response (connection refused,
# timeout, TLS failure).
NO_RESPONSE_STATUS = "999"

REQUEST_COUNT = ExactCounter(
    "certmanager_http_acme_client_request_count",
    "Total number of outbound ACME HTTP requests. Labels: scheme (http/https), host "
    "(ACME host), action (logical ACME operation), method (HTTP verb), status (HTTP status "
    "code).",
    LABELS,
)
REQUEST_DURATION = Summary(
    "certmanager_http_acme_client_request_duration_seconds",
    "Latency of outbound ACME HTTP requests in seconds. Labels: scheme, host, action, "
    "method, status (as certmanager_http_acme_client_request_count).",
    LABELS,
)


def exchange_labels(*, method: str, url: str, action: str, status: int | None) -> tuple[str, ...]:
    """The label values of one exchange, in ``LABELS`` order."""
    parts = urllib.parse.urlsplit(url)
    code = NO_RESPONSE_STATUS if status is None else str(status)
    host = parts.netloc.rpartition("@")[2]  # never userinfo in a label
    return (parts.scheme, host, action, method, code)


def observe_exchange(
    *, method: str, url: str, action: str, status: int | None, seconds: float
) -> None:
    """An ``ExchangeObserver``: count the exchange and observe its duration."""
    labels = exchange_labels(method=method, url=url, action=action, status=status)
    REQUEST_COUNT.inc(*labels)
    REQUEST_DURATION.labels(*labels).observe(seconds)
