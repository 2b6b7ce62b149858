"""Condition reasons the policies return, with cert-manager's exact values.

Owns: the reason strings of the trigger and readiness policy chains (cert-manager's
`internal/controller/certificates/policies/constants.go`) plus `ManuallyTriggered` (what
`cmctl renew` writes) and `Ready`. When `certmgr.api` defines the same constants, these
must stay equal to them.
Must not: contain logic.
"""

from __future__ import annotations

from typing import Final

DOES_NOT_EXIST: Final = "DoesNotExist"
MISSING_DATA: Final = "MissingData"
INVALID_KEY_PAIR: Final = "InvalidKeyPair"
INVALID_CERTIFICATE: Final = "InvalidCertificate"
INVALID_CERTIFICATE_REQUEST: Final = "InvalidCertificateRequest"
SECRET_MISMATCH: Final = "SecretMismatch"
INCORRECT_ISSUER: Final = "IncorrectIssuer"
INCORRECT_CERTIFICATE: Final = "IncorrectCertificate"
REQUEST_CHANGED: Final = "RequestChanged"
RENEWING: Final = "Renewing"
EXPIRED: Final = "Expired"
MANUALLY_TRIGGERED: Final = "ManuallyTriggered"
READY: Final = "Ready"
