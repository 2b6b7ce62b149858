"""Errors raised by the ACME door: flat categories, mapped once at the boundary.

Owns the exception types controllers catch. Every ``str()`` is stable (no nonces,
request ids, object addresses or timestamps of ours) because controllers copy it into
resource status, and a message that changes on every retry turns into an update storm.
It must not import the ``acme`` library: mapping library errors is
:mod:`certmgr.acme.transport`'s job.

The hierarchy is flat on purpose (httpcore's habit): ``AcmeError`` is the problem the
CA reported; the subclasses are the categories a controller acts on differently.
"""

from __future__ import annotations

from certmgr.acme.resources import Problem


class AcmeError(Exception):
    """The CA answered with a problem document (RFC 8555 section 6.7), or nonsense.

    ``problem_type`` is the full URN (``urn:ietf:params:acme:error:rejectedIdentifier``),
    ``status`` the HTTP status (``None`` when there was no response at all).
    """

    def __init__(self, problem: Problem, *, retry_after: float | None = None) -> None:
        self.problem = problem
        # The answer's Retry-After in seconds, when it had one (5xx, rateLimited).
        self.retry_after = retry_after
        super().__init__(_describe(problem))

    @property
    def problem_type(self) -> str:
        return self.problem.type

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def status(self) -> int | None:
        return self.problem.status

    @property
    def code(self) -> str:
        """The short ACME error code (``rejectedIdentifier``) or ``""`` for other types."""
        return self.problem.code


class AcmeRateLimited(AcmeError):
    """``rateLimited``: wait ``retry_after`` seconds (``None``: the CA did not say)."""

    def __init__(self, problem: Problem, *, retry_after: float | None) -> None:
        super().__init__(problem, retry_after=retry_after)


class AcmeAccountDoesNotExist(AcmeError):
    """``accountDoesNotExist``: the CA forgot the account (Pebble restart): re-register."""


class AcmeBadNonce(AcmeError):
    """``badNonce`` even after the door's own retries; transient, retry later."""


class AcmeUnreachable(AcmeError):
    """No HTTP answer: connection refused, DNS, TLS verification, or a timeout."""


class AcmeWriteWithheld(Exception):
    """A step that changes state at the CA was not sent: this process may no longer lead
    (its Lease's renew deadline passed). Not an ``AcmeError``: the CA said nothing, and
    the Order or Challenge must not be failed for it; the process is stepping down."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"{action} withheld: leadership lost")


class InvalidAccountKey(ValueError):
    """The account key PEM could not be loaded. The message never contains key bytes."""


def replaces_refused(error: AcmeError) -> bool:
    """The CA refused a new order's ``replaces`` (RFC 9773 section 5): ``alreadyReplaced``,
    or a ``malformed`` problem about it (a CertID the CA does not know). The order may
    be retried without ``replaces``."""
    if error.code == "alreadyReplaced":
        return True
    return error.code == "malformed" and "replace" in error.detail.lower()


def _describe(problem: Problem) -> str:
    # The shape of Go's acme.Error ("400 urn:...:rejectedIdentifier: detail") so status
    # messages read the same as cert-manager's.
    status = f"{problem.status} " if problem.status is not None else ""
    return f"{status}{problem.type}: {problem.detail}"
