"""Compare what was requested or issued with what the spec asks for.

Owns: `csr_violations` (the CSR half of cert-manager's RequestMatchesSpec: names, subject)
and `certificate_alt_names_violations` (cert-manager's deliberately loose
FuzzyX509AltNamesMatchSpec, used when the CertificateRequest is gone). Both return the
names of the spec fields that differ, as cert-manager does ("spec.dnsNames", ...); and
`same_multiset`, the order-insensitive list comparison both use.
Must not: compare usages or the subject of an *issued* certificate: ACME CAs rewrite both
(Let's Encrypt drops the subject and sets its own usages), so doing so would reissue forever.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from certmgr.pki.csr import ParsedCSR, name_rdns
from certmgr.pki.errors import PKIError
from certmgr.pki.requirements import CertificateRequirements, literal_subject_name

_SUBJECT_FIELDS = (
    ("organizations", "spec.subject.organizations"),
    ("countries", "spec.subject.countries"),
    ("localities", "spec.subject.localities"),
    ("organizational_units", "spec.subject.organizationalUnits"),
    ("postal_codes", "spec.subject.postalCodes"),
    ("provinces", "spec.subject.provinces"),
    ("street_addresses", "spec.subject.streetAddresses"),
)


def csr_violations(csr: ParsedCSR, requirements: CertificateRequirements) -> tuple[str, ...]:
    """Spec fields whose value differs from the CSR (order-insensitive, duplicates count)."""
    violations: list[str] = []
    if not ip_lists_equal(csr.ip_addresses, requirements.ip_addresses):
        violations.append("spec.ipAddresses")
    if not same_multiset(csr.uris, requirements.uris):
        violations.append("spec.uris")
    if not same_multiset(csr.emails, requirements.emails):
        violations.append("spec.emailAddresses")
    if not same_multiset(csr.dns_names, requirements.dns_names):
        violations.append("spec.dnsNames")
    if requirements.literal_subject:
        # The whole DN as written: attribute order and grouping are part of it.
        if not _literal_subject_matches(csr, requirements.literal_subject):
            violations.append("spec.literalSubject")
        return tuple(violations)
    if csr.common_name != requirements.common_name:
        violations.append("spec.commonName")
    if csr.subject.serial_number != requirements.subject.serial_number:
        violations.append("spec.subject.serialNumber")
    for attribute, name in _SUBJECT_FIELDS:
        wanted = getattr(requirements.subject, attribute)
        if not same_multiset(getattr(csr.subject, attribute), wanted):
            violations.append(name)
    return tuple(violations)


def _literal_subject_matches(csr: ParsedCSR, literal_subject: str) -> bool:
    """RDN by RDN in order, each attribute by type and value: not by the DER, whose string
    types differ between writers (Go, so cert-manager, writes PrintableString where
    cryptography writes UTF8String), so a request cert-manager made still matches."""
    try:
        return name_rdns(literal_subject_name(literal_subject)) == csr.subject_rdns
    except PKIError:
        return False


class IssuedNames(Protocol):
    """The names of an issued certificate (a ``CertificateInfo`` or a Secret's summary)."""

    @property
    def common_name(self) -> str: ...
    @property
    def dns_names(self) -> tuple[str, ...]: ...
    @property
    def ip_addresses(self) -> tuple[str, ...]: ...
    @property
    def uris(self) -> tuple[str, ...]: ...
    @property
    def emails(self) -> tuple[str, ...]: ...


def certificate_alt_names_violations(
    info: IssuedNames, requirements: CertificateRequirements
) -> tuple[str, ...]:
    """Loose check of an issued certificate's names against the spec.

    Names may move freely between commonName and dnsNames (CAs promote one to the other);
    IPs, URIs and emails must match exactly (order-insensitive).
    """
    violations: list[str] = []
    common_name = requirements.effective_common_name
    expected = set(requirements.dns_names) | ({common_name} if common_name else set())
    actual = set(info.dns_names) | ({info.common_name} if info.common_name else set())
    if expected != actual:
        cn_ok = (not common_name or common_name in actual) and (
            not info.common_name or info.common_name in expected
        )
        if not cn_ok:
            violations.append("spec.commonName")
        if not (set(requirements.dns_names) <= actual and set(info.dns_names) <= expected):
            violations.append("spec.dnsNames")
    if not ip_lists_equal(info.ip_addresses, requirements.ip_addresses):
        violations.append("spec.ipAddresses")
    if not same_multiset(info.uris, requirements.uris):
        violations.append("spec.uris")
    if not same_multiset(info.emails, requirements.emails):
        violations.append("spec.emailAddresses")
    return tuple(violations)


def ip_lists_equal(a: Iterable[str], b: Iterable[str]) -> bool:
    """Equal as multisets of addresses, so "::ffff:0:1" style spellings compare by value."""
    return same_multiset(map(_ip, a), map(_ip, b))


def _ip(text: str) -> str:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text  # unparsable: compare literally, and it will differ from any real IP


def same_multiset(a: Iterable[str], b: Iterable[str]) -> bool:
    """Equal as multisets (order-insensitive, duplicates count). Nearly always both empty
    or in the same order: comparing the sequences answers those without building two
    Counters (the policies ask ~10 times a reconcile)."""
    first, second = tuple(a), tuple(b)
    if first == second:
        return True
    return len(first) == len(second) and Counter(first) == Counter(second)
