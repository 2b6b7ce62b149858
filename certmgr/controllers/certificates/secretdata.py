"""The target Secret as cert-manager writes it, computed from what was issued (pure).

Owns the Secret's type, the managed keys (``tls.crt``, ``tls.key`` in the spec's
encoding, ``ca.crt``, ``key.der`` and ``tls-combined.pem`` for ``additionalOutputFormats``,
``keystore.p12``/``truststore.p12`` and ``keystore.jks``/``truststore.jks``),
cert-manager's labels and annotations (the managed label, certificate and issuer names,
the names and subject found in the issued certificate) and ``secretTemplate`` labels and
annotations, and ``in_sync``: whether rebuilding an existing Secret would change it,
told from its summary. Keys, labels and annotations it does not manage are kept as they
are. It must not do I/O or log (key material passes through here).
"""

from __future__ import annotations

import base64
import binascii
import copy
import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from certmgr.api import labels
from certmgr.api.certificates import (
    CertificateSpec,
    JKSKeystore,
    KeyEncoding,
    OutputFormat,
    PKCS12Keystore,
)
from certmgr.memo import memo
from certmgr.pki.certificates import (
    CertificateInfo,
    CertificateNamesInfo,
    PKCS12Profile,
    build_pkcs12,
    build_pkcs12_truststore,
    combined_pem,
    parse_chain,
    private_key_der,
)
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, encode_private_key, public_keys_equal
from certmgr.pki.pbmac1 import uses_pbmac1, without_verified_pbmac1
from certmgr.pki.summary import SecretSummary
from certmgr.runtime.informer_secrets import MANAGED_LABEL, trimmed

if TYPE_CHECKING:
    from certmgr.pki.jks import JavaKeyStore

TLS_SECRET_TYPE: Final = "kubernetes.io/tls"
TLS_CRT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CA_CRT: Final = "ca.crt"
KEYSTORE_PASSWORD_DEFAULT_KEY: Final = "password"
_PROFILES: Final[dict[str, PKCS12Profile]] = {
    "LegacyRC2": "LegacyRC2",
    "LegacyDES": "LegacyDES",
    "Modern2023": "Modern2023",
    "Modern2026": "Modern2026",
}


@dataclass(frozen=True, slots=True)
class Issued:
    """What an issuance produced: the key, the chain as the CA sent it, and its CA."""

    key: PrivateKey
    chain_pem: bytes
    ca_pem: bytes = b""


def join_csv(values: tuple[str, ...] | list[str]) -> str:
    """cert-manager's JoinWithEscapeCSV: comma-joined, values quoted when they need it."""
    # What csv writes when no value needs quoting (none holds a comma, a quote or a line
    # break; a lone empty value is quoted), at a tenth of the cost: every managed
    # Secret's annotations are compared at every start.
    joined = ",".join(values)
    if (
        (joined or len(values) > 1)
        and joined.count(",") == len(values) - 1
        and not any(special in joined for special in _CSV_SPECIAL)
    ):
        return joined
    if not values:
        return ""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


# Characters that make csv quote a value (line breaks: left to csv, whatever it does).
_CSV_SPECIAL: Final = ('"', "\r", "\n")


def managed_annotations(
    certificate_name: str, spec: CertificateSpec, info: CertificateInfo | CertificateNamesInfo
) -> dict[str, str]:
    """The annotations cert-manager puts on a Secret for the certificate it holds."""
    ref = spec.issuer_ref
    out = {
        labels.CERTIFICATE_NAME: certificate_name,
        labels.ISSUER_NAME: ref.name,
        labels.ISSUER_KIND: ref.kind,
        labels.ISSUER_GROUP: ref.group,
        labels.COMMON_NAME: info.common_name,
        # Kept even when empty, as cert-manager's AnnotationsForCertificate keeps them.
        labels.ALT_NAMES: join_csv(info.dns_names),
        labels.IP_SANS: join_csv(info.ip_addresses),
        labels.URI_SANS: join_csv(info.uris),
    }
    subject = info.subject
    # Left out when empty, as cert-manager does: writing "" would rewrite every Secret
    # cert-manager issued (10,000 updates for 10,000 Certificates on takeover).
    for key, values in (
        (labels.EMAIL_SANS, info.emails),
        (labels.SUBJECT_ORGANIZATIONS, subject.organizations),
        (labels.SUBJECT_ORGANIZATIONAL_UNITS, subject.organizational_units),
        (labels.SUBJECT_COUNTRIES, subject.countries),
        (labels.SUBJECT_PROVINCES, subject.provinces),
        (labels.SUBJECT_LOCALITIES, subject.localities),
        (labels.SUBJECT_POSTAL_CODES, subject.postal_codes),
        (labels.SUBJECT_STREET_ADDRESSES, subject.street_addresses),
    ):
        if values:
            out[key] = join_csv(values)
    if subject.serial_number:
        out[labels.SUBJECT_SERIAL_NUMBER] = subject.serial_number
    return out


