"""Certificate signing requests: built from `CertificateRequirements`, parsed back for checks.

Owns: the CSR layout cert-manager produces (subject attributes in Go's `pkix.Name` order,
SANs critical only when the subject is empty, KeyUsage critical and ExtendedKeyUsage
encoded unless `encodeUsagesInRequest` is false, BasicConstraints CA:TRUE for `isCA`) and
the signature hash cert-manager picks for the key (SHA-256/384/512 by RSA size or curve,
none for Ed25519), and `ParsedCSR`, the view the policies compare against a spec.
Must not: do I/O or embed key material in errors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from certmgr.frozen import quick_init
from certmgr.memo import memo, pem_digest
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import (
    PrivateKey,
    PublicKey,
    key_algorithm_and_size,
    key_kind,
    public_key_fingerprint,
)
from certmgr.pki.requirements import (
    EMPTY_SUBJECT,
    CertificateRequirements,
    X509Subject,
    literal_subject_name,
)
from certmgr.pki.usages import resolve_usages, usage_names
from certmgr.strings import share

# A distinguished name as compared: its RDNs in order, each its (OID, value) attributes in
# a canonical order (an RDN is a set).
RDNs = tuple[tuple[tuple[str, str | bytes], ...], ...]

# Go's pkix.Name.ToRDNSequence order; every value of one type shares one (multi-valued) RDN.
_SUBJECT_ORDER: Final = (
    ("countries", NameOID.COUNTRY_NAME),
    ("provinces", NameOID.STATE_OR_PROVINCE_NAME),
    ("localities", NameOID.LOCALITY_NAME),
    ("street_addresses", NameOID.STREET_ADDRESS),
    ("postal_codes", NameOID.POSTAL_CODE),
    ("organizations", NameOID.ORGANIZATION_NAME),
    ("organizational_units", NameOID.ORGANIZATIONAL_UNIT_NAME),
)


@quick_init
@dataclass(frozen=True, slots=True)
class ParsedCSR:
    """What a CSR asks for, in the same vocabulary as `CertificateRequirements`.

    `key_usages` is None when the CSR carries no usage extensions at all (cert-manager's
    `encodeUsagesInRequest: false`), otherwise cert-manager usage names. The public key is
    kept by its `public_key_fingerprint` and the subject DN by its `subject_rdns`, not as
    cryptography's objects (a key ~2 KB of native memory, a `Name` ~0.8 KB; one parse is
    kept for every Certificate's current request). The signature is not verified here:
    comparing a CSR with a spec or a key does not need it, and a signer verifies it before
    it signs (`signing`).
    """

    common_name: str
    subject: X509Subject
    subject_rdns: RDNs
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    usages: tuple[str, ...] | None
    is_ca: bool | None
    public_key_fingerprint: bytes


_Hash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

# cert-manager's `signatureAlgorithm` values: the key algorithm each needs, and its hash.
_SIGNATURE_ALGORITHMS: Final[dict[str, tuple[str, type[_Hash] | None]]] = {
    "SHA256WithRSA": ("RSA", hashes.SHA256),
    "SHA384WithRSA": ("RSA", hashes.SHA384),
    "SHA512WithRSA": ("RSA", hashes.SHA512),
    "ECDSAWithSHA256": ("ECDSA", hashes.SHA256),
    "ECDSAWithSHA384": ("ECDSA", hashes.SHA384),
    "ECDSAWithSHA512": ("ECDSA", hashes.SHA512),
    "PureEd25519": ("Ed25519", None),
}


def check_signature_algorithm(requirements: CertificateRequirements) -> None:
    """Raises `PKIError` when `signatureAlgorithm` does not fit the spec's key algorithm."""
    name = requirements.signature_algorithm
    if not name:
        return
    wanted = _SIGNATURE_ALGORITHMS.get(name)
    if wanted is None:
        raise PKIError(f"unsupported signatureAlgorithm {name!r}")
    if wanted[0] != requirements.key_spec.algorithm:
        raise PKIError(
            f"signatureAlgorithm {name} needs an {wanted[0]} key, "
            f"not {requirements.key_spec.algorithm}"
        )


