"""Whether requirements can produce a CSR at all: the verdict of a probe CSR.

Owns ``csr_problem``: the ``PKIError`` text a CSR build for these requirements raises
(names, subject, usages, key size, signature algorithm), or None, found by signing a
probe CSR with a throwaway Ed25519 key exactly as the real build will, and the shape
the verdict is kept by. It must not keep the probe CSR, nor judge anything a CSR build
does not check.
"""

from __future__ import annotations

import re
from dataclasses import fields
from functools import cache
from operator import attrgetter
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ed25519

from certmgr.memo import memo
from certmgr.pki.csr import build_csr
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import effective_key_size
from certmgr.pki.requirements import CertificateRequirements

# A DNS name or common name made only of these ASCII characters builds and encodes like
# any other such string of its length (an IA5String SAN, a UTF-8 CN whose only bound is
# its length): the probe's verdict cannot turn on which of them it is.
_PLAIN: Final = re.compile(r"[A-Za-z0-9*._-]+")


@cache
def _probe_key() -> ed25519.Ed25519PrivateKey:
    # Ed25519 because generating it costs microseconds.
    return ed25519.Ed25519PrivateKey.generate()


def csr_problem(requirements: CertificateRequirements) -> str | None:
    """Why ``requirements`` cannot produce a CSR (stable text, no secrets), or None.

    Signing the probe costs ~0.1-0.3 ms, once for every Certificate at start. Specs that
    differ only in the plain host names they ask for (10,000 Certificates, one name
    each) share a shape (``_shape_of``), so the probe is signed once per shape: a shape
    that passes means these names pass too. A failure is judged on the requirements
    themselves, so its message is exactly theirs.
    """
    dns_names = tuple([_placeholder(name) for name in requirements.dns_names])
    common_name = _placeholder(requirements.common_name)
    if (
        dns_names != requirements.dns_names or common_name != requirements.common_name
    ) and _shape_problem((dns_names, common_name, _other_fields(requirements))) is None:
        return None
    return _probe(requirements)


def _placeholder(value: str) -> str:
    return "a" * len(value) if _PLAIN.fullmatch(value) else value


# A shape is ``requirements`` with every plain DNS name and common name replaced by a
# placeholder of the same length (``_PLAIN``), anything else as it is; it is known by its
# fields (placeholder names, placeholder common name, every other field in order): equal
# shapes have equal keys, and a shape is built only to sign its probe, not once per
# Certificate (building one costs more than the rest of the verdict).
_OTHER_FIELDS: Final = tuple(
    field.name
    for field in fields(CertificateRequirements)
    if field.name not in ("dns_names", "common_name")
)
_other_fields = attrgetter(*_OTHER_FIELDS)
ShapeKey = tuple[tuple[str, ...], str, tuple[Any, ...]]


def _shape_of(key: ShapeKey) -> CertificateRequirements:
    dns_names, common_name, others = key
    return CertificateRequirements(
        dns_names=dns_names,
        common_name=common_name,
        **dict(zip(_OTHER_FIELDS, others, strict=True)),
    )


@memo()
def _shape_problem(key: ShapeKey) -> str | None:
    return _probe(_shape_of(key))


def _probe(requirements: CertificateRequirements) -> str | None:
    try:
        effective_key_size(requirements.key_spec.algorithm, requirements.key_spec.size)
        build_csr(_probe_key(), requirements)
    except PKIError as exc:
        return str(exc)
    return None