def managed_data(
    spec: CertificateSpec,
    issued: Issued,
    *,
    pkcs12_password: bytes | None,
    jks_password: bytes | None = None,
    existing: Mapping[str, bytes] | None = None,
) -> dict[str, bytes | None]:
    """Every Secret key we manage: bytes to write, or None to remove.

    ``pkcs12_password`` must be given when ``spec.keystores.pkcs12.create`` is set, and
    ``jks_password`` when ``spec.keystores.jks.create`` is. Keystores are salted at
    random, so a keystore in ``existing`` that opens with the password and holds the
    same key and certificates is kept as it is: otherwise every re-sync would rewrite
    the Secret.
    """
    pkcs8 = spec.effective_private_key.effective_encoding is KeyEncoding.PKCS8
    key_pem = encode_private_key(issued.key, encoding="PKCS8" if pkcs8 else "PKCS1")
    formats = {f.type for f in spec.additional_output_formats}
    out: dict[str, bytes | None] = {
        TLS_CRT: issued.chain_pem,
        TLS_KEY: key_pem,
        CA_CRT: issued.ca_pem or None,
        labels.OUTPUT_DER: private_key_der(key_pem) if OutputFormat.DER in formats else None,
        labels.OUTPUT_COMBINED_PEM: combined_pem(key_pem, issued.chain_pem)
        if OutputFormat.COMBINED_PEM in formats
        else None,
        labels.KEYSTORE_P12: None,
        labels.TRUSTSTORE_P12: None,
        labels.KEYSTORE_JKS: None,
        labels.TRUSTSTORE_JKS: None,
    }
    keystores = spec.keystores
    old = existing or {}
    if keystores is not None and keystores.pkcs12 is not None and keystores.pkcs12.create:
        out.update(_pkcs12_data(keystores.pkcs12, issued, password=pkcs12_password, old=old))
    if keystores is not None and keystores.jks is not None and keystores.jks.create:
        out.update(_jks_data(keystores.jks, issued, password=jks_password, old=old))
    return out


def _pkcs12_data(
    pkcs12_spec: PKCS12Keystore,
    issued: Issued,
    *,
    password: bytes | None,
    old: Mapping[str, bytes],
) -> dict[str, bytes | None]:
    if password is None:
        raise PKIError("a PKCS#12 keystore needs a password")
    profile = _PROFILES.get(pkcs12_spec.profile or "LegacyRC2")
    if profile is None:
        raise PKIError(f"unsupported PKCS#12 profile: {pkcs12_spec.profile!r}")
    chain = parse_chain(issued.chain_pem)
    cas = _certificates(issued.ca_pem)
    keystore = old.get(labels.KEYSTORE_P12, b"")
    pbmac1 = profile == "Modern2026"
    if not _keystore_holds(keystore, password, issued.key, chain, cas, pbmac1=pbmac1):
        keystore = build_pkcs12(
            issued.key, chain, password=password, profile=profile, ca_certificates=cas
        )
    out: dict[str, bytes | None] = {labels.KEYSTORE_P12: keystore}
    if cas:
        truststore = old.get(labels.TRUSTSTORE_P12, b"")
        if not _keystore_holds(truststore, password, None, (), cas, pbmac1=pbmac1):
            truststore = build_pkcs12_truststore(cas, password=password, profile=profile)
        out[labels.TRUSTSTORE_P12] = truststore
    return out


