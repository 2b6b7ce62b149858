"""The AWS SDK side of the Route 53 provider: credentials in, a Route 53 client out.

Owns ``Route53Settings`` (a solver block with its Secrets read), cert-manager's checks of
its credentials, the clients (static keys, ``AssumeRole`` or the SDK's ambient chain) and
their cache, the private executor every blocking botocore call runs on, and botocore's
failures turned into :mod:`certmgr.dns01.route53_errors` categories. Must not know what
the calls are for (:mod:`certmgr.dns01.route53` does), retry or sleep (botocore's retries
are off), or let a secret reach a log line or an error, botocore's debug log of the wire
included. botocore is imported on first use, in a worker thread, so a controller without
Route 53 solvers never loads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from certmgr import __version__
from certmgr.dns01.route53_errors import (
    Route53AuthError,
    Route53Error,
    Route53Throttled,
    Route53ZoneNotFound,
    describe_client_error,
    error_code,
    is_credentials_error,
    is_retryable,
)

if TYPE_CHECKING:
    import botocore.exceptions
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_sts import STSClient

T = TypeVar("T")

# cert-manager names the assumed role's session so; trust policies may test it.
ROLE_SESSION_NAME: Final = "cert-manager"
# Threads for AWS calls: a private pool, so slow AWS answers never fill the loop's default
# executor (aiohttp's DNS lookups use it).
EXECUTOR_THREADS: Final = 4

# Clients kept per solver identity (keys, role, region): a client costs ~10 ms of Python
# under the GIL and AssumeRole a round trip. Assumed-role clients are used until 5 minutes
# before their credentials expire.
CLIENT_CACHE_SIZE: Final = 64
ASSUMED_ROLE_MARGIN: Final = timedelta(minutes=5)

# botocore's debug lines carry the wire: the signed request's headers (a session token),
# the canonical request, and response bodies (AssumeRole's temporary secret access key).
# They are dropped at these loggers whatever level the process logs at; botocore's other
# debug lines (which handler ran, which endpoint) stay.
WIRE_LOGGERS: Final = ("botocore.auth", "botocore.endpoint", "botocore.parsers")

_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
# One botocore loader for every client: the service models are parsed once (~90 ms),
# after that a client costs ~10 ms. Clients are created under the lock.
_clients_lock = threading.Lock()
_loader: Any = None


@dataclass(frozen=True, slots=True)
class _Cached:
    client: Route53Client
    expires: datetime | None


_cache: OrderedDict[tuple[str, ...], _Cached] = OrderedDict()


@dataclass(frozen=True, slots=True)
class Route53Settings:
    """One Route 53 solver, its Secrets already read. ``secret_access_key`` is never shown."""

    region: str = ""
    hosted_zone_id: str = ""
    role: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    # Whether credentials may come from the environment (cert-manager's ambient rule).
    ambient: bool = False
    # Tests only: the Route 53 / STS endpoint. cert-manager has no such field; the AWS
    # SDK's own AWS_ENDPOINT_URL_ROUTE_53 / AWS_ENDPOINT_URL_STS variables apply anyway.
    endpoint_url: str | None = None


def credential_problem(settings: Route53Settings) -> str | None:
    """cert-manager's checks before any call: None when the credentials can be used."""
    has_id = bool(settings.access_key_id)
    has_secret = bool(settings.secret_access_key)
    if not has_id and not has_secret and not settings.ambient:
        return (
            "unable to construct route53 provider: empty credentials; perhaps you meant to "
            "enable ambient credentials?"
        )
    if has_id != has_secret:
        return (
            "unable to construct route53 provider: only one of access and secret key was provided"
        )
    return None


async def call(operation: str, request: Callable[[], T], *, context: str) -> T:
    """One AWS call in a worker thread, its failure as a :class:`Route53Error`."""
    try:
        return await in_thread(request)
    except Exception as error:
        converted = _converted(operation, error, context=context)
        if converted is error:
            raise
        raise converted from None


def _converted(operation: str, error: Exception, *, context: str) -> Exception:
    # botocore is imported already: the call ran it on its thread.
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.ClientError):
        return classified(operation, error).with_context(context)
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return Route53AuthError(
            f"{context}: {operation}: no AWS credentials found in the environment "
            "(ambient credentials); set accessKeyID and secretAccessKeySecretRef"
        )
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return Route53Error(f"{context}: {operation}: {error}")
    return error


