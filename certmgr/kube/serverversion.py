"""The oldest Kubernetes the CRDs work on, and the check of a server's ``/version`` against it.

Owns ``MINIMUM`` and the reason for it (``CRD_FEATURES``: what crds/*.yaml use, and the
release that first serves it enabled by default), parsing a ``/version`` document, and
the one-line refusal. It must not do I/O: the caller fetches ``/version``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

Version = tuple[int, int]


@dataclass(frozen=True, slots=True)
class CrdFeature:
    """A schema key the CRDs use, and the first release that serves it enabled by default."""

    key: str
    since: Version
    what: str


# A server older than ``since`` silently drops the key from the stored CRD (``reason``,
# ``fieldPath``, ``optionalOldSelf``) or refuses the rule, so validation differs from
# what docs/api.md promises.
CRD_FEATURES: Final = (
    CrdFeature("x-kubernetes-validations", (1, 25), "CEL validation rules (beta, on by default)"),
    CrdFeature("oldSelf", (1, 25), "transition rules"),
    CrdFeature("messageExpression", (1, 27), "CEL-built messages"),
    CrdFeature("reason", (1, 28), "a rule's reason"),
    CrdFeature("fieldPath", (1, 28), "a rule's fieldPath"),
    CrdFeature("optionalOldSelf", (1, 30), "ratcheted transition rules (beta, on by default)"),
)
MINIMUM: Final[Version] = (1, 28)

_MINOR = re.compile(r"\d+")
_GIT_VERSION = re.compile(r"v?(\d+)\.(\d+)")


def parse(document: Mapping[str, Any]) -> Version | None:
    """``(major, minor)`` from a ``/version`` document; None when it says nothing usable.

    ``minor`` may carry a vendor suffix (EKS and GKE answer ``"30+"``); ``gitVersion`` is
    the fallback (``v1.30.4-eks-a737599``).
    """
    major, minor = str(document.get("major", "")), str(document.get("minor", ""))
    found = _MINOR.match(minor)
    if major.isdigit() and found:
        return int(major), int(found.group())
    git = _GIT_VERSION.match(str(document.get("gitVersion", "")))
    if git:
        return int(git.group(1)), int(git.group(2))
    return None


def refusal(document: Mapping[str, Any], *, minimum: Version = MINIMUM) -> str | None:
    """The one line that refuses a server older than ``minimum``; None to go on (also when
    the version cannot be read: an unknown server is given the benefit of the doubt)."""
    version = parse(document)
    if version is None or version >= minimum:
        return None
    shown = document.get("gitVersion") or f"v{version[0]}.{version[1]}"
    return (
        f"Kubernetes {shown} is too old: certmgr's CRDs need v{minimum[0]}.{minimum[1]} or "
        "newer (CEL validation rules with reason and fieldPath)"
    )
