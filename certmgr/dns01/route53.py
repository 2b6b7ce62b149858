"""The Route 53 DNS-01 provider: ``_acme-challenge`` TXT values through the AWS SDK.

Owns the ``route53`` solver block (``region``, ``hostedZoneID``, ``accessKeyID`` /
``accessKeyIDSecretRef``, ``secretAccessKeySecretRef``, ``role``) and the AWS side as
cert-manager's provider does it: one multivalue TXT record set per value
(``SetIdentifier`` = the quoted value), so ``example.com`` and ``*.example.com`` share a
name, UPSERT is idempotent and DELETE removes only our value; the public hosted zone
found by name; ``AssumeRole``; the change followed to ``INSYNC`` before ``present`` is
done. The SDK side (clients, credentials, threads) is :mod:`.route53_clients`. Must not sleep:
a change still ``PENDING`` or a throttled call makes ``present`` return the seconds
after which it wants to be called again; must never log or raise a secret.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import structlog

from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.dns01.route53_clients import (
    Route53Settings,
    call,
    credential_problem,
    forget_client,
    in_thread,
    route53_client,
)
from certmgr.dns01.route53_errors import (
    Route53AuthError,
    Route53ChangeTimeout,
    Route53ConfigError,
    Route53Error,
    Route53Throttled,
    Route53ZoneNotFound,
)
from certmgr.dns01.secrets import secret_key_value
from certmgr.runtime.clock import Clock

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.literals import ChangeActionType
    from mypy_boto3_route53.type_defs import ResourceRecordSetTypeDef

log = structlog.get_logger(__name__)

TXT_TTL: Final = 10  # cert-manager's
CHANGE_COMMENT: Final = "Managed by certmgr"
# cert-manager gives a change 2 minutes to be INSYNC (AWS documents "within 60 seconds").
INSYNC_TIMEOUT: Final = 120.0
# GetChange after 1 s, then doubling to every 4 s (cert-manager polls every 4 s).
INSYNC_FIRST_POLL: Final = 1.0
INSYNC_POLL_CAP: Final = 4.0
# Throttled (Route 53 allows 5 requests/s per account): asked again after a backoff this
# many times in a row, as the AWS SDK's standard retryer would, before it is an error.
THROTTLED_RETRIES: Final = 3
BACKOFF_BASE: Final = 1.0
BACKOFF_CAP: Final = 20.0
# Changes in flight are remembered per Challenge value; far more than can be in flight.
MAX_IN_FLIGHT: Final = 10_000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between throttled calls: ``base * 2**n`` capped, with "equal jitter"."""

    retries: int = THROTTLED_RETRIES
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP

    def delay(self, retry: int, *, jitter: float) -> float:
        """The wait before retry number ``retry`` (0-based); ``jitter`` is in [0, 1)."""
        full = min(self.cap, self.base * 2.0**retry)
        return full / 2 + full / 2 * jitter


@dataclass(frozen=True, slots=True)
class InFlight:
    """A change accepted for one Challenge value and followed to INSYNC, or the throttled
    calls in a row before it was accepted."""

    change_id: str = ""
    submitted: float = 0.0
    polls: int = 0
    throttled: int = 0


# (Challenge uid, TXT value) -> its change in flight. The controller builds a provider per
# call, so what outlives a call lives here; entries go on INSYNC, timeout and clean-up.
_in_flight: dict[tuple[str, str], InFlight] = {}


def txt_value(value: str) -> str:
    """Route 53 wants TXT data quoted; a key authorization digest needs no escaping."""
    return f'"{value}"'


def without_dot(name: str) -> str:
    return name[:-1] if name.endswith(".") else name


def with_dot(name: str) -> str:
    return name if name.endswith(".") else name + "."


def best_zone(name: str, zones: Sequence[str]) -> str | None:
    """The longest of ``zones`` that ``name`` is in (cert-manager's ``FindBestMatch``)."""
    wanted = with_dot(name).lower()
    best: str | None = None
    for zone in zones:
        candidate = with_dot(zone).lower()
        if wanted == candidate:
            return zone
        inside = candidate == "." or wanted.endswith("." + candidate)
        if inside and (best is None or len(candidate) > len(with_dot(best))):
            best = zone
    return best