def _jks_data(
    jks_spec: JKSKeystore,
    issued: Issued,
    *,
    password: bytes | None,
    old: Mapping[str, bytes],
) -> dict[str, bytes | None]:
    """Entries are dated the leaf's notBefore: this module has no clock, and the date
    says when the certificate took effect, which is what a reader of it wants to know."""
    # Loaded by the first JKS keystore asked for: few Certificates want one.
    from certmgr.pki.jks import DEFAULT_ALIAS, encode_jks, keystore_entries, truststore_entries

    if password is None:
        raise PKIError("a JKS keystore needs a password")
    chain = parse_chain(issued.chain_pem)
    cas = _certificates(issued.ca_pem)
    alias = jks_spec.alias or DEFAULT_ALIAS
    created = chain[0].not_valid_before_utc
    keystore = keystore_entries(issued.key, chain, alias=alias, ca_certificates=cas)
    stores = [(labels.KEYSTORE_JKS, keystore)]
    if cas:
        stores.append((labels.TRUSTSTORE_JKS, truststore_entries(cas)))
    out: dict[str, bytes | None] = {}
    for name, wanted in stores:
        store = old.get(name, b"")
        # What is compared is what is written, so a re-sync can never flip-flop.
        if not _jks_holds(store, password, wanted):
            store = encode_jks(wanted, password=password, created=created)
        out[name] = store
    return out


def _keystore_holds(
    store: bytes,
    password: bytes,
    key: PrivateKey | None,
    chain: Sequence[x509.Certificate],
    cas: Sequence[x509.Certificate],
    *,
    pbmac1: bool,
) -> bool:
    # A change of profile to or from Modern2026 (the only one with a PBMAC1 MAC) rewrites
    # the store; the other profiles differ only in ciphers a reader does not care about.
    if not store or uses_pbmac1(store) != pbmac1:
        return False
    try:
        # Checked by our own PBMAC1 code: cryptography's OpenSSL may predate PBMAC1.
        readable = without_verified_pbmac1(store, password=password) if pbmac1 else store
        found_key, found_cert, extra = pkcs12.load_key_and_certificates(readable, password)
    except (ValueError, TypeError, PKIError):
        return False
    if (found_key is None) != (key is None):
        return False
    if key is not None and (found_key is None or not public_keys_equal(found_key, key)):  # type: ignore[arg-type]
        return False
    wanted_cert = chain[0] if chain else None
    wanted_extra = {*chain[1:], *(c for c in cas if c not in chain)}  # as build_pkcs12 does
    return found_cert == wanted_cert and set(extra) == wanted_extra


def _jks_holds(store: bytes, password: bytes, wanted: JavaKeyStore) -> bool:
    from certmgr.pki.jks import decode_jks

    if not store:
        return False
    try:
        found = decode_jks(store, password)
    except PKIError:
        return False
    return (
        found.trusted == wanted.trusted
        and len(found.keys) == len(wanted.keys)
        and all(
            f.alias == w.alias and f.chain == w.chain and public_keys_equal(f.key, w.key)
            for f, w in zip(found.keys, wanted.keys, strict=True)
        )
    )


def build_secret(
    existing: Mapping[str, Any] | None,
    *,
    namespace: str,
    certificate_name: str,
    spec: CertificateSpec,
    issued: Issued,
    pkcs12_password: bytes | None = None,
    jks_password: bytes | None = None,
    certificate_uid: str = "",
    owned: bool = False,
) -> dict[str, Any]:
    """The complete Secret to write: ``existing`` (when given) with our part replaced.

    ``owned`` (cert-manager's ``--enable-certificate-owner-ref``) makes the Certificate,
    identified by ``certificate_uid``, the Secret's controller owner; when it is off, a
    reference to that Certificate is removed. Other owner references are kept.
    Raises ``PKIError`` when the issued chain cannot be parsed.
    """
    info = CertificateInfo.of(parse_chain(issued.chain_pem)[0])
    secret: dict[str, Any] = (
        copy.deepcopy(dict(existing))
        if existing is not None
        else {"apiVersion": "v1", "kind": "Secret", "type": TLS_SECRET_TYPE}
    )
    _set_metadata(
        secret,
        namespace=namespace,
        certificate_name=certificate_name,
        spec=spec,
        info=info,
        certificate_uid=certificate_uid,
        owned=owned,
    )
    data = dict(secret.get("data") or {})
    old = {k: _b64(v) for k, v in data.items()}
    written = managed_data(
        spec, issued, pkcs12_password=pkcs12_password, jks_password=jks_password, existing=old
    )
    for key, value in written.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = base64.b64encode(value).decode("ascii")
    secret["data"] = data
    return secret


