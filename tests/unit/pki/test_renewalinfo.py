"""ARI CertIDs (RFC 9773 section 4.1) and the renewal time picked inside a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.pki.renewalinfo import ari_cert_id, time_in_window

# RFC 9773 section 4.1's example: keyIdentifier 69:88:5B:...:C8:D4 and serial
# 0x87654321 (DER content octets 00 87 65 43 21).
RFC_KEY_ID = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
RFC_SERIAL = 0x87654321
START = datetime(2026, 3, 1, tzinfo=UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate(*, serial: int, key_id: bytes | None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(serial)
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=90))
    )
    if key_id is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(key_id, None, None), critical=False
        )
    return builder.sign(_KEY, hashes.SHA256())


@pytest.mark.parametrize(
    ("serial", "key_id", "expected"),
    [
        pytest.param(
            RFC_SERIAL, RFC_KEY_ID, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", id="rfc-example"
        ),
        pytest.param(0x7F, RFC_KEY_ID, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.fw", id="no-sign-byte"),
        pytest.param(0x80, RFC_KEY_ID, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIA", id="sign-byte"),
        pytest.param(RFC_SERIAL, None, None, id="no-aki"),
    ],
)
def test_cert_id(serial: int, key_id: bytes | None, expected: str | None) -> None:
    assert ari_cert_id(_certificate(serial=serial, key_id=key_id)) == expected


@pytest.mark.parametrize(
    ("end", "seed"),
    [
        pytest.param(START, b"a", id="empty-window"),
        pytest.param(START + timedelta(days=2), b"a", id="two-days"),
        pytest.param(START + timedelta(seconds=1), b"b", id="one-second"),
    ],
)
def test_time_in_window_is_inside_and_stable(end: datetime, seed: bytes) -> None:
    picked = time_in_window(START, end, seed=seed)
    assert START <= picked <= end
    assert picked == time_in_window(START, end, seed=seed)


def test_time_in_window_spreads_certificates() -> None:
    end = START + timedelta(days=1)
    picks = [time_in_window(START, end, seed=str(i).encode()) for i in range(200)]
    # Uniform over 24 hours: all four quarters are used.
    quarters = {int((p - START) / timedelta(hours=6)) for p in picks}
    assert quarters == {0, 1, 2, 3}


def test_a_window_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        time_in_window(START, START - timedelta(seconds=1), seed=b"")
