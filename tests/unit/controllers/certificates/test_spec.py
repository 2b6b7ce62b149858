"""Certificate specs that parse but can never be issued, and name shortening."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.controllers.certificates import spec as spec_module
from certmgr.controllers.certificates.spec import CertificateView, requirements_of, shorten_name
from certmgr.memo import Generations
from certmgr.pki.probe import csr_problem

from .helpers import certificate


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, None),
        ({"ipAddresses": ["10.0.0.1", "::1"]}, None),
        ({"ipAddresses": ["999.1.1.1"]}, "failed to parse IP address '999.1.1.1'"),
        ({"dnsNames": []}, "at least one of commonName"),
        ({"privateKey": {"algorithm": "RSA", "size": 1024}}, "weak RSA key size"),
        ({"privateKey": {"algorithm": "ECDSA", "size": 300}}, "unsupported ECDSA key size"),
        ({"usages": ["bogus"]}, "bogus"),
        ({"literalSubject": "CN=web,O=Example\\, Inc.,C=US"}, None),
        ({"literalSubject": "CN=x", "dnsNames": []}, None),  # the CN counts as a name
        ({"literalSubject": "CN", "dnsNames": []}, "invalid literalSubject"),
        ({"signatureAlgorithm": "SHA384WithRSA"}, None),
        ({"signatureAlgorithm": "ECDSAWithSHA256"}, "needs an ECDSA key, not RSA"),
        ({"duration": "soon"}, "spec.duration"),
        (
            {
                "renewal": {
                    "policy": "RenewBefore",
                    "windows": [{"cron": "0 25 * * *", "windowDuration": "1h"}],
                }
            },
            "spec.renewal.windows[0]: end of range (25) above maximum (23)",
        ),
        (
            {
                "renewal": {
                    "policy": "RenewBefore",
                    "windows": [
                        {"cron": "@daily", "windowDuration": "1h", "timezone": "Mars/Base"}
                    ],
                }
            },
            "spec.renewal.windows[0]: unknown time zone 'Mars/Base'",
        ),
    ],
    ids=[
        "valid",
        "valid-ips",
        "bad-ip",
        "no-names",
        "weak-rsa",
        "bad-curve",
        "unknown-usage",
        "literal-subject",
        "literal-subject-cn-only",
        "literal-subject-invalid",
        "signature-algorithm",
        "signature-algorithm-for-another-key",
        "undecodable-duration",
        "renewal-window-cron",
        "renewal-window-timezone",
    ],
)
def test_spec_problem(fields: dict[str, Any], problem: str | None) -> None:
    found = certificate(**fields).problem()
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_spec_problem_is_judged_once_per_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[object] = []

    def counting_csr_problem(requirements: Any) -> str | None:
        judged.append(requirements)
        return csr_problem(requirements)

    monkeypatch.setattr(spec_module, "csr_problem", counting_csr_problem)
    spec_module._decoded_cache.clear()
    spec_module._requirements.clear()
    verdicts = [
        certificate(ipAddresses=["10.0.0.7"]).problem(),
        certificate(ipAddresses=["10.0.0.7"]).problem(),  # unchanged spec, a new view
        certificate(ipAddresses=["999.1.1.7"]).problem(),  # edited: judged again
        certificate(ipAddresses=["999.1.1.7"]).problem(),
    ]
    assert verdicts[:2] == [None, None]
    assert verdicts[2] == verdicts[3] == "failed to parse IP address '999.1.1.7'"
    assert len(judged) == 2


def test_status_writes_keep_the_spec_and_its_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    # An issuance writes the status three times: one judgement per spec, not per write.
    judged: list[object] = []

    def counting_csr_problem(requirements: Any) -> str | None:
        judged.append(requirements)
        return csr_problem(requirements)

    monkeypatch.setattr(spec_module, "csr_problem", counting_csr_problem)
    views = []
    for version, dns_name, revision in [
        ("7", "a.example.com", None),
        ("8", "a.example.com", 1),  # status written
        ("9", "a.example.com", 2),  # and again
        ("10", "b.example.com", 2),  # the spec edited
        ("11", "b.example.com", 2),  # metadata only
    ]:
        stored = _stored(dns_name, resource_version=version)
        stored["metadata"]["uid"] = "u-status-writes"
        stored["status"] = {"revision": revision} if revision else {}
        view = CertificateView.of(stored)
        assert view.problem() is None
        assert view.revision == (revision or 0)
        views.append(view)
    specs = [view.spec for view in views]
    assert specs[0] is specs[1] is specs[2]
    assert specs[3] is specs[4] and specs[3] is not specs[0]
    assert specs[3] is not None and specs[3].dns_names == ("b.example.com",)
    assert len(judged) == 2
    spec_module.forget("u-status-writes")


def test_view_of_an_issuing_certificate() -> None:
    view = CertificateView.of(
        {
            "metadata": {"name": "web", "namespace": "ns", "generation": 3},
            "spec": {"secretName": "s", "issuerRef": {"name": "ca"}, "commonName": "x"},
            "status": {
                "revision": 2,
                "conditions": [
                    {
                        "type": "Issuing",
                        "status": "True",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            },
        }
    )
    assert (view.key, view.revision, view.generation) == ("ns/web", 2, 3)
    assert view.issuing is not None
    assert view.issuing_since == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("web", "web"),
        ("a" * 60, "a" * 52),
        ("a" * 51 + "-b", "a" * 51),
        ("x" * 50 + ".-y", "x" * 50),
    ],
    ids=["short", "cut", "no-trailing-dash", "no-trailing-dot"],
)
def test_shorten_name(name: str, short: str) -> None:
    assert shorten_name(name) == short


def _stored(dns_name: str, *, resource_version: str = "7") -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "u-1"}
        | ({"resourceVersion": resource_version} if resource_version else {}),
        "spec": {"secretName": "s", "issuerRef": {"name": "ca"}, "dnsNames": [dns_name]},
        "status": {"revision": 1},
    }


def _edited_copy(obj: dict[str, Any]) -> dict[str, Any]:
    # A write's body or the object it returned: another dict, same uid and version.
    edited = copy.deepcopy(obj)
    edited["spec"]["dnsNames"] = ["b.example.com"]
    edited["status"]["revision"] = 2
    return edited


@pytest.mark.parametrize(
    ("second", "dns_names", "revision"),
    [
        (lambda: _stored("a.example.com"), ("a.example.com",), 1),
        (lambda: _stored("b.example.com"), ("b.example.com",), 1),
        (lambda: _stored("b.example.com", resource_version=""), ("b.example.com",), 1),
        (lambda: _edited_copy(FIRST), ("b.example.com",), 2),
        (lambda: {**_stored("a.example.com"), "spec": {"secretName": "s"}}, None, 1),
    ],
    ids=["same-version", "same-version-other-spec", "no-version", "edited-copy", "invalid"],
)
def test_view_decodes_what_the_object_holds(
    second: Any, dns_names: tuple[str, ...] | None, revision: int
) -> None:
    # Decoding is memoized per uid beside the dicts decoded (shared, not copied: cached
    # objects are read-only); the view must still reflect the dict it is given,
    # whatever was decoded before under the same uid and version.
    FIRST.clear()
    FIRST.update(_stored("a.example.com"))
    assert CertificateView.of(FIRST).spec is not None
    view = CertificateView.of(second())
    assert (view.spec.dns_names if view.spec else None) == dns_names
    assert view.revision == revision
    assert (view.spec is None) == bool(view.spec_error)


FIRST: dict[str, Any] = {}


def test_requirements_are_kept_per_spec_object() -> None:
    first = certificate(dnsNames=["a.example"])
    spec = first.spec
    assert spec is not None
    kept = spec_module.requirements_of(spec)
    assert spec_module.requirements_of(spec) is kept
    assert kept == spec_module._requirements_from(spec)
    edited = certificate(dnsNames=["b.example"]).spec
    assert edited is not None
    assert spec_module.requirements_of(edited).dns_names == ("b.example",)


def test_a_sweep_over_more_certificates_than_any_fixed_bound_judges_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 5,000 distinct Certificates (more than the 4,096 an lru_cache used to keep) swept
    # twice: the second sweep judges no spec again (it signed a probe CSR per Certificate
    # per sweep).
    judged: list[object] = []

    def counting_csr_problem(requirements: Any) -> str | None:
        judged.append(requirements)
        return csr_problem(requirements)

    monkeypatch.setattr(spec_module, "csr_problem", counting_csr_problem)
    objects = [
        {
            "metadata": {
                "name": f"c{i}",
                "namespace": "ns",
                "uid": f"uid-{i}",
                "resourceVersion": "7",
            },
            "spec": {
                "secretName": f"c{i}-tls",
                "issuerRef": {"name": "ca", "kind": "Issuer"},
                "dnsNames": [f"c{i}.example.com"],
            },
        }
        for i in range(5000)
    ]
    for _ in range(2):
        assert all(CertificateView.of(obj).problem() is None for obj in objects)
    assert len(judged) == 5000
    for obj in objects:
        spec_module.forget(obj["metadata"]["uid"])
    assert not any(f"uid-{i}" in spec_module._decoded_cache for i in range(5000))


@pytest.mark.parametrize(
    ("read_again_at", "kept"),
    [
        pytest.param(None, False, id="at-rest-dropped"),
        pytest.param(15.0, True, id="read-by-a-reconcile-kept"),
    ],
)
def test_a_view_nobody_reads_is_dropped_with_its_requirements(
    monkeypatch: pytest.MonkeyPatch, read_again_at: float | None, kept: bool
) -> None:
    # A controller at rest keeps no decoded Certificate (~1 KB each): the view and the
    # requirements memoised on its spec go two memo periods after the last read.
    now = [0.0]
    views: Generations[str, CertificateView] = Generations(idle_seconds=10.0, clock=lambda: now[0])
    memos: Generations[int, Any] = Generations(idle_seconds=10.0, clock=lambda: now[0])
    monkeypatch.setattr(spec_module, "_decoded_cache", views)
    monkeypatch.setattr(spec_module, "_requirements", memos)
    obj = certificate(dnsNames=["a.example.com"]).obj
    view = CertificateView.of(obj)
    assert view.spec is not None
    requirements = requirements_of(view.spec)
    for at in (11.0, 15.0, 22.0):
        now[0] = at
        if at == read_again_at:
            assert requirements_of(CertificateView.of(obj).spec) is requirements  # type: ignore[arg-type]
        views.turn_if_due()
        memos.turn_if_due()
    again = CertificateView.of(obj)
    assert (again is view) is kept
    assert again == view  # decoded afresh, the same content
    assert len(memos) == (1 if kept else 0)
