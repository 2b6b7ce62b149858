"""Status conditions: the typed ``Condition`` and the helpers that edit condition lists.

Owns cert-manager's condition semantics: one condition per type, and
``lastTransitionTime`` moves only when ``status`` changes (a new reason or message
alone keeps the old time), so repeated reconciles do not churn status. The helpers
work on the JSON list (the form written back to the API) and never mutate their input.
Pure: the time is an argument; it must not read the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from certmgr.api.codec import JsonObject, rfc3339

# Condition types.
READY = "Ready"
ISSUING = "Issuing"  # Certificate
# certmgr's own (Certificate): spec fields certmgr accepts but does not act on.
FIELDS_NOT_ACTED_ON = "FieldsNotActedOn"
INVALID_REQUEST = "InvalidRequest"  # CertificateRequest
APPROVED = "Approved"  # CertificateRequest
DENIED = "Denied"  # CertificateRequest


class Status(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Condition(JsonObject):
    type: str
    status: Status
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None

    @property
    def is_true(self) -> bool:
        return self.status is Status.TRUE

    @property
    def is_false(self) -> bool:
        return self.status is Status.FALSE


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Condition | None:
    """The condition of ``type_`` in a JSON condition list, or None."""
    for raw in conditions or ():
        if raw.get("type") == type_:
            return Condition.from_dict(raw, path=f"conditions[{type_}]")
    return None


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of ``type_`` in a typed condition list, or None."""
    return next((c for c in conditions if c.type == type_), None)


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    *,
    type_: str,
    status: Status | str,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """A copy of ``conditions`` with the ``type_`` condition set, as cert-manager sets it.

    ``lastTransitionTime`` is ``now`` for a new condition or a changed status, and kept
    otherwise. ``observed_generation=None`` leaves the key out (CertificateRequest
    conditions have no such field).
    """
    status = Status(status)
    out = [dict(c) for c in conditions or ()]
    existing = next((c for c in out if c.get("type") == type_), None)
    kept = existing is not None and existing.get("status") == status.value
    transition = (existing or {}).get("lastTransitionTime") if kept else None
    transition = transition or rfc3339(now)
    new: dict[str, Any] = {
        "type": type_,
        "status": status.value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    if existing is None:
        out.append(new)
    else:
        out[out.index(existing)] = new
    return out


def remove_condition(
    conditions: Sequence[Mapping[str, Any]] | None, type_: str
) -> list[dict[str, Any]]:
    """A copy of ``conditions`` without the ``type_`` condition."""
    return [dict(c) for c in conditions or () if c.get("type") != type_]