def _csr_hash(key: PrivateKey, requirements: CertificateRequirements) -> _Hash | None:
    wanted = _SIGNATURE_ALGORITHMS.get(requirements.signature_algorithm)
    if wanted is None or key_algorithm_and_size(key)[0] != wanted[0]:
        # No choice made, or a key of another kind (spec checks probe with an Ed25519
        # key; a real mismatch was refused by check_signature_algorithm).
        return signature_hash(key)
    return wanted[1]() if wanted[1] is not None else None


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """cert-manager's choice: RSA ≥4096 SHA-512, ≥3072 SHA-384, else SHA-256; ECDSA by curve."""
    algorithm, size = key_algorithm_and_size(key)
    if algorithm == "Ed25519":
        return None
    if algorithm == "RSA":
        if size >= 4096:
            return hashes.SHA512()
        return hashes.SHA384() if size >= 3072 else hashes.SHA256()
    if size == 521:
        return hashes.SHA512()
    return hashes.SHA384() if size == 384 else hashes.SHA256()


def build_subject(requirements: CertificateRequirements) -> x509.Name:
    """The subject DN, in the order and grouping Go (and so cert-manager) writes it, or
    `literalSubject` exactly as written."""
    if requirements.literal_subject:
        return literal_subject_name(requirements.literal_subject)
    try:
        return x509.Name(_subject_rdns(requirements))
    except ValueError as exc:  # e.g. a country that is not two letters
        raise PKIError(f"invalid subject: {exc}") from None


def _subject_rdns(requirements: CertificateRequirements) -> list[x509.RelativeDistinguishedName]:
    rdns: list[x509.RelativeDistinguishedName] = []
    subject = requirements.subject
    for attribute, oid in _SUBJECT_ORDER:
        values = tuple(dict.fromkeys(getattr(subject, attribute)))  # de-duplicated, ordered
        if values:
            rdns.append(
                x509.RelativeDistinguishedName([x509.NameAttribute(oid, v) for v in values])
            )
    if requirements.common_name:
        rdns.append(_single_rdn(NameOID.COMMON_NAME, requirements.common_name))
    if subject.serial_number:
        rdns.append(_single_rdn(NameOID.SERIAL_NUMBER, subject.serial_number))
    return rdns


def build_sans(requirements: CertificateRequirements) -> list[x509.GeneralName]:
    """SubjectAltName entries in cert-manager's order: emails, DNS names, URIs, IPs."""
    try:
        names: list[x509.GeneralName] = [x509.RFC822Name(e) for e in requirements.emails]
        names += [x509.DNSName(d) for d in requirements.dns_names]
        names += [x509.UniformResourceIdentifier(u) for u in requirements.uris]
    except ValueError as exc:  # e.g. a non-ASCII DNS name that is not an A-label
        raise PKIError(f"invalid subject alternative name: {exc}") from None
    for ip in requirements.ip_addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PKIError(f"failed to parse IP address {ip!r}") from None
    return names


def usage_extensions(
    requirements: CertificateRequirements, *, usages: bool = True
) -> list[tuple[x509.ExtensionType, bool]]:
    """(extension, critical) as cert-manager encodes them: KeyUsage (critical) and
    ExtendedKeyUsage when `usages`, then BasicConstraints (critical) for a CA."""
    extensions: list[tuple[x509.ExtensionType, bool]] = []
    if usages:
        resolved = resolve_usages(requirements.usages, is_ca=requirements.is_ca)
        key_usage = resolved.key_usage_extension()
        if key_usage is not None:
            extensions.append((key_usage, True))
        if resolved.extended_key_usages:
            eku = x509.ExtendedKeyUsage(list(resolved.extended_key_usages))
            extensions.append((eku, False))
    if requirements.is_ca:
        extensions.append((x509.BasicConstraints(ca=True, path_length=None), True))
    return extensions


