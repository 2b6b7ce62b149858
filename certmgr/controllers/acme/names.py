"""Deterministic names and label values of the objects the ACME controllers create.

Owns how a child's name is derived from what it is for (a CertificateRequest's spec for
its Order, an authorization URL for a Challenge, a Challenge for its solver objects), so
a retry or a restart finds the existing object instead of creating a second one, and
the ``acme.cert-manager.io/http-domain``/``http-token`` label values. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from typing import Any, Final

# Kubernetes object names may be 253 characters, but Services (and so solver objects)
# must be DNS-1035 labels of at most 63; every name we make fits the stricter rule.
MAX_NAME: Final = 63
HASH_LENGTH: Final = 10
SOLVER_PREFIX: Final = "cm-acme-http-solver-"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def short_hash(value: str | Mapping[str, Any]) -> str:
    """A short stable hash (hex) of a string or a JSON-able mapping (keys sorted)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def child_name(parent: str, value: str | Mapping[str, Any]) -> str:
    """``<parent>-<hash(value)>``, the parent truncated so the whole fits ``MAX_NAME``."""
    prefix = parent[: MAX_NAME - HASH_LENGTH - 1].rstrip("-.")
    return f"{prefix}-{short_hash(value)}"


def order_name(request_name: str, order_spec: Mapping[str, Any]) -> str:
    """The Order of a CertificateRequest: one per (request, what is ordered)."""
    return child_name(request_name, order_spec)


def challenge_name(order: str, authorization_url: str) -> str:
    """The Challenge of one authorization of an Order."""
    return child_name(order, authorization_url)


def solver_name(challenge_namespace: str, challenge: str) -> str:
    """The solver Service, Ingress and Pod of a Challenge (cert-manager's prefix)."""
    return SOLVER_PREFIX + short_hash(f"{challenge_namespace}/{challenge}")


def label_value(value: str) -> str:
    """``value`` when it is a valid label value, else cert-manager's adler32 checksum."""
    if len(value) <= MAX_NAME and _LABEL_VALUE.match(value):
        return value
    return str(zlib.adler32(value.encode()))
