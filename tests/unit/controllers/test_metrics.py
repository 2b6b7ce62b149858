"""cert-manager's resource metrics, read from the informer caches at scrape time: values,
labels, the Unknown of a missing Ready condition, and series that leave with their object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from certmgr.controllers.metrics import (
    CertificateFamily,
    ResourceMetrics,
    register,
    unix_seconds,
)
from certmgr.kube.client import KubeClient
from certmgr.runtime.cache import Cache, Pack
from certmgr.runtime.informer_certificates import packed_certificate
from certmgr.runtime.manager import Manager
from certmgr.runtime.metrics import Snapshot
from certmgr.testing.clock import FakeClock

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOT_BEFORE = "2026-03-01T11:00:00Z"
NOT_AFTER = "2026-05-30T11:00:00Z"
RENEWAL = "2026-04-30T11:00:00Z"


def certificate(
    name: str,
    *,
    issuer_ref: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "apps", "resourceVersion": "1"},
        "spec": {
            "secretName": f"{name}-tls",
            "issuerRef": issuer_ref
            if issuer_ref is not None
            else {"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


def ready(value: str) -> dict[str, Any]:
    return {
        "conditions": [
            {"type": "Issuing", "status": "False"},
            {"type": "Ready", "status": value, "reason": "Test"},
        ],
        "notBefore": NOT_BEFORE,
        "notAfter": NOT_AFTER,
        "renewalTime": RENEWAL,
    }


def cache_of(*objects: dict[str, Any], pack: Pack | None = None) -> Cache:
    cache = Cache(pack=pack)
    for obj in objects:
        cache.apply("ADDED", obj)
    return cache


# The Certificate cache keeps them packed (``runtime/informer_certificates.py``).
@pytest.fixture(params=[None, packed_certificate], ids=["as-dicts", "packed"])
def certificates(request: pytest.FixtureRequest) -> Cache:
    return cache_of(
        certificate("ready", status=ready("True")),
        certificate("failing", status=ready("False")),
        certificate("new"),  # no status at all yet
        certificate("bare-ref", issuer_ref={"name": "local"}, status=ready("True")),
        pack=request.param,
    )


@pytest.fixture
def registry(certificates: Cache) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(
        ResourceMetrics(
            certificates=certificates,
            issuers=cache_of(
                {
                    "metadata": {"name": "acme", "namespace": "apps", "resourceVersion": "1"},
                    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
                }
            ),
            cluster_issuers=cache_of({"metadata": {"name": "ca", "resourceVersion": "1"}}),
            clock=FakeClock(NOW),
        )
    )
    return registry


def labels(name: str, **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "namespace": "apps",
        "issuer_name": "ca",
        "issuer_kind": "ClusterIssuer",
        "issuer_group": "cert-manager.io",
    } | extra


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        pytest.param("certmanager_certificate_expiration_timestamp_seconds", NOT_AFTER, id="exp"),
        pytest.param("certmanager_certificate_not_after_timestamp_seconds", NOT_AFTER, id="after"),
        pytest.param(
            "certmanager_certificate_not_before_timestamp_seconds", NOT_BEFORE, id="before"
        ),
        pytest.param("certmanager_certificate_renewal_timestamp_seconds", RENEWAL, id="renewal"),
    ],
)
def test_timestamps_are_the_status_fields_in_unix_seconds(
    registry: CollectorRegistry, metric: str, expected: str
) -> None:
    assert registry.get_sample_value(metric, labels("ready")) == epoch(expected)
    assert registry.get_sample_value(metric, labels("new")) == 0, "missing: 0, as cert-manager"


@pytest.mark.parametrize(
    ("name", "current"),
    [
        pytest.param("ready", "True", id="ready"),
        pytest.param("failing", "False", id="not-ready"),
        pytest.param("new", "Unknown", id="no-ready-condition"),
    ],
)
def test_ready_status_has_one_series_per_condition_value(
    registry: CollectorRegistry, name: str, current: str
) -> None:
    values = {
        condition: registry.get_sample_value(
            "certmanager_certificate_ready_status", labels(name, condition=condition)
        )
        for condition in ("True", "False", "Unknown")
    }
    assert values == {c: (1.0 if c == current else 0.0) for c in ("True", "False", "Unknown")}


def test_an_issuer_ref_without_kind_or_group_keeps_them_empty(
    registry: CollectorRegistry,
) -> None:
    bare = labels("bare-ref", issuer_name="local", issuer_kind="", issuer_group="")
    metric = "certmanager_certificate_expiration_timestamp_seconds"
    assert registry.get_sample_value(metric, bare) == epoch(NOT_AFTER)
    # Written as empty values, which Prometheus reads as absent labels (as cert-manager).
    assert 'issuer_group="",issuer_kind="",issuer_name="local"' in (
        generate_latest(registry).decode()
    )


def test_a_deleted_certificate_leaves_the_next_scrape(
    registry: CollectorRegistry, certificates: Cache
) -> None:
    metric = "certmanager_certificate_expiration_timestamp_seconds"
    assert registry.get_sample_value(metric, labels("failing")) == epoch(NOT_AFTER)
    certificates.apply("DELETED", certificate("failing", status=ready("False")))
    assert registry.get_sample_value(metric, labels("failing")) is None
    text = generate_latest(registry).decode()
    assert 'name="failing"' not in text
    assert 'name="ready"' in text


def test_issuers_clock_and_exact_names(registry: CollectorRegistry) -> None:
    issuer = {"name": "acme", "namespace": "apps"}
    assert (
        registry.get_sample_value(
            "certmanager_issuer_ready_status", issuer | {"condition": "False"}
        )
        == 1
    )
    assert (
        registry.get_sample_value("certmanager_issuer_ready_status", issuer | {"condition": "True"})
        == 0
    )
    assert (
        registry.get_sample_value(
            "certmanager_clusterissuer_ready_status", {"name": "ca", "condition": "Unknown"}
        )
        == 1
    )
    assert registry.get_sample_value("certmanager_clock_time_seconds_gauge") == NOW.timestamp()
    # The deprecated counter keeps cert-manager's exact name (no _total).
    assert registry.get_sample_value("certmanager_clock_time_seconds") == NOW.timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-03-01T12:00:00Z", NOW.timestamp(), id="rfc3339"),
        pytest.param("2026-03-01T12:00:00.900Z", NOW.timestamp(), id="fraction-floored"),
        pytest.param(None, 0.0, id="missing"),
        pytest.param("yesterday", 0.0, id="garbage"),
        pytest.param("2026-03-01T12:00:00", 0.0, id="no-timezone"),
    ],
)
def test_unix_seconds(text: object, expected: float) -> None:
    assert unix_seconds(text) == expected


def test_register_refuses_a_second_collector_in_one_registry() -> None:
    registry = CollectorRegistry()
    manager = Manager(KubeClient.__new__(KubeClient), clock=FakeClock(NOW))
    collector = register(manager, clock=FakeClock(NOW), registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        register(manager, clock=FakeClock(NOW), registry=registry)
    registry.unregister(collector)
    register(manager, clock=FakeClock(NOW), registry=registry)


def test_the_fast_rendering_is_prometheus_clients_byte_for_byte(certificates: Cache) -> None:
    # /metrics writes the per-Certificate families from pre-formatted series; it must be
    # exactly what prometheus-client writes from the samples, escaping included.
    for name, issuer in [
        ('quo"te', {"name": "back\\slash", "kind": "Issuer"}),
        ("new\nline", {"name": "ünïcode", "kind": "ClusterIssuer", "group": "x.io"}),
    ]:
        certificates.apply("ADDED", certificate(name, issuer_ref=issuer, status=ready("True")))
    registry = CollectorRegistry()
    registry.register(
        ResourceMetrics(
            certificates=certificates,
            issuers=cache_of(),
            cluster_issuers=cache_of(),
            clock=FakeClock(NOW),
        )
    )
    fast = Snapshot(registry).render()
    assert fast == generate_latest(registry)
    assert fast.count(b"certmanager_certificate_ready_status{") == 6 * 3


def test_a_scrape_narrowed_by_name_keeps_a_family_whole_and_skips_the_rest(
    certificates: Cache,
) -> None:
    # /metrics?name[]=...: prometheus-client's restricted registry asks each family for
    # its part; a per-Certificate family is all of its series or none.
    certificates.apply("ADDED", certificate("c0", status=ready("True")))
    registry = CollectorRegistry()
    registry.register(
        ResourceMetrics(
            certificates=certificates,
            issuers=cache_of(),
            cluster_issuers=cache_of(),
            clock=FakeClock(NOW),
        )
    )
    wanted = "certmanager_certificate_ready_status"
    snapshot = Snapshot(registry.restricted_registry([wanted]))
    # Still self-writing: not rebuilt sample by sample through prometheus-client.
    assert [type(family) for family in snapshot.collect()] == [CertificateFamily]
    narrowed = snapshot.render()
    whole = Snapshot(registry).render().decode()
    expected = "".join(line + "\n" for line in whole.splitlines() if wanted in line)
    assert narrowed.decode() == expected
    assert narrowed.count(b"certmanager_certificate_ready_status{") >= 3
    assert b"certmanager_certificate_expiration_timestamp_seconds" in whole.encode()
    assert Snapshot(registry.restricted_registry(["certmgr_nothing"])).render() == b""


def test_a_family_in_pieces_is_its_whole_text(certificates: Cache) -> None:
    # /metrics sends each piece as it is made; joined, they are the family's text.
    for index in range(5):
        certificates.apply("ADDED", certificate(f"c{index}", status=ready("True")))
    collector = ResourceMetrics(
        certificates=certificates,
        issuers=cache_of(),
        cluster_issuers=cache_of(),
        clock=FakeClock(NOW),
    )
    families = [f for f in collector.collect() if isinstance(f, CertificateFamily)]
    assert len(families) == 5
    for family in families:
        pieces = list(family.text_chunks(lines=2))
        assert "".join(pieces) == family.text()
        assert len(pieces) >= 3  # the head, then at most 2 series a piece


def test_a_scrape_formats_only_the_certificates_that_changed(certificates: Cache) -> None:
    collector = ResourceMetrics(
        certificates=certificates,
        issuers=cache_of(),
        cluster_issuers=cache_of(),
        clock=FakeClock(NOW),
    )

    def slots() -> dict[str, Any]:
        return {slot.certificate()["metadata"]["name"]: slot for slot in collector._series.values()}

    def scrape() -> None:
        # The slots are matched where the text is rendered (the scrape's worker thread).
        for family in collector.collect():
            getattr(family, "text", lambda: "")()

    scrape()
    first = slots()
    changed = certificate("failing", status=ready("True"))
    changed["metadata"]["resourceVersion"] = "2"
    certificates.apply("MODIFIED", changed)
    certificates.apply("DELETED", certificate("new"))
    scrape()
    second = slots()
    assert second["ready"] is first["ready"]  # kept, not re-formatted
    assert second["failing"] is not first["failing"]
    assert second["failing"].get().ready == "True"
    assert "new" not in second
