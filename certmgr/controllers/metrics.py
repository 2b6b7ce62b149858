"""cert-manager's resource metrics, computed at scrape time from the shared informer caches.

Owns the collector behind ``certmanager_certificate_*``, ``certmanager_issuer_ready_status``,
``certmanager_clusterissuer_ready_status`` and ``certmanager_clock_time_seconds*``: the
names, help texts, labels and values cert-manager's own collectors give them. Each scrape
walks the Certificate, Issuer and ClusterIssuer caches once (O(objects), nothing per
reconcile) and emits one series per object, so a deleted object is gone from the next
scrape with no clean-up to forget. Scrapes run on the event loop (the health server is
aiohttp), the thread that writes the caches, so a scrape never sees a half-applied event.

Values follow cert-manager: a timestamp missing from status is 0; ``ready_status`` has
one series per condition value (True, False, Unknown) with 1 on the Ready condition's
status, and Unknown when there is no Ready condition; the issuer labels are
``spec.issuerRef`` as stored, an empty kind or group staying empty.

The names and help texts live here rather than in :mod:`certmgr.runtime.metrics`
because the values need what a Certificate's status means, which the runtime must not
know. This module must not write anything and must not raise from ``collect``: one bad
object must not take ``/metrics`` down, so an unparsable timestamp counts as missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from certmgr.api.codec import parse_rfc3339
from certmgr.kube.resources import CERTIFICATES, CLUSTERISSUERS, ISSUERS
from certmgr.runtime.cache import Cache
from certmgr.runtime.clock import Clock
from certmgr.runtime.manager import Manager

READY_STATUSES = ("True", "False", "Unknown")
CERTIFICATE_LABELS = ["name", "namespace", "issuer_name", "issuer_kind", "issuer_group"]
READY_LABELS = ["name", "namespace", "condition", "issuer_name", "issuer_kind", "issuer_group"]

# (metric name, help, status field) of the per-Certificate timestamps.
_TIMESTAMPS = (
    (
        "certmanager_certificate_expiration_timestamp_seconds",
        "The timestamp after which the certificate expires, expressed in Unix Epoch Time.",
        "notAfter",
    ),
    (
        "certmanager_certificate_not_after_timestamp_seconds",
        "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.",
        "notAfter",
    ),
    (
        "certmanager_certificate_not_before_timestamp_seconds",
        "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.",
        "notBefore",
    ),
    (
        "certmanager_certificate_renewal_timestamp_seconds",
        "The timestamp after which the certificate should be renewed, expressed in Unix "
        "Epoch Time.",
        "renewalTime",
    ),
)
_CERTIFICATE_READY = (
    "certmanager_certificate_ready_status",
    "The ready status of the certificate.",
)
_ISSUER_READY = ("certmanager_issuer_ready_status", "The ready status of the Issuer.")
_CLUSTER_ISSUER_READY = (
    "certmanager_clusterissuer_ready_status",
    "The ready status of the ClusterIssuer.",
)
_CLOCK_GAUGE = (
    "certmanager_clock_time_seconds_gauge",
    "The clock time given in seconds (from 1970/01/01 UTC).",
)
# cert-manager's deprecated counter of the same value: untyped under its exact name,
# because prometheus-client would render a counter as ``..._total``.
_CLOCK_DEPRECATED = (
    "certmanager_clock_time_seconds",
    "DEPRECATED: use clock_time_seconds_gauge instead. The clock time given in seconds "
    "(from 1970/01/01 UTC).",
)


def unix_seconds(text: object) -> float:
    """A status timestamp as whole Unix seconds, as Go's ``Time.Unix``; 0 when missing
    or unparsable (cert-manager's value for a nil time)."""
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return float(math.floor(parse_rfc3339(text).timestamp()))
    except ValueError:
        return 0.0


def ready_status(obj: Mapping[str, Any]) -> str:
    """The status of the object's Ready condition, ``Unknown`` when it has none."""
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return str(condition.get("status", ""))
    return "Unknown"


def issuer_labels(certificate: Mapping[str, Any]) -> list[str]:
    """``spec.issuerRef`` name, kind and group, empty strings for what is not set."""
    ref = (certificate.get("spec") or {}).get("issuerRef") or {}
    return [str(ref.get(field) or "") for field in ("name", "kind", "group")]


class ResourceMetrics(Collector):
    """The collector: reads the caches and the clock at every scrape."""

    def __init__(
        self, *, certificates: Cache, issuers: Cache, cluster_issuers: Cache, clock: Clock
    ) -> None:
        self._certificates = certificates
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        # Names only: a second collector registered in the same registry is refused.
        return list(_Families().all())

    def collect(self) -> Iterable[Metric]:
        families = _Families()
        for certificate in self._certificates.list():
            _add_certificate(families, certificate)
        for issuer in self._issuers.list():
            metadata = issuer.get("metadata") or {}
            name, namespace = metadata.get("name", ""), metadata.get("namespace", "")
            _add_ready(families.issuer_ready, [name, namespace], [], ready_status(issuer))
        for cluster_issuer in self._cluster_issuers.list():
            name = (cluster_issuer.get("metadata") or {}).get("name", "")
            _add_ready(families.cluster_issuer_ready, [name], [], ready_status(cluster_issuer))
        now = float(math.floor(self._clock.now().timestamp()))
        families.clock_gauge.add_metric([], now)
        families.clock_deprecated.add_metric([], now)
        return list(families.all())


class _Families:
    """One scrape's metric families, empty until filled."""

    def __init__(self) -> None:
        self.timestamps = [
            (GaugeMetricFamily(name, help_, labels=CERTIFICATE_LABELS), field)
            for name, help_, field in _TIMESTAMPS
        ]
        self.certificate_ready = GaugeMetricFamily(*_CERTIFICATE_READY, labels=READY_LABELS)
        self.issuer_ready = GaugeMetricFamily(
            *_ISSUER_READY, labels=["name", "namespace", "condition"]
        )
        self.cluster_issuer_ready = GaugeMetricFamily(
            *_CLUSTER_ISSUER_READY, labels=["name", "condition"]
        )
        self.clock_gauge = GaugeMetricFamily(*_CLOCK_GAUGE)
        self.clock_deprecated = UnknownMetricFamily(*_CLOCK_DEPRECATED)

    def all(self) -> Iterable[Metric]:
        yield self.certificate_ready
        for family, _ in self.timestamps:
            yield family
        yield self.issuer_ready
        yield self.cluster_issuer_ready
        yield self.clock_gauge
        yield self.clock_deprecated


def _add_certificate(families: _Families, certificate: Mapping[str, Any]) -> None:
    metadata = certificate.get("metadata") or {}
    key = [metadata.get("name", ""), metadata.get("namespace", "")]
    issuer = issuer_labels(certificate)
    status = certificate.get("status") or {}
    for family, field in families.timestamps:
        family.add_metric(key + issuer, unix_seconds(status.get(field)))
    _add_ready(families.certificate_ready, key, issuer, ready_status(certificate))


def _add_ready(family: GaugeMetricFamily, key: list[str], rest: list[str], status: str) -> None:
    """One series per condition value: 1 for ``status``, 0 for the others; the
    ``condition`` label sits between ``key`` and ``rest``, as in cert-manager's order."""
    for condition in READY_STATUSES:
        family.add_metric([*key, condition, *rest], 1.0 if status == condition else 0.0)


def register(
    manager: Manager, *, clock: Clock, registry: CollectorRegistry = REGISTRY
) -> ResourceMetrics:
    """Create the collector over ``manager``'s Certificate, Issuer and ClusterIssuer
    informers (created now if no controller asked for them yet: call before the
    informers run) and register it; ``registry.unregister`` it on shutdown."""
    collector = ResourceMetrics(
        certificates=manager.informer(CERTIFICATES).cache,
        issuers=manager.informer(ISSUERS).cache,
        cluster_issuers=manager.informer(CLUSTERISSUERS).cache,
        clock=clock,
    )
    registry.register(collector)
    return collector
