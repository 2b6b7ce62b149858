"""What went wrong with Route 53, in flat categories whose text is the Challenge's reason.

Owns the error types of the Route 53 provider and the reading of botocore's errors: which
codes mean bad credentials, which are worth a retry, and the one-line description
(operation, code, AWS's message, the HTTP status) a user can act on. It must not call AWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from certmgr.dns01.providers import DNS01Error

if TYPE_CHECKING:
    import botocore.exceptions

# Codes AWS answers for credentials that are wrong, expired or not allowed to do the call.
CREDENTIAL_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
# Route 53's throttling answers (400 Throttling / PriorRequestNotComplete) and the
# SDKs' other throttling spellings.
THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "PriorRequestNotComplete",
        "RequestThrottled",
        "SlowDown",
    }
)
HINTS: Final = {
    "InvalidClientTokenId": "check accessKeyID",
    "InvalidAccessKeyId": "check accessKeyID",
    "UnrecognizedClientException": "check accessKeyID",
    "SignatureDoesNotMatch": "check the secret access key in secretAccessKeySecretRef",
    "ExpiredToken": "the credentials have expired",
    "AccessDenied": "the IAM policy must allow this action",
    "AccessDeniedException": "the IAM policy must allow this action",
}


class Route53Error(DNS01Error):
    """A Route 53 step failed; ``str()`` is the message for the Challenge and its Event."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    def with_context(self, prefix: str) -> Route53Error:
        """The same category with ``prefix: `` in front (cert-manager's wording)."""
        return type(self)(f"{prefix}: {self}", code=self.code)


class Route53ConfigError(Route53Error):
    """The solver's configuration cannot work (missing or half credentials, no ambient)."""


class Route53AuthError(Route53Error):
    """AWS refused the credentials, the role could not be assumed, or none were found."""


class Route53ZoneNotFound(Route53Error):
    """No public hosted zone holds the name, or the given hostedZoneID does not exist."""


class Route53Throttled(Route53Error):
    """AWS throttled the call (or answered 5xx): worth asking again after a backoff."""


class Route53ChangeTimeout(Route53Error):
    """The change was accepted but did not reach INSYNC in time."""


def error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_credentials_error(error: botocore.exceptions.ClientError) -> bool:
    return error_code(error) in CREDENTIAL_CODES


def is_retryable(error: botocore.exceptions.ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(error) in THROTTLING_CODES or status in (500, 502, 503, 504)


def describe_client_error(operation: str, error: botocore.exceptions.ClientError) -> str:
    """``ListHostedZonesByName: InvalidClientTokenId: <AWS's message> (HTTP 403; hint)``."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "")).strip()
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    details = [f"HTTP {status}"] if status else []
    if code in HINTS:
        details.append(HINTS[code])
    text = f"{operation}: {code or 'error'}"
    if message:
        text += f": {message}"
    if details:
        text += f" ({'; '.join(details)})"
    return text
