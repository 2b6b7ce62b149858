"""A cached managed Secret is the object as decoded to every reader and writer, and keeps
the summary of its certificate and key from the first read on."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from certmgr.pki.certificates import encode_pem
from certmgr.pki.keys import encode_private_key, generate_private_key
from certmgr.pki.summary import EMPTY, summarise
from certmgr.runtime.informer_secrets import ManagedSecret, managed_secret, secret_summary

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _pair() -> tuple[bytes, bytes]:
    key = generate_private_key(algorithm="ECDSA")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    return encode_pem([certificate]), encode_private_key(key)


def _secret(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app-tls", "namespace": "default", "resourceVersion": "3"},
        "type": "kubernetes.io/tls",
        "data": data,
    }


def test_a_managed_secret_reads_and_writes_as_the_object_it_came_from() -> None:
    certificate_pem, key_pem = _pair()
    raw = _secret(
        {
            "tls.crt": base64.b64encode(certificate_pem).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
        }
    )

    cached = managed_secret(copy.deepcopy(raw))
    summary = secret_summary(cached)

    assert isinstance(cached, ManagedSecret)
    assert cached == raw
    assert json.dumps(cached, sort_keys=True) == json.dumps(raw, sort_keys=True)
    assert type(copy.deepcopy(dict(cached))) is dict
    assert secret_summary(cached) is summary  # parsed once, kept with the object
    assert summary == summarise(certificate_pem, key_pem)
    assert secret_summary(raw) == summary  # a Secret from the API: the same summary


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="no-data"),
        pytest.param({"tls.crt": "not base64!", "tls.key": "%%"}, id="undecodable"),
        pytest.param({"tls.crt": "", "tls.key": None}, id="empty-values"),
    ],
)
def test_what_does_not_decode_summarises_as_nothing(data: dict[str, Any]) -> None:
    assert secret_summary(managed_secret(_secret(data))) == EMPTY