def build_csr(key: PrivateKey, requirements: CertificateRequirements) -> bytes:
    """A PEM CSR for `requirements`, signed by `key`. Raises `PKIError` on invalid input."""
    check_signature_algorithm(requirements)
    sans = build_sans(requirements)
    subject = build_subject(requirements)
    if not requirements.effective_common_name and not sans:
        raise PKIError(
            "at least one of commonName, dnsNames, emailAddresses, ipAddresses or uris must be set"
        )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        # RFC 5280 4.2.1.6: the SAN extension must be critical when the subject is empty.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans), critical=len(subject) == 0
        )
    usages = requirements.encode_usages_in_request is not False
    for extension, critical in usage_extensions(requirements, usages=usages):
        builder = builder.add_extension(extension, critical=critical)
    try:
        csr = builder.sign(key, _csr_hash(key, requirements))
    except ValueError as exc:  # values the encoder refuses (non-ASCII DNS name, ...)
        raise PKIError(f"failed to encode CSR: {exc}") from None
    return csr.public_bytes(serialization.Encoding.PEM)


def parse_csr(pem: bytes) -> ParsedCSR:
    """Parse a PEM CSR; raises `PKIError` when it is not one.

    Memoized by the PEM bytes: the policies parse the current CertificateRequest's CSR
    on every reconcile of every Certificate (~6 % of the controller's CPU), and a CSR
    never changes. The result is immutable (frozen, tuples, a public key object), so
    sharing it is safe; garbage is not cached (the `PKIError` is raised every time).
    """
    return _parse_csr(bytes(pem))


def read_csr(pem: bytes) -> ParsedCSR:
    """`parse_csr` without adding to its memo (same result, same errors): for a caller
    that keeps the result itself; a CSR the memo already holds (the request's, parsed by
    its issuer's controller) is not parsed again."""
    pem = bytes(pem)
    found = _parse_csr.peek(pem)
    return found if found is not None else _read_csr(pem)


def _read_csr(pem: bytes) -> ParsedCSR:
    try:
        csr = x509.load_pem_x509_csr(pem)
        public_key = csr.public_key()
    except ValueError:
        raise PKIError("error decoding certificate request PEM block") from None
    kind = key_kind(public_key)  # by its class: an isinstance of the key ABCs is slow
    if kind is None or kind[1]:
        raise PKIError(f"unsupported CSR public key type: {type(public_key).__name__}")
    try:
        extensions = csr.extensions
    except ValueError:
        raise PKIError("error decoding certificate request extensions") from None
    # One pass over the extensions and one over the names: a lookup per kind walked them
    # four times each and raised ``ExtensionNotFound`` for every kind absent.
    sans, key_usage, eku, basic = _read_extensions(extensions)
    names = _Names.of(sans)
    subject, common_name = subject_and_common_name(csr.subject)
    return ParsedCSR(
        # Names shared: the cached Certificate's spec holds the same strings.
        common_name=share(common_name),
        subject=subject,
        subject_rdns=name_rdns(csr.subject),
        dns_names=tuple(map(share, names.dns)),
        ip_addresses=tuple(str(ip) for ip in names.ips),
        uris=tuple(names.uris),
        emails=tuple(names.emails),
        usages=usage_names(key_usage, list(eku) if eku else ())
        if key_usage is not None or eku is not None
        else None,
        is_ca=basic.ca if basic is not None else None,
        public_key_fingerprint=public_key_fingerprint(cast("PublicKey", public_key)),
    )


