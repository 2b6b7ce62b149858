"""``certmgr renew`` against the simulator: which Certificates get Issuing=True, what the
condition looks like, and what is printed for skipped, missing and conflicting ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certmgr.api.codec import parse_rfc3339

from .conftest import Cluster, certificate, namespace

ISSUING_BY_HAND = {
    "type": "Issuing",
    "status": "True",
    "reason": "ManuallyTriggered",
    "message": "Certificate re-issuance manually triggered",
}
NOT_READY = {
    "type": "Ready",
    "status": "False",
    "reason": "DoesNotExist",
    "message": "Issuing certificate as Secret does not exist",
    "lastTransitionTime": "2026-03-01T12:00:00Z",
    "observedGeneration": 1,
}


def issuing(cluster: Cluster, name: str, ns: str = "default") -> dict[str, str] | None:
    stored = cluster.get(certificate(name, namespace=ns))
    conditions = (stored.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Issuing"), None)


@pytest.fixture
def seeded(cluster: Cluster) -> Cluster:
    cluster.create(namespace("other"))
    cluster.create(certificate("a", labels={"app": "x"}))
    cluster.create(certificate("b", labels={"app": "y"}))
    cluster.create(certificate("c", namespace="other", labels={"app": "x"}))
    return cluster


@pytest.mark.parametrize(
    ("args", "triggered"),
    [
        pytest.param(["a"], {"default/a"}, id="one-name"),
        pytest.param(["a", "b"], {"default/a", "default/b"}, id="two-names"),
        pytest.param(["c", "-n", "other"], {"other/c"}, id="name-in-namespace"),
        pytest.param(["--all"], {"default/a", "default/b"}, id="all-in-default"),
        pytest.param(["--all", "-n", "other"], {"other/c"}, id="all-in-namespace"),
        pytest.param(["-l", "app=x"], {"default/a"}, id="selector"),
        pytest.param(["-A", "--all"], {"default/a", "default/b", "other/c"}, id="all-namespaces"),
        pytest.param(["-A", "-l", "app=x"], {"default/a", "other/c"}, id="selector-everywhere"),
        pytest.param(["-l", "app!=x"], {"default/b"}, id="selector-not-equal"),
    ],
)
def test_renew_selects(seeded: Cluster, args: list[str], triggered: set[str]) -> None:
    result = seeded.cli("renew", *args)

    assert result.code == 0, result.err
    assert {
        line.removeprefix("Manually triggered issuance of Certificate ")
        for line in result.out.splitlines()
    } == triggered
    for key in ("default/a", "default/b", "other/c"):
        ns, name = key.split("/")
        condition = issuing(seeded, name, ns)
        if key in triggered:
            assert condition is not None
            assert {k: condition[k] for k in ISSUING_BY_HAND} == ISSUING_BY_HAND
        else:
            assert condition is None


def test_condition_shape(cluster: Cluster) -> None:
    created = cluster.create(certificate("web", conditions=[NOT_READY]))
    # A spec change moves the generation, so observedGeneration has to follow it.
    spec = {**created["spec"], "dnsNames": ["web.example.com", "www.example.com"]}
    cluster.sim.apply({**created, "spec": spec})
    before = datetime.now(UTC).replace(microsecond=0)

    result = cluster.cli("renew", "web")

    after = datetime.now(UTC)
    assert result.code == 0
    assert result.out == "Manually triggered issuance of Certificate default/web\n"
    stored = cluster.get(created)
    assert stored["metadata"]["generation"] == 2
    ready, issuing_ = stored["status"]["conditions"]
    assert ready == NOT_READY  # the other conditions are kept as they were
    assert issuing_["observedGeneration"] == 2
    assert before <= parse_rfc3339(issuing_["lastTransitionTime"]) <= after
    assert {k: v for k, v in issuing_.items() if k in ISSUING_BY_HAND} == ISSUING_BY_HAND
    assert set(issuing_) == {*ISSUING_BY_HAND, "lastTransitionTime", "observedGeneration"}


def test_already_issuing_is_skipped(cluster: Cluster) -> None:
    in_flight = {
        "type": "Issuing",
        "status": "True",
        "reason": "Renewing",
        "message": "Renewing certificate as renewal was scheduled at 2026-03-01",
        "lastTransitionTime": "2026-03-01T12:00:00Z",
        "observedGeneration": 1,
    }
    cluster.create(certificate("busy", conditions=[in_flight]))
    cluster.create(certificate("idle"))

    result = cluster.cli("renew", "--all")

    assert result.code == 0
    assert result.out.splitlines() == [
        "Certificate default/busy is already being issued; skipped",
        "Manually triggered issuance of Certificate default/idle",
    ]
    assert issuing(cluster, "busy") == in_flight  # untouched


def test_issuing_false_is_triggered(cluster: Cluster) -> None:
    failed = {
        "type": "Issuing",
        "status": "False",
        "reason": "Failed",
        "message": "The certificate request has failed to complete and will be retried",
        "lastTransitionTime": "2026-03-01T12:00:00Z",
        "observedGeneration": 1,
    }
    cluster.create(certificate("failed", conditions=[failed]))

    result = cluster.cli("renew", "failed")

    assert result.code == 0
    condition = issuing(cluster, "failed")
    assert condition is not None
    assert condition["status"] == "True"
    assert condition["reason"] == "ManuallyTriggered"
    assert condition["lastTransitionTime"] != failed["lastTransitionTime"]  # status changed


def test_missing_name_reported_after_the_others(cluster: Cluster) -> None:
    cluster.create(certificate("a"))
    cluster.create(certificate("b"))

    result = cluster.cli("renew", "a", "missing", "b")

    assert result.code == 1
    assert result.out.splitlines() == [
        "Manually triggered issuance of Certificate default/a",
        "Manually triggered issuance of Certificate default/b",
    ]
    assert result.err == 'certmgr: error: Certificate "missing" not found in namespace default\n'
    assert issuing(cluster, "a") is not None
    assert issuing(cluster, "b") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--all"], "No Certificates found in default namespace.\n", id="all"),
        pytest.param(["-l", "app=none"], "No Certificates found in default namespace.\n", id="sel"),
        pytest.param(["-A", "--all"], "No Certificates found.\n", id="all-namespaces"),
    ],
)
def test_nothing_selected(cluster: Cluster, args: list[str], message: str) -> None:
    result = cluster.cli("renew", *args)

    assert (result.code, result.out, result.err) == (0, "", message)


def test_conflicts_are_retried(seeded: Cluster) -> None:
    # Half the status writes conflict (seeded, so the same every run); each one must be
    # re-read and re-applied until it lands.
    seeded.sim.faults.conflict_rate = 0.5
    seeded.sim.faults.resources = frozenset({"certificates/status"})
    seeded.sim.requests.reset()

    result = seeded.cli("renew", "-A", "--all")

    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 3
    for ns, name in (("default", "a"), ("default", "b"), ("other", "c")):
        assert issuing(seeded, name, ns) is not None
    writes = seeded.sim.requests.count(verb="update", resource="certificates/status")
    assert writes > 3  # at least one conflict happened and was retried


def test_bad_selector_is_an_error(seeded: Cluster) -> None:
    result = seeded.cli("renew", "-l", "app in (x")

    assert result.code == 1
    assert result.err.startswith("certmgr: error: BadRequest: ")
    assert issuing(seeded, "a") is None
