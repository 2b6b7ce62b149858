"""cert-manager's key usage strings and their X.509 meaning.

Owns: the mapping from cert-manager usage names ("digital signature", "server auth",
"s/mime", ...) to KeyUsage bits and ExtendedKeyUsage OIDs, the default usages, and the
reverse mapping used to describe an issued certificate.
Must not: decide whether usages are *wanted* (that is the policies' job).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from certmgr.pki.errors import PKIError

DEFAULT_USAGES: Final = ("digital signature", "key encipherment")

# Names of the KeyUsage flags as cryptography's x509.KeyUsage constructor spells them.
KEY_USAGE_FLAGS: Final = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)

_KEY_USAGES: Final[dict[str, str]] = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}

_EXT_KEY_USAGES: Final[dict[str, ObjectIdentifier]] = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": ObjectIdentifier("2.16.840.1.113730.4.1"),
}

# The reverse maps pick one canonical name per bit/OID ("digital signature", not "signing").
_FLAG_NAMES: Final[dict[str, str]] = {
    "digital_signature": "digital signature",
    "content_commitment": "content commitment",
    "key_encipherment": "key encipherment",
    "key_agreement": "key agreement",
    "data_encipherment": "data encipherment",
    "key_cert_sign": "cert sign",
    "crl_sign": "crl sign",
    "encipher_only": "encipher only",
    "decipher_only": "decipher only",
}
_OID_NAMES: Final[dict[ObjectIdentifier, str]] = {
    oid: name for name, oid in _EXT_KEY_USAGES.items() if name != "s/mime"
}

ALL_USAGES: Final = frozenset(_KEY_USAGES) | frozenset(_EXT_KEY_USAGES)


@dataclass(frozen=True, slots=True)
class ResolvedUsages:
    """Usages split into KeyUsage flag names and ExtendedKeyUsage OIDs (first-seen order)."""

    key_usage_flags: frozenset[str]
    extended_key_usages: tuple[ObjectIdentifier, ...]

    def key_usage_extension(self) -> x509.KeyUsage | None:
        """The KeyUsage extension value, or None when no bit is set."""
        if not self.key_usage_flags:
            return None
        return x509.KeyUsage(**{flag: flag in self.key_usage_flags for flag in KEY_USAGE_FLAGS})


def resolve_usages(usages: Iterable[str], *, is_ca: bool) -> ResolvedUsages:
    """cert-manager's KeyUsagesForCertificateOrCertificateRequest.

    An empty list means the default usages; `is_ca` adds `cert sign`. Unknown names raise
    `PKIError` listing them (they are spec values, not secrets).
    """
    wanted = tuple(usages) or DEFAULT_USAGES
    flags: set[str] = {"key_cert_sign"} if is_ca else set()
    ekus: list[ObjectIdentifier] = []
    unknown: list[str] = []
    for usage in wanted:
        if usage in _KEY_USAGES:
            flags.add(_KEY_USAGES[usage])
        elif usage in _EXT_KEY_USAGES:
            oid = _EXT_KEY_USAGES[usage]
            if oid not in ekus:
                ekus.append(oid)
        else:
            unknown.append(usage)
    if unknown:
        raise PKIError(f"unknown key usages: {unknown}")
    # encipher_only/decipher_only are only meaningful with key_agreement; cryptography
    # enforces that, so reject it here with a readable message instead of a ValueError.
    if flags & {"encipher_only", "decipher_only"} and "key_agreement" not in flags:
        raise PKIError("'encipher only' and 'decipher only' require 'key agreement'")
    return ResolvedUsages(key_usage_flags=frozenset(flags), extended_key_usages=tuple(ekus))


def usage_names(
    key_usage: x509.KeyUsage | None, extended: Iterable[ObjectIdentifier]
) -> tuple[str, ...]:
    """Describe extensions with cert-manager usage names (KeyUsage bits first, then EKUs)."""
    names: list[str] = []
    if key_usage is not None:
        for flag in KEY_USAGE_FLAGS:
            # encipher_only/decipher_only raise unless key_agreement is set.
            if flag in ("encipher_only", "decipher_only") and not key_usage.key_agreement:
                continue
            if getattr(key_usage, flag):
                names.append(_FLAG_NAMES[flag])
    for oid in extended:
        names.append(_OID_NAMES.get(oid, oid.dotted_string))
    found = tuple(names)
    # One tuple for each distinct list (a parsed CSR or leaf is kept per Certificate).
    kept = _USAGE_LISTS.get(found)
    if kept is None and len(_USAGE_LISTS) < _USAGE_LISTS_MAX:
        _USAGE_LISTS[found] = kept = found
    return kept or found


_USAGE_LISTS_MAX: Final = 1024
_USAGE_LISTS: dict[tuple[str, ...], tuple[str, ...]] = {}
