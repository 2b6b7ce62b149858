"""The condition reasons the policy chains return (cert-manager's exact strings).

Owns: nothing new: it re-exports the reasons `certmgr.api.reasons` defines, so a check
and a status writer can never disagree on a spelling. Kept as its own module so the
checks read `reasons.RENEWING` without reaching into the API package everywhere.
Must not: contain logic or define a reason that `certmgr.api.reasons` lacks.
"""

from __future__ import annotations

from certmgr.api.reasons import (
    DOES_NOT_EXIST,
    DUPLICATE_SECRET_NAME,
    EXPIRED,
    INCORRECT_CERTIFICATE,
    INCORRECT_ISSUER,
    INCORRECT_SECRET_TYPE,
    INVALID_CERTIFICATE,
    INVALID_CERTIFICATE_REQUEST,
    INVALID_KEY_PAIR,
    MANUALLY_TRIGGERED,
    MISSING_DATA,
    READY,
    READY_MESSAGE,
    RENEWING,
    REQUEST_CHANGED,
    SECRET_MISMATCH,
    TEMPORARY_CERTIFICATE,
    WINDOW_ERROR,
)

__all__ = [
    "DOES_NOT_EXIST",
    "DUPLICATE_SECRET_NAME",
    "EXPIRED",
    "INCORRECT_CERTIFICATE",
    "INCORRECT_ISSUER",
    "INCORRECT_SECRET_TYPE",
    "INVALID_CERTIFICATE",
    "INVALID_CERTIFICATE_REQUEST",
    "INVALID_KEY_PAIR",
    "MANUALLY_TRIGGERED",
    "MISSING_DATA",
    "READY",
    "READY_MESSAGE",
    "RENEWING",
    "REQUEST_CHANGED",
    "SECRET_MISMATCH",
    "TEMPORARY_CERTIFICATE",
    "WINDOW_ERROR",
]