def _read_extensions(
    extensions: x509.Extensions,
) -> tuple[
    x509.SubjectAlternativeName | None,
    x509.KeyUsage | None,
    x509.ExtendedKeyUsage | None,
    x509.BasicConstraints | None,
]:
    """The first extension of each kind the view reads (``get_extension_for_class``'s)."""
    sans = key_usage = eku = basic = None
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.SubjectAlternativeName):
            sans = value if sans is None else sans
        elif isinstance(value, x509.KeyUsage):
            key_usage = value if key_usage is None else key_usage
        elif isinstance(value, x509.ExtendedKeyUsage):
            eku = value if eku is None else eku
        elif isinstance(value, x509.BasicConstraints):
            basic = value if basic is None else basic
    return sans, key_usage, eku, basic


IPAddressValue = (
    ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network
)


@dataclass(slots=True)
class _Names:
    """A SubjectAlternativeName's values of the types the view reads, each in order
    (``get_values_for_type``'s, from one pass)."""

    dns: list[str]
    ips: list[IPAddressValue]
    uris: list[str]
    emails: list[str]

    @classmethod
    def of(cls, sans: x509.SubjectAlternativeName | None) -> _Names:
        names = cls([], [], [], [])
        for name in sans or ():
            if isinstance(name, x509.DNSName):
                names.dns.append(name.value)
            elif isinstance(name, x509.IPAddress):
                names.ips.append(name.value)
            elif isinstance(name, x509.UniformResourceIdentifier):
                names.uris.append(name.value)
            elif isinstance(name, x509.RFC822Name):
                names.emails.append(name.value)
        return names


_parse_csr = memo(key=pem_digest)(_read_csr)


def name_rdns(name: x509.Name) -> RDNs:
    """``name`` as ``ParsedCSR.subject_rdns`` holds it: two are equal exactly when the
    `x509.Name`s are (RDN by RDN in order, each as a set of OID and value)."""
    return tuple(
        tuple(
            sorted(
                ((attribute.oid.dotted_string, attribute.value) for attribute in rdn),
                key=_attribute_order,
            )
        )
        for rdn in name.rdns
    )


def _attribute_order(attribute: tuple[str, str | bytes]) -> tuple[str, bool, str | bytes]:
    # Values of one OID compare only with values of their own type (str, or bytes).
    return attribute[0], type(attribute[1]) is bytes, attribute[1]


def subject_and_common_name(name: x509.Name) -> tuple[X509Subject, str]:
    """The `X509Subject` fields of a DN and its first commonName ("" without one), from
    one pass over the DN's attributes (a search per field walked it nine times)."""
    values: dict[x509.ObjectIdentifier, list[str]] = {}
    for attribute in name:
        values.setdefault(attribute.oid, []).append(str(attribute.value))
    common_names = values.get(NameOID.COMMON_NAME)
    if values.keys().isdisjoint(_SUBJECT_OIDS):  # one shared empty subject
        return EMPTY_SUBJECT, common_names[0] if common_names else ""
    serial_numbers = values.get(NameOID.SERIAL_NUMBER)
    subject = X509Subject(
        organizations=tuple(values.get(NameOID.ORGANIZATION_NAME, ())),
        countries=tuple(values.get(NameOID.COUNTRY_NAME, ())),
        organizational_units=tuple(values.get(NameOID.ORGANIZATIONAL_UNIT_NAME, ())),
        localities=tuple(values.get(NameOID.LOCALITY_NAME, ())),
        provinces=tuple(values.get(NameOID.STATE_OR_PROVINCE_NAME, ())),
        street_addresses=tuple(values.get(NameOID.STREET_ADDRESS, ())),
        postal_codes=tuple(values.get(NameOID.POSTAL_CODE, ())),
        serial_number=serial_numbers[0] if serial_numbers else "",
    )
    return subject, common_names[0] if common_names else ""


_SUBJECT_OIDS: Final = frozenset((*(oid for _, oid in _SUBJECT_ORDER), NameOID.SERIAL_NUMBER))


def _single_rdn(oid: x509.ObjectIdentifier, value: str) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, value)])
