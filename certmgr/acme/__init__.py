"""The ACME door: the only code that imports ``acme``/``josepy``.

A narrow async interface over the ``acme`` library's JWS and messages: each method of
:class:`AcmeSession` (the :class:`AcmeClient` seam) is one protocol step, sent with
aiohttp on the event loop; polling is the controllers' (short, growing intervals), never
the library's.
Controllers keep URLs and the frozen dataclasses below across restarts, never library
objects. Modules: ``resources`` (types), ``errors``, ``keys``, ``parsing`` (JSON edge),
``transport`` (JWS exchanges, nonces, retries), ``session`` (the steps),
``chains`` (preferred chain), ``protocol`` (the seam).
"""

from certmgr.acme.chains import choose_chain, top_issuer_common_name
from certmgr.acme.errors import (
    AcmeAccountDoesNotExist,
    AcmeBadNonce,
    AcmeError,
    AcmeRateLimited,
    AcmeUnreachable,
    InvalidAccountKey,
    replaces_refused,
)
from certmgr.acme.keys import AcmeAccountKey, generate_account_key
from certmgr.acme.protocol import AcmeClient, AcmeConnector
from certmgr.acme.resources import (
    CHALLENGE_DNS01,
    CHALLENGE_HTTP01,
    CHALLENGE_TLSALPN01,
    FINAL_STATUSES,
    STATUS_DEACTIVATED,
    STATUS_EXPIRED,
    STATUS_INVALID,
    STATUS_PENDING,
    STATUS_PROCESSING,
    STATUS_READY,
    STATUS_REVOKED,
    STATUS_VALID,
    Account,
    Authorization,
    Challenge,
    DirectoryMeta,
    ExternalAccountBinding,
    Identifier,
    Order,
    Problem,
    RenewalInfo,
)
from certmgr.acme.session import AcmeSession, connect
from certmgr.acme.transport import ExchangeObserver

__all__ = [
    "CHALLENGE_DNS01",
    "CHALLENGE_HTTP01",
    "CHALLENGE_TLSALPN01",
    "FINAL_STATUSES",
    "STATUS_DEACTIVATED",
    "STATUS_EXPIRED",
    "STATUS_INVALID",
    "STATUS_PENDING",
    "STATUS_PROCESSING",
    "STATUS_READY",
    "STATUS_REVOKED",
    "STATUS_VALID",
    "Account",
    "AcmeAccountDoesNotExist",
    "AcmeAccountKey",
    "AcmeBadNonce",
    "AcmeClient",
    "AcmeConnector",
    "AcmeError",
    "AcmeRateLimited",
    "AcmeSession",
    "AcmeUnreachable",
    "Authorization",
    "Challenge",
    "DirectoryMeta",
    "ExchangeObserver",
    "ExternalAccountBinding",
    "Identifier",
    "InvalidAccountKey",
    "Order",
    "Problem",
    "RenewalInfo",
    "choose_chain",
    "connect",
    "generate_account_key",
    "replaces_refused",
    "top_issuer_common_name",
]
