"""ACME Renewal Information arithmetic (RFC 9773): the CertID and the renewal time in a window.

Owns ``ari_cert_id`` (base64url(AKI keyIdentifier) "." base64url(DER serial bytes), RFC
9773 section 4.1; ``cert_id`` from the two), ``time_in_window`` (a point uniform in the
CA's suggested window, derived from the certificate's bytes so every reconcile and restart
picks the same one; ``window_draw`` + ``time_at_draw`` for a caller that keeps only the
draw) and ``next_check_delay`` (the CA's Retry-After, bounded).
Must not: do I/O, read the clock or draw random numbers.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

# Retry-After is honoured within [1 minute, 1 day]: a CA answering "0" cannot make us
# loop, one answering "a month" cannot hide a mass revocation for that long. Without
# the header, RFC 9773 section 4.3.3 suggests six hours; after an error, one hour.
MIN_CHECK_DELAY: Final = timedelta(minutes=1)
MAX_CHECK_DELAY: Final = timedelta(days=1)
DEFAULT_CHECK_DELAY: Final = timedelta(hours=6)
ERROR_CHECK_DELAY: Final = timedelta(hours=1)


def ari_cert_id(certificate: x509.Certificate) -> str | None:
    """The certificate's ARI CertID, or None without an Authority Key Identifier."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return cert_id(aki, certificate.serial_number)


def cert_id(aki: x509.AuthorityKeyIdentifier | None, serial: int) -> str | None:
    """``ari_cert_id`` of a certificate with this Authority Key Identifier (None: none)
    and serial number."""
    if aki is None or not aki.key_identifier:
        return None
    # The INTEGER's DER content octets: big-endian two's complement, minimal length (a
    # serial with its top bit set gets a leading zero byte).
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return f"{_b64url(aki.key_identifier)}.{_b64url(serial_bytes)}"


def time_in_window(start: datetime, end: datetime, *, seed: bytes) -> datetime:
    """A time in [start, end], whole seconds, uniform over certificates (``seed`` is the
    certificate's bytes): chosen "once" without storing anything, like our jitter."""
    return time_at_draw(start, end, draw=window_draw(seed))


def window_draw(seed: bytes) -> int:
    """The 64-bit number ``time_in_window`` derives from ``seed``: all it needs of it."""
    return int.from_bytes(hashlib.sha256(b"ari\x00" + seed).digest()[:8], "big")


def time_at_draw(start: datetime, end: datetime, *, draw: int) -> datetime:
    """``time_in_window`` for a seed whose ``window_draw`` is ``draw``."""
    if end < start:
        raise ValueError("the window ends before it starts")
    span = int((end - start).total_seconds())
    offset = draw % (span + 1)
    picked = start.replace(microsecond=0) + timedelta(seconds=offset)
    return min(max(picked, start), end)


def next_check_delay(retry_after: float | None, *, failed: bool = False) -> timedelta:
    """How long until renewal information is asked for again: ``retry_after`` (seconds,
    None when the CA did not say) within [MIN_CHECK_DELAY, MAX_CHECK_DELAY]."""
    if retry_after is None:
        return ERROR_CHECK_DELAY if failed else DEFAULT_CHECK_DELAY
    return min(max(timedelta(seconds=retry_after), MIN_CHECK_DELAY), MAX_CHECK_DELAY)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
