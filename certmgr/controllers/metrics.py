"""cert-manager's resource metrics, computed at scrape time from the shared informer caches.

Owns the collector behind ``certmanager_certificate_*``, ``certmanager_issuer_ready_status``,
``certmanager_clusterissuer_ready_status`` and ``certmanager_clock_time_seconds*``: the
names, help texts, labels and values cert-manager's own collectors give them. Each scrape
walks the Certificate, Issuer and ClusterIssuer caches once (O(objects), nothing per
reconcile) and emits one series per object, so a deleted object is gone from the next
scrape with no clean-up to forget. Scrapes run on the event loop (the health server is
aiohttp), the thread that writes the caches, so a scrape never sees a half-applied event;
the Certificates' series are matched and formatted where the text is rendered.

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
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from certmgr.api.codec import parse_rfc3339
from certmgr.kube.resources import CERTIFICATES, CLUSTERISSUERS, ISSUERS
from certmgr.runtime.cache import Cache, Obj, Packed
from certmgr.runtime.clock import Clock
from certmgr.runtime.manager import Manager

READY_STATUSES = ("True", "False", "Unknown")
# Series per piece of a family's text: ~0.7 MB of it.
CHUNK_LINES = 4096
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
_FIELDS = tuple(dict.fromkeys(field for _, _, field in _TIMESTAMPS))
# Two families read notAfter: one value for both.
_FIELD_INDEX = tuple(_FIELDS.index(field) for _, _, field in _TIMESTAMPS)
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
        self._series: dict[int, SeriesSlot] = {}

    def describe(self) -> Iterable[Metric]:
        # Names only: a second collector registered in the same registry is refused.
        certificate_families = [
            GaugeMetricFamily(name, help_) for name, help_ in (_CERTIFICATE_READY,)
        ] + [GaugeMetricFamily(name, help_) for name, help_, _ in _TIMESTAMPS]
        return [*certificate_families, *_Families().all()]

    def collect(self) -> Iterable[Metric]:
        entries = self._certificate_series()
        families = _Families()
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
        certificate_families: list[Metric] = [
            CertificateFamily(*_CERTIFICATE_READY, entries, _ready_lines)
        ]
        for index, (name, help_, _) in enumerate(_TIMESTAMPS):
            certificate_families.append(
                CertificateFamily(name, help_, entries, _timestamp_lines(index))
            )
        return [*certificate_families, *families.all()]

    def _certificate_series(self) -> SeriesWalk:
        """This scrape's Certificates, matched to their series slots where the text is
        rendered (``SeriesWalk``). On the loop only the list of cached objects is taken,
        packed ones as kept (``Cache.stored_snapshot``): matching each to its slot there
        took 75-90 ms at 100,000, unpacking each ~1 s."""
        return SeriesWalk(self, self._certificates.stored_snapshot())

    def _match(self, certificates: Sequence[Obj | Packed]) -> list[SeriesSlot]:
        """Every Certificate's series slot, new only for objects that changed since the
        last scrape; the memo keeps exactly the Certificates of this scrape, so deleted
        ones leave it.

        It reads nothing of the objects: the cache never modifies a stored object in
        place (a new version is a new dict or packed form, an unchanged one keeps its
        identity across relists), so the same object means the same series, and the list
        may be read in any thread. Slots are found by the object's id and hold the
        object, so an id is never reused while its slot lives. Two scrapes racing both
        keep valid slots.
        Formatting 10,000 on the loop held it ~330 ms at the first scrape; reading their
        metadata and keying by (namespace, name) ~60 ms at every scrape, and the 10,000
        key tuples kept per scrape set off full collections."""
        previous, current = self._series, {}
        entries = []
        for certificate in certificates:
            slot = previous.get(id(certificate))
            if slot is None or slot.source is not certificate:
                slot = SeriesSlot(certificate)
            current[id(certificate)] = slot
            entries.append(slot)
        self._series = current
        return entries


class SeriesWalk:
    """One scrape's cached Certificates (a list taken on the loop), matched to their
    series slots on first use by whichever thread renders the families first; the
    families of one scrape share it."""

    __slots__ = ("_certificates", "_collector", "_slots")

    def __init__(self, collector: ResourceMetrics, certificates: Sequence[Obj | Packed]) -> None:
        self._collector = collector
        self._certificates = certificates
        self._slots: list[SeriesSlot] | None = None

    def slots(self) -> list[SeriesSlot]:
        slots = self._slots
        if slots is None:
            slots = self._slots = self._collector._match(self._certificates)
        return slots


class SeriesSlot:
    """A cached Certificate's samples as the text format writes them, formatted on first
    use in whichever thread asks first: label text escaped, values formatted once.
    ``source`` is the cached object as kept (packed or not), which the cache holds
    anyway. Kept for every Certificate between scrapes, so it holds nothing the text does not need
    (``samples`` derives labels and values again) and nothing twice: the issuer labels
    (the first three, the same for thousands of Certificates) are one string shared by
    every slot with the same issuer, and the timestamps are one string (``_FIELDS``
    order, space-separated), not a tuple of strings.

    Two threads racing both build the same values; ``label_text`` is written last, so a
    slot whose ``label_text`` is set is complete."""

    __slots__ = ("issuer_text", "label_text", "ready", "source", "values")

    def __init__(self, source: Obj | Packed) -> None:
        self.source = source
        self.issuer_text = ""  # the issuer labels, sorted by name, each followed by ","
        self.label_text: str | None = None  # the name and namespace labels
        self.values = ""
        self.ready = ""

    def get(self) -> SeriesSlot:
        if self.label_text is None:
            certificate = self.certificate()
            labels = series_labels(certificate)
            status = certificate.get("status") or {}
            self.values = " ".join(_go_float(unix_seconds(status.get(f))) for f in _FIELDS)
            self.ready = ready_status(certificate)
            texts = [f'{k}="{_escape(v)}"' for k, v in labels.items()]
            self.issuer_text = sys.intern("".join(f"{text}," for text in texts[:3]))
            self.label_text = ",".join(texts[3:])
        return self

    def certificate(self) -> Obj:
        """The cached Certificate, read back if it is kept packed."""
        source = self.source
        return source.unpack() if isinstance(source, Packed) else source

    def value_text(self, index: int) -> str:
        """The formatted value of ``_TIMESTAMPS[index]``."""
        return self.values.split(" ")[_FIELD_INDEX[index]]


def series_labels(certificate: Mapping[str, Any]) -> dict[str, str]:
    """A Certificate's labels but ``condition``, sorted by name."""
    metadata = certificate.get("metadata") or {}
    issuer_name, issuer_kind, issuer_group = issuer_labels(certificate)
    return {
        "issuer_group": issuer_group,
        "issuer_kind": issuer_kind,
        "issuer_name": issuer_name,
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
    }