def classified(operation: str, error: botocore.exceptions.ClientError) -> Route53Error:
    code = error_code(error)
    message = describe_client_error(operation, error)
    if is_retryable(error):
        return Route53Throttled(message, code=code)
    if is_credentials_error(error):
        return Route53AuthError(message, code=code)
    if code == "NoSuchHostedZone":
        return Route53ZoneNotFound(message, code=code)
    return Route53Error(message, code=code)


def route53_client(settings: Route53Settings) -> Route53Client:
    """A client for ``settings``: the cached one while its credentials last, else new."""
    key = _cache_key(settings)
    with _clients_lock:
        cached = _cache.get(key)
        if cached is not None and (cached.expires is None or cached.expires > _now()):
            _cache.move_to_end(key)
            return cached.client
    client, expires = _new_client(settings)
    with _clients_lock:
        _cache[key] = _Cached(client, expires)
        _cache.move_to_end(key)
        while len(_cache) > CLIENT_CACHE_SIZE:
            # Not closed: a call on another thread may still use it; GC closes it.
            _cache.popitem(last=False)
    return client


def forget_client(settings: Route53Settings) -> None:
    """Drop the cached client (AWS refused its credentials: build afresh next time)."""
    with _clients_lock:
        _cache.pop(_cache_key(settings), None)


def forget_clients() -> None:
    """Drop every cached client (tests: the local Route 53 was reset)."""
    with _clients_lock:
        _cache.clear()


def _cache_key(settings: Route53Settings) -> tuple[str, ...]:
    secret = hashlib.sha256(settings.secret_access_key.encode()).hexdigest()
    return (
        settings.region,
        settings.endpoint_url or "",
        settings.access_key_id,
        secret,
        settings.role,
        str(settings.ambient),
    )


def _now() -> datetime:
    # AWS's credential expiry is wall time on AWS's clock, not the controller's.
    return datetime.now(UTC)


def _new_client(settings: Route53Settings) -> tuple[Route53Client, datetime | None]:
    expires: datetime | None = None
    credentials: dict[str, str] = {}
    if settings.access_key_id:
        credentials = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": settings.secret_access_key,
        }
    if settings.role:
        credentials, expires = _assumed_role(settings, credentials)
    with _clients_lock:
        client: Route53Client = _session().create_client(
            "route53", **_client_options(settings), **credentials
        )
    return client, expires


def _assumed_role(
    settings: Route53Settings, credentials: dict[str, str]
) -> tuple[dict[str, str], datetime]:
    import botocore.exceptions

    with _clients_lock:
        sts: STSClient = _session().create_client("sts", **_client_options(settings), **credentials)
    try:
        answer = sts.assume_role(RoleArn=settings.role, RoleSessionName=ROLE_SESSION_NAME)
    except botocore.exceptions.ClientError as error:
        raise classified("AssumeRole", error).with_context("unable to assume role") from None
    except botocore.exceptions.NoCredentialsError:
        raise Route53AuthError(
            "unable to assume role: no AWS credentials found in the environment (ambient "
            "credentials)"
        ) from None
    except botocore.exceptions.BotoCoreError as error:
        raise Route53Error(f"unable to assume role: {error}") from None
    finally:
        sts.close()
    assumed = answer["Credentials"]
    role_credentials = {
        "aws_access_key_id": assumed["AccessKeyId"],
        "aws_secret_access_key": assumed["SecretAccessKey"],
        "aws_session_token": assumed["SessionToken"],
    }
    return role_credentials, assumed["Expiration"] - ASSUMED_ROLE_MARGIN


def _client_options(settings: Route53Settings) -> dict[str, Any]:
    import botocore.config

    options: dict[str, Any] = {
        "config": botocore.config.Config(
            # Retries are the controller's (on its clock): a call here never sleeps.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra=f"certmgr/{__version__}",
        )
    }
    if settings.region:
        options["region_name"] = settings.region
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    return options


class _NoWireDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _drop_wire_debug_logs() -> None:
    for name in WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoWireDebug) for f in logger.filters):
            logger.addFilter(_NoWireDebug())


def _session() -> Any:
    """A fresh botocore session (its own credentials and config) on the shared loader."""
    import botocore.session

    _drop_wire_debug_logs()

    global _loader
    session = botocore.session.Session()
    if _loader is None:
        _loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _loader)
    return session


async def in_thread(call: Callable[[], T]) -> T:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="route53")
        executor = _executor
    return await asyncio.get_running_loop().run_in_executor(executor, call)