class Route53Provider:
    """Presents and cleans up TXT values in Route 53 for one solver block."""

    def __init__(
        self,
        config: Mapping[str, Any],
        context: ProviderContext,
        *,
        endpoint_url: str | None = None,
        backoff: Backoff = Backoff(),
        insync_timeout: float = INSYNC_TIMEOUT,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._config = _checked(config)
        self._context = context
        self._endpoint_url = endpoint_url
        self._backoff = backoff
        self._insync_timeout = insync_timeout
        self._jitter = jitter

    @property
    def _clock(self) -> Clock:
        return self._context.clock

    async def present(self, request: ChallengeRequest) -> float | None:
        """UPSERT our value; None once Route 53 reports the change INSYNC, else the
        seconds after which to call again (change PENDING, or the call throttled)."""
        flight_key = (request.uid, request.key)
        flight = _in_flight.get(flight_key, InFlight())
        try:
            if flight.change_id:
                return await self._follow(request, flight)
            return await self._submit(request, flight_key)
        except Route53Throttled as error:
            flight = _in_flight.get(flight_key, flight)
            if flight.throttled >= self._backoff.retries:
                _in_flight.pop(flight_key, None)
                raise error.with_context(
                    f"still throttled after {flight.throttled} retries"
                ) from error
            wait = self._backoff.delay(flight.throttled, jitter=self._jitter())
            _remember(flight_key, replace(flight, throttled=flight.throttled + 1))
            log.info("route53_throttled", fqdn=request.resolved_fqdn, error=str(error), wait=wait)
            return wait
        except Route53Error:
            _in_flight.pop(flight_key, None)
            raise

    async def clean_up(self, request: ChallengeRequest) -> None:
        """DELETE our value only; a value already gone is success (as cert-manager).
        Nothing waits for this change: no one looks for the value any more."""
        _in_flight.pop((request.uid, request.key), None)
        async with self._client(request) as client:
            await self._change(client, "DELETE", request=request)

    # -- steps ---------------------------------------------------------------------

    async def _submit(self, request: ChallengeRequest, flight_key: tuple[str, str]) -> float | None:
        async with self._client(request) as client:
            change_id, status = await self._change(client, "UPSERT", request=request)
        if status == "INSYNC":
            _in_flight.pop(flight_key, None)
            return None
        _remember(flight_key, InFlight(change_id=change_id, submitted=self._clock.monotonic()))
        return INSYNC_FIRST_POLL

    async def _follow(self, request: ChallengeRequest, flight: InFlight) -> float | None:
        """One GetChange for the change in flight: None once INSYNC, else the next wait."""
        flight_key = (request.uid, request.key)
        async with self._client(request) as client:
            answer = await call(
                "GetChange",
                lambda: client.get_change(Id=flight.change_id),
                context="failed to query Route 53 change status",
            )
        status = answer["ChangeInfo"]["Status"]
        log.debug("route53_change_status", change_id=flight.change_id, status=status)
        if status == "INSYNC":
            _in_flight.pop(flight_key, None)
            return None
        elapsed = self._clock.monotonic() - flight.submitted
        if elapsed >= self._insync_timeout:
            _in_flight.pop(flight_key, None)
            raise Route53ChangeTimeout(
                f"Route 53 change {flight.change_id} was not INSYNC after {self._insync_timeout:g}s"
            )
        _remember(flight_key, replace(flight, polls=flight.polls + 1, throttled=0))
        wait = min(INSYNC_POLL_CAP, INSYNC_FIRST_POLL * 2.0 ** (flight.polls + 1))
        return min(wait, self._insync_timeout - elapsed)

    async def _change(
        self, client: Route53Client, action: ChangeActionType, *, request: ChallengeRequest
    ) -> tuple[str, str]:
        """One change of our record set: (change id, status); ("", "INSYNC") for a DELETE
        of a value that is gone."""
        zone_id = await self._hosted_zone_id(client, request)
        record = txt_value(request.key)
        record_set: ResourceRecordSetTypeDef = {
            "Name": request.resolved_fqdn,
            "Type": "TXT",
            "TTL": TXT_TTL,
            "MultiValueAnswer": True,
            "SetIdentifier": record,
            "ResourceRecords": [{"Value": record}],
        }
        batch = {
            "Comment": CHANGE_COMMENT,
            "Changes": [{"Action": action, "ResourceRecordSet": record_set}],
        }
        try:
            answer = await call(
                "ChangeResourceRecordSets",
                lambda: client.change_resource_record_sets(
                    HostedZoneId=zone_id,
                    ChangeBatch=batch,  # type: ignore[arg-type]
                ),
                context="failed to change Route 53 record set",
            )
        except Route53Error as error:
            if action == "DELETE" and error.code == "InvalidChangeBatch":
                # Route 53's answer for a record set that is not there: cleaned up already.
                log.debug("route53_record_already_gone", fqdn=request.resolved_fqdn)
                return "", "INSYNC"
            raise
        info = answer["ChangeInfo"]
        log.info(
            "route53_change_submitted",
            action=action,
            fqdn=request.resolved_fqdn,
            zone_id=zone_id,
            change_id=info["Id"],
            status=info["Status"],
        )
        return info["Id"], info["Status"]

    async def _hosted_zone_id(self, client: Route53Client, request: ChallengeRequest) -> str:
        if self._config.hosted_zone_id:
            return self._config.hosted_zone_id.removeprefix("/hostedzone/")
        context = "failed to determine Route 53 hosted zone ID"
        answer = await call(
            "ListHostedZonesByName",
            lambda: client.list_hosted_zones_by_name(DNSName=without_dot(request.resolved_zone)),
            context=context,
        )
        public = {
            hosted["Name"]: hosted["Id"]
            for hosted in answer["HostedZones"]
            if not hosted.get("Config", {}).get("PrivateZone", False)
        }
        best = best_zone(request.resolved_fqdn, list(public))
        if best is None:
            raise Route53ZoneNotFound(
                f"{context}: zone {with_dot(request.resolved_zone)} not found in Route 53 "
                f"for domain {request.resolved_fqdn}"
            )
        return public[best].removeprefix("/hostedzone/")

    # -- credentials -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _client(self, request: ChallengeRequest) -> AsyncIterator[Route53Client]:
        """The client for the block's current credentials (cached while they work)."""
        settings = await self._settings(request)
        problem = credential_problem(settings)
        if problem is not None:
            raise Route53ConfigError(problem)
        client = await in_thread(lambda: route53_client(settings))
        try:
            yield client
        except Route53AuthError:
            forget_client(settings)
            raise

    async def _settings(self, request: ChallengeRequest) -> Route53Settings:
        """The block's settings with its Secrets read (cert-manager's order and words)."""
        config = self._config

        async def read(selector: Mapping[str, Any] | None, field: str) -> str:
            value = await secret_key_value(
                self._context.client,
                selector,
                namespace=request.resource_namespace,
                field=f"route53 {field}",
            )
            return value.decode(errors="replace")

        access_key_id = config.access_key_id
        if config.access_key_id_ref is not None:
            access_key_id = await read(config.access_key_id_ref, "accessKeyIDSecretRef")
        secret_access_key = ""
        if (config.secret_access_key_ref or {}).get("name"):
            secret_access_key = await read(config.secret_access_key_ref, "secretAccessKeySecretRef")
        return Route53Settings(
            region=config.region,
            hosted_zone_id=config.hosted_zone_id,
            role=config.role,
            access_key_id=access_key_id.strip(),
            secret_access_key=secret_access_key.strip(),
            ambient=request.allow_ambient_credentials,
            endpoint_url=self._endpoint_url,
        )


@dataclass(frozen=True, slots=True)
class Route53Config:
    """The ``route53`` block as cert-manager reads it (Secrets not yet read)."""

    region: str
    hosted_zone_id: str
    role: str
    access_key_id: str
    access_key_id_ref: Mapping[str, Any] | None
    secret_access_key_ref: Mapping[str, Any] | None


def _checked(config: Mapping[str, Any]) -> Route53Config:
    """cert-manager's checks of the block, before any Secret is read."""
    access_key_id = str(config.get("accessKeyID") or "").strip()
    access_key_id_ref = config.get("accessKeyIDSecretRef")
    if access_key_id_ref is not None:
        if access_key_id:
            raise DNS01Error(
                "route53 accessKeyID and accessKeyIDSecretRef cannot both be specified"
            )
        if not isinstance(access_key_id_ref, Mapping) or not access_key_id_ref.get("key"):
            raise DNS01Error("route53 accessKeyIDSecretRef requires a key field to be specified")
        if not access_key_id_ref.get("name"):
            raise DNS01Error("route53 accessKeyIDSecretRef requires a name field to be specified")
    secret_ref = config.get("secretAccessKeySecretRef")
    if secret_ref is not None and not isinstance(secret_ref, Mapping):
        raise DNS01Error("route53 secretAccessKeySecretRef must be an object")
    auth = config.get("auth")
    if auth:
        # cert-manager exchanges a ServiceAccount token (TokenRequest) for
        # AssumeRoleWithWebIdentity; certmgr does not create tokens.
        raise DNS01Error(
            "route53 auth.kubernetes.serviceAccountRef is not supported by certmgr: use "
            "accessKeyID/secretAccessKeySecretRef, role, or ambient credentials"
        )
    return Route53Config(
        region=str(config.get("region") or ""),
        hosted_zone_id=str(config.get("hostedZoneID") or ""),
        role=str(config.get("role") or ""),
        access_key_id=access_key_id,
        access_key_id_ref=access_key_id_ref,
        secret_access_key_ref=secret_ref,
    )


def build(config: Mapping[str, Any], context: ProviderContext) -> Route53Provider:
    return Route53Provider(config, context)


def forget_in_flight() -> None:
    """Forget every change in flight (tests: the local Route 53 was reset)."""
    _in_flight.clear()


def _remember(flight_key: tuple[str, str], flight: InFlight) -> None:
    if flight_key not in _in_flight and len(_in_flight) >= MAX_IN_FLIGHT:
        # Dropping the oldest only costs its Challenge a second UPSERT (idempotent).
        _in_flight.pop(next(iter(_in_flight)))
    _in_flight[flight_key] = flight