def in_sync(
    existing: Mapping[str, Any],
    summary: SecretSummary,
    *,
    namespace: str,
    certificate_name: str,
    spec: CertificateSpec,
    certificate_uid: str = "",
    owned: bool = False,
) -> bool:
    """Whether ``build_secret`` would give back ``existing`` unchanged when re-issuing what
    it holds, decided from its summary without parsing anything. False means "not known":
    the caller builds the Secret to find out (keystores and extra output formats are
    always built, as is a key or base64 text another writer spelled differently)."""
    leaf, key = summary.leaf, summary.key
    if leaf is None or leaf.names is None or key is None:
        return False
    if spec.additional_output_formats or spec.keystores is not None:
        return False
    data: Mapping[str, Any] = existing.get("data") or {}
    if any(name in data for name in _BUILT_ONLY_WHEN_WANTED):
        return False
    pkcs8 = spec.effective_private_key.effective_encoding is KeyEncoding.PKCS8
    if ("PKCS8" if pkcs8 else "PKCS1") not in key.encodings:
        return False
    cut = trimmed(existing)  # cached without tls.crt/tls.key: canonical was noted then
    if cut is not None and not cut.canonical:
        return False
    if cut is None and not (_canonical(data.get(TLS_CRT)) and _canonical(data.get(TLS_KEY))):
        return False
    if CA_CRT in data and not _ca_canonical(data[CA_CRT]):
        return False
    if "type" not in existing:
        return False
    metadata = existing.get("metadata") or {}
    # A copy of the top level is enough (not a deep copy per issued Certificate at every
    # start): ``_set_metadata`` replaces the metadata's entries (labels, annotations,
    # ownerReferences: new containers) and never changes one it read, so the cached
    # Secret is left as it was.
    candidate: dict[str, Any] = {"metadata": dict(metadata)}
    _set_metadata(
        candidate,
        namespace=namespace,
        certificate_name=certificate_name,
        spec=spec,
        info=leaf.names,
        certificate_uid=certificate_uid,
        owned=owned,
    )
    return bool(candidate["metadata"] == metadata)


# Managed keys a Secret holds only when the spec asks for them (else they are removed).
_BUILT_ONLY_WHEN_WANTED: Final = (
    labels.OUTPUT_DER,
    labels.OUTPUT_COMBINED_PEM,
    labels.KEYSTORE_P12,
    labels.TRUSTSTORE_P12,
    labels.KEYSTORE_JKS,
    labels.TRUSTSTORE_JKS,
)


def _canonical(value: object) -> bool:
    """A non-empty data value that ``build_secret`` would write back as the same text."""
    if not isinstance(value, str) or not value:
        return False
    decoded = _b64(value)
    return bool(decoded) and base64.b64encode(decoded).decode("ascii") == value


def _ca_canonical(value: object) -> bool:
    """``_canonical`` of a ``ca.crt``, judged once per distinct text: one CA's is the
    same in thousands of Secrets (and one shared string in the cache)."""
    return _canonical_text(value) if type(value) is str else _canonical(value)


_canonical_text = memo()(_canonical)


def _set_metadata(
    secret: dict[str, Any],
    *,
    namespace: str,
    certificate_name: str,
    spec: CertificateSpec,
    info: CertificateInfo | CertificateNamesInfo,
    certificate_uid: str,
    owned: bool,
) -> None:
    # Replaces entries of the metadata with new values and never changes a container it
    # read (``in_sync`` hands it a shallow copy of a cached Secret's metadata).
    metadata = secret.setdefault("metadata", {})
    metadata["name"] = spec.secret_name
    metadata["namespace"] = namespace
    template = spec.secret_template
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        **(dict(template.labels) if template is not None else {}),
        MANAGED_LABEL: "true",
    }
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        **(dict(template.annotations) if template is not None else {}),
        **managed_annotations(certificate_name, spec, info),
    }
    _set_owner(metadata, certificate_name, certificate_uid, owned=owned)
    secret.setdefault("type", TLS_SECRET_TYPE)


def certificate_owner_reference(name: str, uid: str) -> dict[str, Any]:
    """The controller reference cert-manager puts on a Secret it owns (NewControllerRef)."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _set_owner(metadata: dict[str, Any], name: str, uid: str, *, owned: bool) -> None:
    if not uid:
        return
    # Owner references are keyed by UID: ours is the one naming this Certificate's.
    others = [ref for ref in metadata.get("ownerReferences") or () if ref.get("uid") != uid]
    wanted = [*others, certificate_owner_reference(name, uid)] if owned else others
    if wanted:
        metadata["ownerReferences"] = wanted
    else:
        metadata.pop("ownerReferences", None)


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def _certificates(pem: bytes) -> list[x509.Certificate]:
    if not pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise PKIError("error decoding CA certificate PEM block") from None
