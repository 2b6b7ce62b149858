"""What a certificate must look like: the PKI-relevant part of a Certificate spec.

Owns: `X509Subject` and `CertificateRequirements`, plain frozen values that the CSR builder,
the certificate matcher and the policies share. The controllers fill them from the typed
API objects, so this package stays independent of `certmgr.api`.
Must not: apply defaults that cert-manager applies elsewhere (for example the default
usages are applied when a CSR is built, not here), because the policies compare the spec
*as written* with what a CertificateRequest recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from certmgr.frozen import quick_init
from certmgr.memo import memo
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import KeySpec


@quick_init
@dataclass(frozen=True, slots=True)
class X509Subject:
    """cert-manager's `spec.subject` (everything but commonName, which has its own field)."""

    organizations: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()
    localities: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    street_addresses: tuple[str, ...] = ()
    postal_codes: tuple[str, ...] = ()
    serial_number: str = ""


# The subject without attributes, shared by what keeps one (a Secret's summary).
EMPTY_SUBJECT: Final = X509Subject()


@quick_init
@dataclass(frozen=True, slots=True)
class CertificateRequirements:
    """The fields of a Certificate spec that end up in the CSR or the issued certificate.

    `usages` is the spec's list as written (empty means "cert-manager's default",
    `digital signature` + `key encipherment`, applied when the CSR is built).
    `encode_usages_in_request` is cert-manager's `encodeUsagesInRequest` (None == true).
    """

    common_name: str = ""
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    subject: X509Subject = field(default_factory=X509Subject)
    usages: tuple[str, ...] = ()
    is_ca: bool = False
    key_spec: KeySpec = field(default_factory=KeySpec)
    duration: timedelta | None = None
    encode_usages_in_request: bool | None = None
    # cert-manager's `literalSubject`: an RFC 4514 DN used as the CSR's subject as written
    # (the CRD's rules keep it exclusive with commonName and subject).
    literal_subject: str = ""
    # cert-manager's `signatureAlgorithm` for the CSR ("" = the key's default hash).
    signature_algorithm: str = ""

    @property
    def effective_common_name(self) -> str:
        """`commonName`, or the CN inside `literalSubject` ("" if it has none or is invalid:
        the CSR build reports an invalid literal subject)."""
        if self.common_name or not self.literal_subject:
            return self.common_name
        try:
            name = literal_subject_name(self.literal_subject)
        except PKIError:
            return ""
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else ""


# cert-manager's literalSubject attribute names that cryptography's parser lacks.
_LITERAL_ATTRIBUTE_NAMES = {"SERIALNUMBER": NameOID.SERIAL_NUMBER}


@memo()
def literal_subject_name(text: str) -> x509.Name:
    """The DN of a `literalSubject` string (RFC 4514: most specific RDN first)."""
    try:
        return x509.Name.from_rfc4514_string(text, _LITERAL_ATTRIBUTE_NAMES)
    except ValueError as exc:
        detail = str(exc) or "not an RFC 4514 distinguished name"
        raise PKIError(f"invalid literalSubject: {detail}") from None
