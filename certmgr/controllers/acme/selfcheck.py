"""The HTTP-01 self-check: fetch the token URL ourselves before asking the CA to.

Owns :class:`SelfCheck`: ``GET http://<name>:<port>/.well-known/acme-challenge/<token>``
with the name resolved through the configured DNS server (Pebble's challtestsrv in
tests, so we see what the CA will see) or the system resolver, one short timeout per
fetch, no redirects followed, and cert-manager's wording of what went wrong. Messages
are stable (no addresses of ours, no timings) because they land in Challenge status.
It must not decide how often to check: the challenge controller requeues.

Cheap per check, because every Challenge is checked at least once: a resolved address
is kept for ``resolve_ttl`` seconds of the injected clock (every name of a batch
usually points at the same ingress, and a miss forgets it, so the next check asks the
DNS server again), and connections to the ingress are kept alive and reused. That is
safe because an ingress controller routes each request by its Host header and path, not
each connection: a reused connection still reaches whatever the ingress routes the
token to now. Each check still really fetches the token: nothing of a response is kept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import aiohttp

from certmgr.runtime.clock import Clock, SystemClock

if TYPE_CHECKING:
    from certmgr.controllers.acme.addresslookup import AddressLookup

DEFAULT_TIMEOUT: Final = 2.0
# How long a resolved address is used without asking again (seconds).
DEFAULT_RESOLVE_TTL: Final = 5.0
# How long an idle kept-alive connection stays open (seconds): a batch's checks follow
# each other closely; anything longer only holds sockets.
KEEPALIVE_SECONDS: Final = 5.0
_MAX_BODY: Final = 512


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str = ""


class SelfCheck:
    def __init__(
        self,
        *,
        port: int,
        nameserver: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        resolve_ttl: float = DEFAULT_RESOLVE_TTL,
    ) -> None:
        self._port = port
        self._timeout = timeout
        self._clock: Clock = clock or SystemClock()
        self._resolve_ttl = resolve_ttl
        self._addresses: dict[str, tuple[str, float]] = {}  # name -> (address, expiry)
        self._lookup: AddressLookup | None = None
        # What a failed lookup raises: OSError, and dnspython's errors with dnspython
        # loaded (~6 MB resident) only when a DNS server is configured.
        self._lookup_errors: tuple[type[Exception], ...] = (OSError,)
        if nameserver:
            from certmgr.controllers.acme.addresslookup import LOOKUP_ERRORS, AddressLookup

            self._lookup_errors = (OSError, *LOOKUP_ERRORS)
            host, _, ns_port = nameserver.rpartition(":")
            self._lookup = AddressLookup(
                host=host or nameserver, port=int(ns_port) if host else 53, timeout=timeout
            )
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._lookup is not None:
            self._lookup.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, dns_name: str, token: str) -> str:
        host = f"[{dns_name}]" if ":" in dns_name else dns_name
        port = "" if self._port == 80 else f":{self._port}"
        return f"http://{host}{port}/.well-known/acme-challenge/{token}"

    async def check(self, dns_name: str, token: str, key: str) -> CheckResult:
        result = await self._check(dns_name, token, key)
        if not result.ok:
            # The address may be what is wrong (a DNS change not seen yet): ask again.
            self._addresses.pop(dns_name, None)
        return result

    async def _check(self, dns_name: str, token: str, key: str) -> CheckResult:
        shown = self.url(dns_name, token)
        try:
            address = await self._resolve_cached(dns_name)
        except self._lookup_errors as exc:
            return CheckResult(False, f"failed to resolve '{dns_name}': {_dns_reason(exc)}")
        host = f"[{address}]" if ":" in address else address
        target = f"http://{host}:{self._port}/.well-known/acme-challenge/{token}"
        try:
            async with self._http().get(
                target, headers={"Host": dns_name}, allow_redirects=False
            ) as response:
                if response.status != 200:
                    return CheckResult(
                        False, f"wrong status code '{response.status}', expected '200'"
                    )
                body = (await response.content.read(_MAX_BODY)).decode(errors="replace").strip()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return CheckResult(
                False, f"failed to perform self check GET request '{shown}': {_http_reason(exc)}"
            )
        if body != key:
            return CheckResult(
                False,
                "did not get expected response when querying endpoint, "
                f'expected "{key}" but got: {body[:80]}',
            )
        return CheckResult(True)

    async def _resolve_cached(self, name: str) -> str:
        now = self._clock.monotonic()
        cached = self._addresses.get(name)
        if cached is not None and cached[1] > now:
            return cached[0]
        address = await self._resolve(name)
        self._addresses[name] = (address, now + self._resolve_ttl)
        if len(self._addresses) > 4096:  # bounded: drop what has expired
            self._addresses = {n: e for n, e in self._addresses.items() if e[1] > now}
        return address

    async def _resolve(self, name: str) -> str:
        try:
            return str(ipaddress.ip_address(name))
        except ValueError:
            pass
        if self._lookup is None:
            infos = await asyncio.get_running_loop().getaddrinfo(
                name, self._port, type=socket.SOCK_STREAM
            )
            return str(infos[0][4][0])
        return await self._lookup.resolve(name)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                trust_env=False,
                # Kept alive: the ingress routes each request, not each connection.
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            )
        return self._session


def _dns_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):  # the system resolver's, or a socket's
        return type(exc).__name__
    from certmgr.controllers.acme.addresslookup import lookup_reason

    return lookup_reason(exc)


def _http_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout awaiting response"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return (
            "connection refused"
            if isinstance(exc.os_error, ConnectionRefusedError)
            else ("cannot connect")
        )
    return type(exc).__name__
