"""Condition and Event reasons, spelled exactly as cert-manager spells them.

Users and tools (``kubectl describe``, alerts, cmctl) match on these strings, so they
are part of the API. Owns only names and fixed messages; it must not decide which
reason applies.
"""

from __future__ import annotations

from typing import Final

# --- Certificate: reasons for Issuing=True (why a (re)issuance was triggered) and for
# Ready=False (why the current certificate is not good), from cert-manager's policies.
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
WINDOW_ERROR: Final = "WindowError"  # no spec.renewal.windows window near the renewal time
SECRET_TEMPLATE_MISMATCH: Final = "SecretTemplateMismatch"
SECRET_MANAGED_METADATA_MISMATCH: Final = "SecretManagedMetadataMismatch"
ADDITIONAL_OUTPUT_FORMATS_MISMATCH: Final = "AdditionalOutputFormatsMismatch"
SECRET_OWNER_REF_MISMATCH: Final = "SecretOwnerRefMismatch"
MANUALLY_TRIGGERED: Final = "ManuallyTriggered"  # cmctl renew / certmgr renew
# certmgr's own: the Secret holds the temporary certificate of issue-temporary-certificate
# (cert-manager has no such check; it lets the temporary certificate count as Ready).
TEMPORARY_CERTIFICATE: Final = "TemporaryCertificate"
# certmgr's own, for Certificates that are never issued until a user acts (Ready=False and
# a Warning Event): cert-manager's trigger only skips a Certificate that does not own its
# Secret (CertificateOwnsSecret) and writes into a Secret of any type.
DUPLICATE_SECRET_NAME: Final = "DuplicateSecretName"
INCORRECT_SECRET_TYPE: Final = "IncorrectSecretType"
# certmgr's own: the reason of the FieldsNotActedOn condition (True), which names the spec
# fields a cert-manager manifest may set that certmgr accepts but does not act on.
NOT_ACTED_ON: Final = "NotActedOn"
# ... and of the Ready=False condition of an issuer of a type certmgr does not run.

# --- Certificate: Ready=True, and Issuing=False after a failed request.
READY: Final = "Ready"
READY_MESSAGE: Final = "Certificate is up to date and has not expired"
FAILED: Final = "Failed"
FAILED_MESSAGE_PREFIX: Final = (
    "The certificate request has failed to complete and will be retried: "
)
DENIED: Final = "Denied"

# --- CertificateRequest: Ready condition reasons.
REQUEST_PENDING: Final = "Pending"
REQUEST_FAILED: Final = "Failed"
REQUEST_ISSUED: Final = "Issued"
REQUEST_DENIED: Final = "Denied"
# Approved condition as cert-manager's built-in approver writes it.
APPROVER_REASON: Final = "cert-manager.io"
APPROVER_MESSAGE: Final = "Certificate request has been approved by cert-manager.io"

# --- Issuer / ClusterIssuer: Ready condition reasons.
ACME_ACCOUNT_REGISTERED: Final = "ACMEAccountRegistered"
ACME_ACCOUNT_VERIFIED: Final = "ACMEAccountVerified"
ERR_REGISTER_ACME_ACCOUNT: Final = "ErrRegisterACMEAccount"
ERR_VERIFY_ACME_ACCOUNT: Final = "ErrVerifyACMEAccount"
ERR_UPDATE_ACME_ACCOUNT: Final = "ErrUpdateACMEAccount"
ERR_INIT_ISSUER: Final = "ErrInitIssuer"
INVALID_CONFIG: Final = "InvalidConfig"
INVALID_URL: Final = "InvalidURL"
ACCOUNT_REGISTERED_MESSAGE: Final = "The ACME account was registered with the ACME server"
ACCOUNT_VERIFIED_MESSAGE: Final = "The ACME account was verified with the ACME server"
REGISTRATION_FAILED_PREFIX: Final = "Failed to register ACME account: "
VERIFICATION_FAILED_PREFIX: Final = "Failed to verify ACME account: "
INIT_ISSUER_FAILED_PREFIX: Final = "Error initializing issuer: "
# SelfSigned and CA issuers (cert-manager's pkg/issuer/selfsigned and pkg/issuer/ca).
ISSUER_IS_READY: Final = "IsReady"
CA_ERR_GET_KEYPAIR: Final = "ErrGetKeyPair"
CA_ERR_INVALID_KEYPAIR: Final = "ErrInvalidKeyPair"
CA_KEYPAIR_VERIFIED: Final = "KeyPairVerified"
CA_GET_KEYPAIR_PREFIX: Final = "Error getting keypair for CA issuer: "
CA_KEYPAIR_VERIFIED_MESSAGE: Final = "Signing CA verified"

# --- Event reasons.
EVENT_ISSUING: Final = "Issuing"  # "The certificate has been successfully issued"
TEMPORARY_ISSUED_MESSAGE: Final = "Issued temporary certificate"  # Normal, reason Issuing
EVENT_GENERATED: Final = "Generated"  # new private key stored in a temporary Secret
EVENT_REUSED: Final = "Reused"  # existing private key reused (rotationPolicy Never)
EVENT_REQUESTED: Final = "Requested"  # new CertificateRequest created
EVENT_ORDER_CREATED: Final = "OrderCreated"
EVENT_CHALLENGE_CREATED: Final = "Created"  # Challenge created for a domain
EVENT_STARTED: Final = "Started"  # challenge scheduling started
EVENT_PRESENTED: Final = "Presented"
EVENT_DOMAIN_VERIFIED: Final = "DomainVerified"
EVENT_PRESENT_ERROR: Final = "PresentError"
EVENT_CLEANUP_ERROR: Final = "CleanUpError"
EVENT_SOLVER_SELECTION: Final = "NoMatchingSolver"  # certmgr: no solver matches an identifier
EVENT_BAD_CONFIG: Final = "BadConfig"  # ingress-shim: malformed annotation or tls entry
EVENT_CREATE_CERTIFICATE: Final = "CreateCertificate"  # ingress-shim
EVENT_UPDATE_CERTIFICATE: Final = "UpdateCertificate"  # ingress-shim
EVENT_DELETE_CERTIFICATE: Final = "DeleteCertificate"  # ingress-shim
