"""References shared by every kind: issuer references and Secret selectors.

Owns the meaning of an empty ``issuerRef.kind``/``group`` (cert-manager's defaults:
``Issuer`` in ``cert-manager.io``), so no caller repeats it. The fields keep what the
user wrote (so JSON round-trips unchanged); the ``effective_*`` properties apply the
defaults. Pure data; it must not look anything up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from certmgr.api.codec import JsonObject

GROUP = "cert-manager.io"
ACME_GROUP = "acme.cert-manager.io"
ISSUER_KIND = "Issuer"
CLUSTER_ISSUER_KIND = "ClusterIssuer"


@dataclass(frozen=True, slots=True)
class IssuerRef(JsonObject):
    """``issuerRef``: an empty kind means Issuer, an empty group means cert-manager.io."""

    shared: ClassVar[bool] = True

    name: str
    kind: str = ""
    group: str = ""

    @property
    def effective_kind(self) -> str:
        return self.kind or ISSUER_KIND

    @property
    def effective_group(self) -> str:
        return self.group or GROUP

    @property
    def is_ours(self) -> bool:
        """True for our own Issuer/ClusterIssuer kinds; false for external issuers."""
        return self.effective_group == GROUP and self.effective_kind in (
            ISSUER_KIND,
            CLUSTER_ISSUER_KIND,
        )

    @property
    def is_cluster_scoped(self) -> bool:
        return self.effective_group == GROUP and self.effective_kind == CLUSTER_ISSUER_KIND

    def same_issuer(self, other: IssuerRef) -> bool:
        """Equal once defaults are applied (``kind: ""`` is ``kind: Issuer``)."""
        return (self.name, self.effective_kind, self.effective_group) == (
            other.name,
            other.effective_kind,
            other.effective_group,
        )


# cert-manager's name for the same shape (cmmeta.ObjectReference).
ObjectRef = IssuerRef


@dataclass(frozen=True, slots=True)
class SecretKeySelector(JsonObject):
    """One entry of a Secret in the referring object's namespace; ``key`` may be defaulted."""

    name: str
    key: str = ""

    def key_or(self, default: str) -> str:
        return self.key or default


@dataclass(frozen=True, slots=True)
class LocalObjectRef(JsonObject):
    name: str
