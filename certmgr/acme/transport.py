"""Signed HTTP exchanges with an ACME CA: one JWS request, one reply, typed errors.

Owns the HTTP connections to the CA (one aiohttp session per account, on the event
loop), JWS signing (the ``acme`` library's ``jws``), the nonce pool, the ``badNonce``
retries and the mapping of every failure to :mod:`certmgr.acme.errors`. It must not know
what a request means (that is :mod:`certmgr.acme.session`) and must never sleep or poll.

Nonces: every reply's ``Replay-Nonce`` is kept, error replies' too (RFC 8555 6.5), in
one pool for the account, so ``newNonce`` is asked only when the pool is empty.

Environment, as ``requests`` reads it but once: proxies per origin (so ``NO_PROXY``
applies), ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` at construction, certifi's bundle
for a plain ``verify=True``. ``~/.netrc`` is not read: a CA authenticates requests by
their JWS, never by HTTP basic auth.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import json
import os
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import certifi
from acme import jws
from josepy.b64 import b64decode, b64encode
from multidict import CIMultiDictProxy

from certmgr.acme.errors import (
    AcmeAccountDoesNotExist,
    AcmeBadNonce,
    AcmeError,
    AcmeRateLimited,
    AcmeUnreachable,
    AcmeWriteWithheld,
)
from certmgr.acme.keys import AcmeAccountKey
from certmgr.acme.lastmoment import Guard, GuardedBody, GuardingConnector, withheld_by
from certmgr.acme.parsing import malformed, parse_link_header, parse_problem
from certmgr.acme.proxies import environment_proxies, select_proxy
from certmgr.acme.resources import Problem

UNREACHABLE = "urn:certmgr:acme:unreachable"
JOSE_CONTENT_TYPE = "application/jose+json"
# An attempt is two fresh nonces, as the library's own retry made it. Pebble rejects 5 %
# by default; twelve rejections in a row happen about once in 10^15 requests.
DEFAULT_BAD_NONCE_ATTEMPTS = 6
# Exchanges in flight per account. Go's client (cert-manager, lego) sets no bound; this
# one keeps a burst (every Order and Challenge of a batch) from opening a connection
# each. 16 as the library reference's threads in bench/issuance.py: 8 queued a batch of
# 100 behind the pool (9.4-10.1 against 11.4-13.6 certificates/s, alternated).
DEFAULT_MAX_CONCURRENCY = 16
# The action of an exchange nobody named (cert-manager's label value for that case).
UNNAMED_ACTION = "unnamed_action"
# Nonces kept at most; more only come from replies to requests already in flight.
_NONCE_POOL_LIMIT = 64


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful (2xx) answer: what the session needs, no library objects."""

    status: int
    body: object
    text: str
    location: str | None
    links: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]

    def links_to(self, relation: str) -> tuple[str, ...]:
        return tuple(url for rel, url in self.links if rel == relation)


@dataclass(frozen=True, slots=True)
class _Response:
    """One HTTP answer, read whole."""

    status: int
    content: bytes
    headers: CIMultiDictProxy[str]

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> object:
        """The body as JSON, None when it is not JSON."""
        try:
            body: object = json.loads(self.content)
        except ValueError:
            return None
        return body


class ExchangeObserver(Protocol):
    """Told about every HTTP exchange with the CA, nonce fetches and retries included
    (metrics such as cert-manager's ``certmanager_http_acme_client_request_count``).
    ``action`` names the protocol step the exchange belongs to (``get_directory``,
    ``finalize_order``...; a nonce fetch carries the action of the request that needed
    it), ``status`` is None when no response arrived. Called on the event loop: it must
    not block."""

    def __call__(
        self, *, method: str, url: str, action: str, status: int | None, seconds: float
    ) -> None: ...


