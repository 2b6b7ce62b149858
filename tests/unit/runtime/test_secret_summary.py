"""A cached managed Secret: a certificate's Secret without its PEM, with the summary and
what the decisions need of the values it dropped; the Secrets signers read, whole."""

from __future__ import annotations

import base64
import copy
import gc
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from certmgr.pki.certificates import encode_pem
from certmgr.pki.keys import encode_private_key, generate_private_key
from certmgr.pki.summary import EMPTY, summarise
from certmgr.runtime.informer_secrets import (
    ManagedSecret,
    SharedMappings,
    Trimmed,
    certificate_digest,
    managed_secret,
    secret_summary,
    trimmed,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _pair(*, is_ca: bool) -> tuple[bytes, bytes]:
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
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
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


def test_a_certificates_secret_is_cached_without_its_pem_and_with_its_summary() -> None:
    certificate_pem, key_pem = _pair(is_ca=False)
    raw = _secret(
        {
            "tls.crt": base64.b64encode(certificate_pem).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
            "ca.crt": base64.b64encode(b"ca").decode(),
        }
    )

    cached = managed_secret(copy.deepcopy(raw))

    assert isinstance(cached, ManagedSecret)
    assert cached == {**raw, "data": {"ca.crt": raw["data"]["ca.crt"]}}
    assert json.loads(json.dumps(cached)) == cached
    assert type(copy.deepcopy(dict(cached))) is dict
    assert secret_summary(cached) == summarise(certificate_pem, key_pem) == secret_summary(raw)
    assert trimmed(cached) == Trimmed(
        has_data=True, filled=frozenset({"tls.crt", "tls.key"}), canonical=True
    )
    assert certificate_digest(cached) == certificate_digest(raw)
    assert certificate_digest(cached) == hashlib.sha256(certificate_pem).digest()
    assert trimmed(raw) is None


@pytest.mark.parametrize(
    ("labels", "is_ca", "extra"),
    [
        pytest.param(
            {"cert-manager.io/next-private-key": "true"}, False, {}, id="next-private-key"
        ),
        pytest.param({}, True, {}, id="ca-keypair"),
        pytest.param({}, False, {"keystore.p12": "c3RvcmU="}, id="keystore"),
        pytest.param({}, False, {"tls-combined.pem": "cGVt"}, id="output-format"),
    ],
)
def test_secrets_a_signer_or_a_rebuild_reads_are_cached_whole(
    labels: dict[str, str], is_ca: bool, extra: dict[str, str]
) -> None:
    certificate_pem, key_pem = _pair(is_ca=is_ca)
    raw = _secret(
        {
            "tls.crt": base64.b64encode(certificate_pem).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
            **extra,
        }
    )
    raw["metadata"]["labels"] = labels

    cached = managed_secret(copy.deepcopy(raw))

    assert cached == raw
    assert trimmed(cached) is None
    assert secret_summary(cached) is secret_summary(cached)  # parsed once, kept
    assert secret_summary(cached) == summarise(certificate_pem, key_pem)


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


def test_a_trimmed_secret_keeps_the_metadata_decisions_read_and_shares_what_repeats() -> None:
    certificate_pem, key_pem = _pair(is_ca=False)

    def arriving(name: str) -> dict[str, Any]:
        raw = _secret(
            {
                "tls.crt": base64.b64encode(certificate_pem).decode(),
                "tls.key": base64.b64encode(key_pem).decode(),
                "ca.crt": base64.b64encode(b"ca").decode(),
            }
        )
        raw["metadata"].update(
            name=name,
            uid=f"uid-{name}",
            creationTimestamp="2026-01-01T00:00:00Z",
            labels={"controller.cert-manager.io/fao": "true"},
            annotations={"cert-manager.io/certificate-name": name},
            ownerReferences=[{"kind": "Certificate", "name": name, "uid": "c"}],
            finalizers=["example.com/keep"],
        )
        # As a JSON decoder gives them: equal strings, distinct objects.
        return json.loads(json.dumps(raw))  # type: ignore[no-any-return]

    one, other = managed_secret(arriving("one")), managed_secret(arriving("other"))

    assert one["metadata"] == {
        "name": "one",
        "namespace": "default",
        "resourceVersion": "3",
        "labels": {"controller.cert-manager.io/fao": "true"},
        "annotations": {"cert-manager.io/certificate-name": "one"},
        "ownerReferences": [{"kind": "Certificate", "name": "one", "uid": "c"}],
    }
    assert one["metadata"]["labels"] is other["metadata"]["labels"]
    assert one["data"] is other["data"]
    assert json.loads(json.dumps(one)) == one
    assert type(copy.deepcopy(dict(one["metadata"]["labels"]))) is dict
    assert trimmed(one) is trimmed(other)  # one instance per combination


def test_shared_mappings_forget_what_no_secret_holds() -> None:
    shared = SharedMappings()
    held = shared.get({"a": "1"})
    assert shared.get({"a": "1"}) is held
    assert shared.get({"b": "2"}) == {"b": "2"}  # dropped at once: nothing holds it
    gc.collect()

    assert len(shared) == 1
    assert shared.get({"a": [1]}) == {"a": [1]}  # only strings are shared


def test_a_secret_whose_certificate_does_not_parse_is_cached_whole() -> None:
    _, key_pem = _pair(is_ca=False)
    raw = _secret(
        {
            "tls.crt": base64.b64encode(b"not a certificate").decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
        }
    )

    cached = managed_secret(copy.deepcopy(raw))

    assert cached == raw
    assert trimmed(cached) is None
    assert secret_summary(cached).leaf is None
    assert certificate_digest(cached) == hashlib.sha256(b"not a certificate").digest()


def test_a_certificate_whose_subject_does_not_decode_is_cached_whole_not_raised() -> None:
    # cryptography loads a leaf whose subject is invalid UTF-8 and fails only when the
    # subject is read; the transform raised, and the Secrets informer's list failed and
    # retried for ever on one such Secret.
    certificate_pem, key_pem = _pair(is_ca=False)
    der = x509.load_pem_x509_certificate(certificate_pem).public_bytes(serialization.Encoding.DER)
    broken = encode_pem([x509.load_der_x509_certificate(der.replace(b"app", b"\xff\xfe\xff"))])
    raw = _secret(
        {
            "tls.crt": base64.b64encode(broken).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
        }
    )

    cached = managed_secret(copy.deepcopy(raw))

    assert cached == raw
    summary = secret_summary(cached)
    assert summary.leaf is None
    assert "corrupt certificate data" in summary.leaf_error
