"""What an Ingress's annotations ask of its Certificates: issuer, spec fields, overrides.

Owns the meaning of every ingress-shim annotation, as cert-manager's
``certificate-shim`` reads them (``hasShimAnnotation``, ``issuerForIngressLike``,
``translateAnnotations``, ``setIssuerSpecificConfig``), and their validation. Where
cert-manager accepts a value its own admission webhook then refuses (a non-IP in
``ip-sans``, a 30m ``duration``, ``renew-before`` past ``duration``), we refuse it here,
so the user gets a ``BadConfig`` Event naming the annotation instead of a Certificate
that can never be written. Every problem is collected, not just the first.

Pure: no I/O, no clock. It must not build Certificates (``desired`` does) or look at
``spec.tls``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from certmgr.api import labels
from certmgr.api.certificates import (
    DEFAULT_DURATION,
    MINIMUM_DURATION,
    MINIMUM_RENEW_BEFORE,
    KeyAlgorithm,
    KeyEncoding,
    PrivateKeySpec,
    RotationPolicy,
    SecretTemplate,
    X509Subject,
)
from certmgr.api.durations import format_go_duration, parse_go_duration
from certmgr.api.meta import CLUSTER_ISSUER_KIND, ISSUER_KIND, IssuerRef
from certmgr.controllers.ingressshim.values import (
    parse_bool,
    parse_int,
    parse_ip,
    split_csv,
    split_list,
)
from certmgr.pki.usages import ALL_USAGES

T = TypeVar("T")

# cert-manager's --auto-certificate-annotations default: the only one for Ingresses.
AUTO_CERTIFICATE_ANNOTATIONS: Final = (labels.TLS_ACME,)
MAX_COMMON_NAME: Final = 64  # bytes; the X.509 upper bound cert-manager's webhook enforces
_EMAIL: Final = re.compile(r"[^@\s,]+@[^@\s,]+")
_RSA_SIZES: Final = range(2048, 8193)
_ECDSA_SIZES: Final = (256, 384, 521)
_SUBJECT_LISTS: Final = (
    (labels.SUBJECT_ORGANIZATIONS, "organizations"),
    (labels.SUBJECT_ORGANIZATIONAL_UNITS, "organizational_units"),
    (labels.SUBJECT_COUNTRIES, "countries"),
    (labels.SUBJECT_PROVINCES, "provinces"),
    (labels.SUBJECT_LOCALITIES, "localities"),
    (labels.SUBJECT_STREET_ADDRESSES, "street_addresses"),
    (labels.SUBJECT_POSTAL_CODES, "postal_codes"),
)


@dataclass(frozen=True, slots=True)
class DefaultIssuer:
    """``--default-issuer-name/-kind/-group``: what ``kubernetes.io/tls-acme`` uses."""

    name: str | None = None
    kind: str = ISSUER_KIND
    group: str = "cert-manager.io"


@dataclass(frozen=True, slots=True)
class BadAnnotation:
    annotation: str
    problem: str

    @property
    def message(self) -> str:
        return f'invalid ingress annotation "{self.annotation}": {self.problem}'


@dataclass(frozen=True, slots=True)
class Translated:
    """The Certificate fields the annotations set; empty/None where they say nothing."""

    common_name: str = ""
    dns_names: tuple[str, ...] = ()  # alt-names, added to the tls entry's hosts
    ip_addresses: tuple[str, ...] = ()  # ip-sans, added to the tls entry's IP hosts
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    subject: X509Subject | None = None
    duration: timedelta | None = None
    renew_before: timedelta | None = None
    renew_before_percentage: int | None = None
    usages: tuple[str, ...] = ()
    revision_history_limit: int | None = None
    private_key: PrivateKeySpec | None = None
    secret_template: SecretTemplate | None = None


def has_shim_annotation(
    annotations: Mapping[str, str], auto_annotations: tuple[str, ...] = AUTO_CERTIFICATE_ANNOTATIONS
) -> bool:
    """An issuer annotation (any value), or an auto annotation (for Ingresses
    ``kubernetes.io/tls-acme``) parsing as true."""
    if labels.INGRESS_ISSUER in annotations or labels.INGRESS_CLUSTER_ISSUER in annotations:
        return True
    for key in auto_annotations:
        try:
            if key in annotations and parse_bool(annotations[key]):
                return True
        except ValueError:
            continue
    return False


def issuer_for(
    annotations: Mapping[str, str], default: DefaultIssuer
) -> tuple[IssuerRef | None, tuple[str, ...]]:
    """The issuerRef for the Certificates, or None and the problems (cert-manager's words).

    Explicit annotations win over the default issuer; ``cluster-issuer`` cannot be
    combined with ``issuer``, ``issuer-kind`` or ``issuer-group``.
    """
    name, kind, group = default.name or "", default.kind, default.group
    if labels.INGRESS_ISSUER in annotations:
        name, kind = annotations[labels.INGRESS_ISSUER], ISSUER_KIND
    if labels.INGRESS_CLUSTER_ISSUER in annotations:
        name, kind = annotations[labels.INGRESS_CLUSTER_ISSUER], CLUSTER_ISSUER_KIND
    kind = annotations.get(labels.INGRESS_ISSUER_KIND, kind)
    group = annotations.get(labels.INGRESS_ISSUER_GROUP, group)
    problems = []
    cluster = labels.INGRESS_CLUSTER_ISSUER in annotations
    if not name:
        problem = "failed to determine issuer name to be used for ingress resource"
        explicit = labels.INGRESS_ISSUER in annotations or cluster
        if not explicit and not default.name:
            problem += f' ("{labels.TLS_ACME}" needs a default issuer: --default-issuer-name)'
        problems.append(problem)
    for other in (labels.INGRESS_ISSUER, labels.INGRESS_ISSUER_GROUP, labels.INGRESS_ISSUER_KIND):
        if cluster and other in annotations:
            problems.append(f'both "{labels.INGRESS_CLUSTER_ISSUER}" and "{other}" may not be set')
    if problems:
        return None, tuple(problems)
    return IssuerRef(name=name, kind=kind, group=group), ()


def translate_annotations(
    annotations: Mapping[str, str],
) -> tuple[Translated, tuple[BadAnnotation, ...]]:
    """The spec fields the annotations ask for, and every malformed annotation."""
    reader = _Reader(annotations)
    fields: dict[str, Any] = {
        "common_name": reader.read(labels.COMMON_NAME, _common_name) or "",
        "dns_names": reader.read(labels.ALT_NAMES, split_list) or (),
        "ip_addresses": reader.read(labels.IP_SANS, _ip_addresses) or (),
        "uris": reader.read(labels.URI_SANS, _uris) or (),
        "email_addresses": reader.read(labels.EMAIL_SANS, _emails) or (),
        "subject": _subject(reader),
        "duration": reader.read(labels.DURATION, _duration),
        "renew_before": reader.read(labels.RENEW_BEFORE, _renew_before),
        "renew_before_percentage": reader.read(labels.RENEW_BEFORE_PERCENTAGE, _percentage),
        "usages": reader.read(labels.USAGES, _usages) or (),
        "revision_history_limit": reader.read(labels.REVISION_HISTORY_LIMIT, _history_limit),
        "private_key": _private_key(reader),
        "secret_template": reader.read(labels.SECRET_TEMPLATE, _secret_template),
    }
    translated = Translated(**fields)
    _check_renewal(translated, annotations, reader)
    return translated, tuple(reader.problems)


def certificate_annotations(annotations: Mapping[str, str], ingress_name: str) -> dict[str, str]:
    """cert-manager's ``setIssuerSpecificConfig``: HTTP-01 overrides for the ACME issuer."""
    out = {}
    if annotations.get(labels.HTTP01_EDIT_IN_PLACE) == "true":
        out[labels.HTTP01_OVERRIDE_INGRESS_NAME] = ingress_name
        # A temporary certificate keeps ingress-gce-like controllers serving meanwhile.
        out[labels.ISSUE_TEMPORARY_CERTIFICATE] = "true"
    if annotations.get(labels.HTTP01_INGRESS_CLASS):
        out[labels.HTTP01_OVERRIDE_INGRESS_CLASS] = annotations[labels.HTTP01_INGRESS_CLASS]
    if annotations.get(labels.HTTP01_INGRESS_INGRESSCLASSNAME):
        out[labels.HTTP01_OVERRIDE_INGRESS_CLASSNAME] = annotations[
            labels.HTTP01_INGRESS_INGRESSCLASSNAME
        ]
    return out


class _Reader:
    """Reads annotations through parsers, collecting a ``BadAnnotation`` per failure."""

    def __init__(self, annotations: Mapping[str, str]) -> None:
        self.annotations = annotations
        self.problems: list[BadAnnotation] = []

    def read(self, key: str, parse: Callable[[str], T]) -> T | None:
        if key not in self.annotations:
            return None
        try:
            return parse(self.annotations[key])
        except ValueError as error:
            self.problems.append(BadAnnotation(key, str(error)))
            return None

    def refuse(self, key: str, problem: str) -> None:
        self.problems.append(BadAnnotation(key, problem))


def _common_name(text: str) -> str:
    if len(text.encode()) > MAX_COMMON_NAME:
        raise ValueError(f"common name must be no more than {MAX_COMMON_NAME} bytes")
    return text


def _ip_addresses(text: str) -> tuple[str, ...]:
    items = split_list(text)
    for item in items:
        parse_ip(item)
    return items


def _uris(text: str) -> tuple[str, ...]:
    items = split_list(text)
    for item in items:
        try:
            scheme = urlsplit(item).scheme
        except ValueError:
            scheme = ""
        if not scheme:
            raise ValueError(f"invalid URI {item!r}: a URI needs a scheme")
    return items


def _emails(text: str) -> tuple[str, ...]:
    items = split_list(text)
    for item in items:
        if _EMAIL.fullmatch(item) is None:
            raise ValueError(f"invalid email address {item!r}")
    return items


def _subject(reader: _Reader) -> X509Subject | None:
    fields: dict[str, Any] = {}
    for key, name in _SUBJECT_LISTS:
        values = reader.read(key, split_csv)
        if values is not None:
            fields[name] = values
    serial = reader.annotations.get(labels.SUBJECT_SERIAL_NUMBER, "")
    if serial:
        fields["serial_number"] = serial
    subject = X509Subject(**fields)
    return None if subject == X509Subject() else subject


def _duration(text: str) -> timedelta:
    value = parse_go_duration(text)
    if value < MINIMUM_DURATION:
        raise ValueError(f"duration must be at least {format_go_duration(MINIMUM_DURATION)}")
    return value


def _renew_before(text: str) -> timedelta:
    value = parse_go_duration(text)
    if value < MINIMUM_RENEW_BEFORE:
        minimum = format_go_duration(MINIMUM_RENEW_BEFORE)
        raise ValueError(f"renew-before must be at least {minimum}")
    return value


def _percentage(text: str) -> int:
    value = parse_int(text, bits=32)
    if not 0 < value < 100:
        raise ValueError(f"renew-before-percentage must be between 1 and 99, got {value}")
    return value


def _usages(text: str) -> tuple[str, ...]:
    usages = tuple(name.strip(" ") for name in text.split(","))
    for usage in usages:
        if usage not in ALL_USAGES:
            raise ValueError(f"invalid key usage name {usage!r}")
    return usages


def _history_limit(text: str) -> int:
    value = parse_int(text, bits=32)
    if value < 1:
        raise ValueError(f"revision history limit must be a positive number, got {value}")
    return value


def _private_key(reader: _Reader) -> PrivateKeySpec | None:
    algorithm = reader.read(labels.PRIVATE_KEY_ALGORITHM, _enum(KeyAlgorithm, "algorithm"))
    encoding = reader.read(labels.PRIVATE_KEY_ENCODING, _enum(KeyEncoding, "encoding"))
    rotation = reader.read(
        labels.PRIVATE_KEY_ROTATION_POLICY, _enum(RotationPolicy, "rotation policy")
    )
    size = reader.read(labels.PRIVATE_KEY_SIZE, parse_int)
    if size is not None and not _size_fits(algorithm or KeyAlgorithm.RSA, size):
        name = (algorithm or KeyAlgorithm.RSA).value
        reader.refuse(labels.PRIVATE_KEY_SIZE, f"invalid private key size for {name}: {size}")
        size = None
    spec = PrivateKeySpec(
        algorithm=algorithm, encoding=encoding, size=size or 0, rotation_policy=rotation
    )
    return None if spec == PrivateKeySpec() else spec


def _size_fits(algorithm: KeyAlgorithm, size: int) -> bool:
    if algorithm is KeyAlgorithm.RSA:
        return size in _RSA_SIZES
    if algorithm is KeyAlgorithm.ECDSA:
        return size in _ECDSA_SIZES
    return True  # Ed25519 has no size; cert-manager ignores it


E = TypeVar("E", KeyAlgorithm, KeyEncoding, RotationPolicy)


def _enum(kind: type[E], what: str) -> Callable[[str], E]:
    def parse(text: str) -> E:
        try:
            return kind(text)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise ValueError(f"invalid private key {what} {text!r} (one of {allowed})") from None

    return parse


def _secret_template(text: str) -> SecretTemplate | None:
    """A JSON object of ``annotations`` and ``labels`` string maps, nothing else (Go's
    decoder with DisallowUnknownFields, which matches field names case-insensitively)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"error parsing secret template JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("error parsing secret template JSON: expected an object")
    maps: dict[str, dict[str, str]] = {"annotations": {}, "labels": {}}
    for field, value in data.items():
        name = field.lower()
        if name not in maps:
            raise ValueError(f'error parsing secret template JSON: unknown field "{field}"')
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(f'error parsing secret template JSON: "{field}" must map to strings')
        maps[name] = value
    for key in maps["annotations"]:
        if key.startswith("cert-manager.io/"):
            raise ValueError(f"secretTemplate must not have cert-manager.io/ annotations: {key!r}")
    if not maps["annotations"] and not maps["labels"]:
        return None
    return SecretTemplate(annotations=maps["annotations"], labels=maps["labels"])


def _check_renewal(translated: Translated, annotations: Mapping[str, str], reader: _Reader) -> None:
    """Checks across annotations that cert-manager's webhook would otherwise refuse."""
    if labels.RENEW_BEFORE in annotations and labels.RENEW_BEFORE_PERCENTAGE in annotations:
        reader.refuse(
            labels.RENEW_BEFORE_PERCENTAGE,
            f'may not be set together with "{labels.RENEW_BEFORE}"',
        )
    duration = translated.duration or DEFAULT_DURATION
    if translated.renew_before is not None and translated.renew_before >= duration:
        reader.refuse(
            labels.RENEW_BEFORE,
            f"renew-before {format_go_duration(translated.renew_before)} must be shorter "
            f"than the duration {format_go_duration(duration)}",
        )