class _Environment:
    """What ``requests``' ``trust_env`` would read per request, read once (see the module
    docstring)."""

    def __init__(self, verify: bool | str) -> None:
        self.verify: bool | str = verify
        if verify is True:
            # requests' own rule: these variables replace a plain verify=True.
            self.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}
        # Per origin too: requests' choice reads only the scheme and the host.
        self._proxy: dict[tuple[str, str], str | None] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        return dict(self._proxies_of(_origin(url), url))

    def _proxies_of(self, origin: tuple[str, str], url: str) -> dict[str, str]:
        proxies = self._proxies.get(origin)
        if proxies is None:
            proxies = environment_proxies(url)
            self._proxies[origin] = proxies
        return proxies

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for ``url`` (requests' own choice among the variables), or None."""
        origin = _origin(url)
        try:
            return self._proxy[origin]
        except KeyError:
            pass
        proxy = select_proxy(url, dict(self._proxies_of(origin, url))) or None
        self._proxy[origin] = proxy
        return proxy

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What aiohttp verifies the CA's certificate with (False: not at all)."""
        if self.verify is False:
            return False
        bundle = certifi.where() if self.verify is True else self.verify
        try:
            stat = os.stat(bundle)
        except OSError:
            return ssl.create_default_context(cafile=bundle)  # raises as it always did
        return _trust_context(bundle, stat.st_mtime_ns, stat.st_size)


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


# One context per CA bundle as it is on disk (its path, mtime and size): loading certifi's
# bundle costs ~0.7-0.9 MB of OpenSSL's heap per context, and each account (each ACME
# issuer, each reconnect) built its own. A bundle changed on disk gets a new context.
# Contexts are shareable: aiohttp shares its own defaults between every connector.
@functools.lru_cache(maxsize=8)
def _trust_context(bundle: str, mtime_ns: int, size: int) -> ssl.SSLContext:
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


class AcmeTransport:
    """Signs and sends requests for one account key; at most ``max_concurrency`` at once."""

    def __init__(
        self,
        account_key: AcmeAccountKey,
        *,
        verify: bool | str,
        user_agent: str,
        timeout_seconds: int = 30,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        bad_nonce_attempts: int = DEFAULT_BAD_NONCE_ATTEMPTS,
        observer: ExchangeObserver | None = None,
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self._key = account_key
        self._observer = observer
        self._may_write = may_write
        self._environment = _Environment(verify)
        self._user_agent = user_agent
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_concurrency = max_concurrency
        self._bad_nonce_attempts = bad_nonce_attempts
        self._session: aiohttp.ClientSession | None = None
        self._nonces: list[bytes] = []
        self.new_nonce_url: str | None = None

    async def get_directory(self, url: str) -> Reply:
        """The unsigned GET of the directory."""
        return await self.get(url, action="get_directory")

    async def get(self, url: str, *, action: str) -> Reply:
        """An unsigned GET (the directory, renewal information: RFC 9773 section 4.2)."""
        response = await self._send("GET", url, action=action)
        if not response.ok:
            raise _problem_error(response)
        reply = _reply(response)
        if reply.body is None:
            what = "directory" if action == "get_directory" else action.replace("_", " ")
            raise malformed(f"{what} (not JSON)", status=response.status)
        return reply

    async def post(
        self,
        url: str,
        body: Mapping[str, Any] | None,
        *,
        account_uri: str | None,
        accept: str | None = None,
        action: str = UNNAMED_ACTION,
    ) -> Reply:
        """A JWS POST; ``body=None`` is POST-as-GET. ``account_uri=None`` signs with the
        public key (``jwk``) instead of the account URL (``kid``): only newAccount.
        ``action`` names the step for the observer."""
        # EAB bindings are josepy objects inside the dict; they serialise themselves.
        payload = (
            b""
            if body is None
            else json.dumps(body, default=lambda o: o.to_partial_json()).encode()
        )
        headers = {"Content-Type": JOSE_CONTENT_TYPE}
        if accept:
            headers["Accept"] = accept
        tries = 2 * self._bad_nonce_attempts
        for attempt in range(1, tries + 1):
            nonce = await self._nonce(action)
            # Asked after the nonce fetch (nothing is sent once the Lease is lost), and again
            # once the connection is ready, just before the request is written (lastmoment):
            # a process frozen in between must not send what it decided before it froze.
            guard = self._write_guard(action) if body is not None else None
            try:
                if guard is not None:
                    guard()
            except AcmeWriteWithheld:
                self._keep_nonce(nonce)
                raise
            signed = _signed(self._key, payload, nonce=nonce, url=url, kid=account_uri)
            response = await self._send(
                "POST", url, action=action, data=signed, headers=headers, guard=guard
            )
            fresh = _replay_nonce(response)
            if fresh is not None:
                self._keep_nonce(fresh)
            if response.ok:
                if fresh is None:
                    raise malformed("reply without Replay-Nonce", status=response.status)
                return _reply(response)
            error = _problem_error(response)
            if error.code != "badNonce":
                raise error
            if attempt == tries:
                # Pebble's detail names the rejected nonce: keep the message stable.
                detail = f"the ACME server rejected {tries} fresh nonces in a row"
                raise AcmeBadNonce(Problem(error.problem_type, detail, error.status))
        raise AssertionError("unreachable: the loop returns or raises")

    def _write_guard(self, action: str) -> Guard | None:
        """Raises AcmeWriteWithheld when the write may no longer be sent."""
        if self._may_write is None:
            return None
        may_write = self._may_write

        def guard() -> None:
            if not may_write():
                raise AcmeWriteWithheld(action)

        return guard

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- nonces ------------------------------------------------------------------

    async def _nonce(self, action: str) -> bytes:
        if self._nonces:
            return self._nonces.pop()
        if self.new_nonce_url is None:
            raise RuntimeError("AcmeTransport has no newNonce URL: fetch the directory first")
        response = await self._send("HEAD", self.new_nonce_url, action=action)
        if not response.ok:
            raise _problem_error(response)
        nonce = _replay_nonce(response)
        if nonce is None:
            raise malformed("reply without Replay-Nonce", status=response.status)
        return nonce

    def _keep_nonce(self, nonce: bytes) -> None:
        if len(self._nonces) < _NONCE_POOL_LIMIT:
            self._nonces.append(nonce)

    # -- HTTP --------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = GuardingConnector(
                ssl=self._environment.ssl_context(), limit=self._max_concurrency
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": self._user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def _send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        guard: Guard | None = None,
    ) -> _Response:
        exchange = functools.partial(
            self._exchange, method, url, action=action, data=data, headers=headers, guard=guard
        )
        try:
            return await exchange()
        except aiohttp.ServerDisconnectedError:
            # A kept-alive connection the CA had closed (a restart, an idle timeout). The
            # same bytes once more: a JWS the CA did read is refused as a replayed nonce.
            pass
        try:
            return await exchange()
        except aiohttp.ServerDisconnectedError as exc:
            raise _unreachable(url, exc) from exc

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        action: str,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        guard: Guard | None = None,
    ) -> _Response:
        started = time.perf_counter()
        status: int | None = None
        body = (
            data
            if guard is None or data is None
            else GuardedBody(data, guard=guard, content_type=JOSE_CONTENT_TYPE)
        )
        try:
            async with self._http().request(
                method,
                url,
                data=body,
                headers=headers,
                proxy=self._environment.proxy_for(url),
            ) as response:
                content = await response.read()
                status = response.status
                return _Response(status, content, response.headers)
        except aiohttp.ServerDisconnectedError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            withheld = withheld_by(exc, AcmeWriteWithheld)
            if withheld is not None:
                raise withheld from None
            raise _unreachable(url, exc) from exc
        finally:
            if self._observer is not None:
                elapsed = time.perf_counter() - started
                self._observer(
                    method=method, url=url, action=action, status=status, seconds=elapsed
                )


