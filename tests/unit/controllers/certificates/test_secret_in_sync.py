"""``in_sync``: a Secret that re-building would leave unchanged is recognised from its
summary alone, and it never says "in sync" where ``build_secret`` would change something."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from certmgr.api.certificates import CertificateSpec
from certmgr.controllers.certificates.secretdata import Issued, build_secret, in_sync
from certmgr.pki.keys import encode_private_key, parse_private_key
from certmgr.runtime.informer_secrets import managed_secret, secret_summary

from .helpers import certificate, leaf

Secret = dict[str, Any]


def _spec(**fields: Any) -> CertificateSpec:
    spec = certificate(**fields).spec
    assert spec is not None
    return spec


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _written(spec: CertificateSpec, *, ca: bytes = b"", owned: bool = False) -> Secret:
    key, pem = leaf(organizations=("Example",), emails=("a@example.com",))
    return build_secret(
        None,
        namespace="default",
        certificate_name="web",
        spec=spec,
        issued=Issued(key, pem, ca),
        certificate_uid="u-1",
        owned=owned,
    )


def _changed(change: Callable[[Secret], None]) -> Callable[[Secret], Secret]:
    def apply(secret: Secret) -> Secret:
        secret = copy.deepcopy(secret)
        change(secret)
        return secret

    return apply


def _pkcs8_key(secret: Secret) -> None:
    key = parse_private_key(base64.b64decode(secret["data"]["tls.key"]))
    secret["data"]["tls.key"] = _b64(encode_private_key(key, encoding="PKCS8"))


CASES = [
    pytest.param({}, {}, _changed(lambda s: None), True, id="as-written"),
    pytest.param(
        {}, {}, _changed(lambda s: s["data"].update(extra="bWluZQ==")), True, id="foreign-key-kept"
    ),
    pytest.param(
        {},
        {},
        _changed(lambda s: s["metadata"]["labels"].update(app="x")),
        True,
        id="foreign-label-kept",
    ),
    pytest.param(
        {}, {"ca": b"-----BEGIN CERTIFICATE-----\n"}, _changed(lambda s: None), True, id="with-ca"
    ),
    pytest.param(
        {}, {}, _changed(lambda s: s["data"].update({"ca.crt": ""})), False, id="empty-ca-removed"
    ),
    pytest.param({}, {}, _changed(_pkcs8_key), False, id="key-in-another-encoding"),
    pytest.param(
        {"privateKey": {"encoding": "PKCS8"}},
        {},
        _changed(lambda s: None),
        False,
        id="spec-wants-pkcs8",
    ),
    pytest.param(
        {"secretTemplate": {"labels": {"team": "a"}}},
        {},
        _changed(lambda s: None),
        False,
        id="template-label-added",
    ),
    pytest.param(
        {},
        {},
        _changed(lambda s: s["metadata"]["annotations"].pop("cert-manager.io/alt-names")),
        False,
        id="annotation-lost",
    ),
    pytest.param(
        {},
        {},
        _changed(lambda s: s["metadata"]["labels"].pop("controller.cert-manager.io/fao")),
        False,
        id="label-lost",
    ),
    pytest.param(
        {},
        {},
        _changed(lambda s: s["data"].update({"key.der": "c3RhbGU="})),
        False,
        id="unrequested-output",
    ),
    pytest.param(
        {"additionalOutputFormats": [{"type": "DER"}]},
        {},
        _changed(lambda s: None),
        False,
        id="output-wanted",
    ),
    pytest.param(
        {},
        {"owned": True},
        _changed(lambda s: s["metadata"].pop("ownerReferences")),
        False,
        id="owner-ref-lost",
    ),
    pytest.param({}, {"owned": True}, _changed(lambda s: None), True, id="owned"),
    pytest.param({}, {}, _changed(lambda s: s.pop("type")), False, id="no-type"),
]


@pytest.mark.parametrize("cached", [False, True], ids=["from-the-api", "cached-without-pem"])
@pytest.mark.parametrize(("spec_fields", "written_with", "change", "expected"), CASES)
def test_in_sync_only_where_rebuilding_changes_nothing(
    cached: bool,
    spec_fields: dict[str, Any],
    written_with: dict[str, Any],
    change: Callable[[Secret], Secret],
    expected: bool,
) -> None:
    spec = _spec(**spec_fields)
    owned = bool(written_with.get("owned"))
    existing = change(_written(_spec(), ca=written_with.get("ca", b""), owned=owned))
    values = {k: base64.b64decode(v) for k, v in existing["data"].items()}
    rebuilt = build_secret(
        existing,
        namespace="default",
        certificate_name="web",
        spec=spec,
        issued=Issued(
            parse_private_key(values["tls.key"]), values["tls.crt"], values.get("ca.crt", b"")
        ),
        certificate_uid="u-1",
        owned=owned,
    )

    judged = managed_secret(copy.deepcopy(existing)) if cached else existing
    before = copy.deepcopy(dict(judged))
    found = in_sync(
        judged,
        secret_summary(judged),
        namespace="default",
        certificate_name="web",
        spec=spec,
        certificate_uid="u-1",
        owned=owned,
    )

    assert found is expected
    assert dict(judged) == before, "the judged Secret (a cached one) is left as it was"
    if found:
        assert rebuilt == existing