def _go_float(value: float) -> str:
    # prometheus-client's own float formatting, so both renderings agree byte for byte.
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def _escape(value: str) -> str:
    # The text format's label value escaping (prometheus-client's, for UTF-8 values).
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


_Lines = Callable[[str, SeriesSlot], Iterable[str]]


def _ready_lines(name: str, entry: SeriesSlot) -> Iterable[str]:
    for condition in READY_STATUSES:
        value = "1.0" if entry.ready == condition else "0.0"
        yield f'{name}{{condition="{condition}",{entry.issuer_text}{entry.label_text}}} {value}\n'


def _timestamp_lines(index: int) -> _Lines:
    def lines(name: str, entry: SeriesSlot) -> Iterable[str]:
        yield f"{name}{{{entry.issuer_text}{entry.label_text}}} {entry.value_text(index)}\n"

    return lines


class CertificateFamily(Metric):
    """A per-Certificate gauge family over one scrape's ``SeriesSlot``s.

    ``text()`` writes the family in the text format directly from the pre-formatted
    series (``/metrics``: ~70,000 series at 10,000 Certificates in a fraction of the
    time prometheus-client takes per sample); ``samples`` are built only when asked
    (registries read by tests, other exporters). Both give the same exposition.
    """

    def __init__(self, name: str, documentation: str, entries: SeriesWalk, lines: _Lines) -> None:
        self._built: list[Sample] | None = None
        super().__init__(name, documentation, "gauge")
        self._entries = entries
        self._lines = lines

    @property
    def samples(self) -> list[Sample]:
        if self._built is None:
            self._built = [
                sample for slot in self._entries.slots() for sample in self._samples_of(slot)
            ]
        return self._built

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._built = value or None

    def _samples_of(self, slot: SeriesSlot) -> Iterable[Sample]:
        entry, labels = slot.get(), series_labels(slot.certificate())
        if self._lines is _ready_lines:
            for condition in READY_STATUSES:
                with_condition = {"condition": condition, **labels}
                yield Sample(self.name, with_condition, 1.0 if entry.ready == condition else 0.0)
        else:
            index = [name for name, _, _ in _TIMESTAMPS].index(self.name)
            yield Sample(self.name, labels, float(entry.value_text(index)))

    def _restricted_metric(self, names: Collection[str]) -> Metric | None:
        """prometheus-client's hook for a scrape narrowed to ``names`` (``name[]``): the
        whole family or nothing, still self-writing (its samples all carry its name)."""
        return self if self.name in names else None

    def text(self) -> str:
        return "".join(self.text_chunks())

    def text_chunks(self, *, lines: int = CHUNK_LINES) -> Iterator[str]:
        """``text()`` in pieces of at most ``lines`` series, so a scrape at 100,000
        Certificates (118 MB of text) never holds the whole of it."""
        help_ = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        yield f"# HELP {self.name} {help_}\n# TYPE {self.name} gauge\n"
        name, write = self.name, self._lines
        batch: list[str] = []
        for slot in self._entries.slots():
            batch.extend(write(name, slot.get()))
            if len(batch) >= lines:
                yield "".join(batch)
                batch = []
        if batch:
            yield "".join(batch)


class _Families:
    """One scrape's metric families, empty until filled."""

    def __init__(self) -> None:
        self.issuer_ready = GaugeMetricFamily(
            *_ISSUER_READY, labels=["name", "namespace", "condition"]
        )
        self.cluster_issuer_ready = GaugeMetricFamily(
            *_CLUSTER_ISSUER_READY, labels=["name", "condition"]
        )
        self.clock_gauge = GaugeMetricFamily(*_CLOCK_GAUGE)
        self.clock_deprecated = UnknownMetricFamily(*_CLOCK_DEPRECATED)

    def all(self) -> Iterable[Metric]:
        yield self.issuer_ready
        yield self.cluster_issuer_ready
        yield self.clock_gauge
        yield self.clock_deprecated


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