def _signed(
    key: AcmeAccountKey, payload: bytes, *, nonce: bytes, url: str, kid: str | None
) -> bytes:
    """The flattened JWS of RFC 8555 6.2. With an account URL the protected header is
    written here (josepy's generic field machinery cost ~0.1 ms a request); newAccount,
    which carries the public key, goes through the library."""
    if kid is None:
        return str(
            jws.JWS.sign(payload, key=key.jwk, alg=key.algorithm, nonce=nonce, url=url).json_dumps()
        ).encode()
    header = {"alg": key.algorithm.name, "kid": kid, "nonce": b64encode(nonce).decode(), "url": url}
    protected = b64encode(json.dumps(header).encode())
    encoded_payload = b64encode(payload)
    signature = key.sign(protected + b"." + encoded_payload)
    return json.dumps(
        {
            "protected": protected.decode(),
            "payload": encoded_payload.decode(),
            "signature": b64encode(signature).decode(),
        }
    ).encode()


def _replay_nonce(response: _Response) -> bytes | None:
    value = response.headers.get("Replay-Nonce")
    if not value:
        return None
    try:
        return b64decode(value)
    except ValueError:
        return None


def _reply(response: _Response) -> Reply:
    link_header = response.headers.getall("Link", [])
    links = tuple(
        (link["rel"], link["url"])
        for header in link_header
        for link in parse_link_header(header)
        if "rel" in link and "url" in link
    )
    return Reply(
        status=response.status,
        body=response.json(),
        text=response.content.decode("utf-8", errors="replace"),
        location=response.headers.get("Location"),
        links=links,
        headers=dict(response.headers),
    )


def _problem_error(response: _Response) -> AcmeError:
    """An error reply as a flat error: its problem document, status and Retry-After."""
    problem = parse_problem(response.json(), status=response.status)
    retry_after = retry_after_seconds(response.headers)
    if problem.code == "rateLimited":
        return AcmeRateLimited(problem, retry_after=retry_after)
    if problem.code == "accountDoesNotExist":
        return AcmeAccountDoesNotExist(problem, retry_after=retry_after)
    return AcmeError(problem, retry_after=retry_after)


def _unreachable(url: str, exc: Exception) -> AcmeUnreachable:
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    # aiohttp's messages embed addresses and OS details: never copy them.
    if isinstance(exc, aiohttp.ClientSSLError):
        detail = f"TLS handshake with {origin} failed (certificate not trusted?)"
    elif isinstance(exc, TimeoutError):
        detail = f"timed out talking to {origin}"
    elif isinstance(exc, aiohttp.ClientConnectionError):
        detail = f"cannot connect to {origin}"
    else:
        detail = f"request to {origin} failed ({type(exc).__name__})"
    return AcmeUnreachable(Problem(UNREACHABLE, detail, None))


def retry_after_seconds(
    headers: Mapping[str, str], *, now: datetime.datetime | None = None
) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110).

    An HTTP date is measured against the response's own ``Date`` header when present,
    so a skewed local clock does not stretch or shrink the wait.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    reference = _http_date(lowered.get("date", "")) or now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (when - reference).total_seconds())


def _http_date(value: str) -> datetime.datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" parses as naive: RFC 9110 dates are always UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
