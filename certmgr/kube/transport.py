"""The one request function: every Kubernetes API call goes through ``Transport``.

Owns the aiohttp session, authentication headers, the QPS/burst limiter, timeouts,
retries with capped exponential backoff and full jitter, ``Retry-After``, metrics, and
the mapping of error responses to typed errors (``certmgr.kube.errors``). It must not
know about resource kinds or object shapes; ``client.py`` builds paths and bodies.

Retry policy (kept in ``_retry_delay``):
- A connection that was never established (refused, DNS, TLS handshake) did nothing on
  the server: every verb is retried.
- 429, 503 and any 5xx carrying ``Retry-After``: the server says it did not do the work,
  so every verb is retried, waiting ``Retry-After`` when given plus the jittered backoff
  (a wait longer than ``retry_after_limit`` is not slept here: ``TooManyRequests`` is
  raised for the caller's work queue to requeue). The jitter matters without a
  client-side limit: a burst that found the server's APF seats full would otherwise
  retry in lockstep and find them full again, once per retry.
- Other 5xx, timeouts and connections dropped after the request was sent are ambiguous:
  the write may have happened. Reads, PUT, DELETE and merge/strategic patches are
  retried, because repeating them converges (a repeated PUT with a resourceVersion gets a
  Conflict, a repeated DELETE a NotFound; callers already treat those as "look again").
  POST (create) and JSON patch are not: they raise, and the level-triggered caller looks
  at the world again. With deterministic names that finds the object created by the first
  attempt instead of making a second one, so an AlreadyExists never needs guessing here.
- One exception, as in Go's net/http: a connection that closes before any byte of a
  response (aiohttp's ``ServerDisconnectedError``) is nearly always a pooled keep-alive
  connection the server had already dropped (a restart, an idle timeout), so every verb
  is sent once more. The rare cost is a create that did land answering AlreadyExists,
  which callers with deterministic names already treat as "look again".
- TLS failures (an unverifiable certificate) are configuration errors: never retried.
- A 401 reloads credentials once (exec plugin, rotated token file) and repeats.
Watches go through the same single attempt (``stream``) but are never retried here; the
informer owns reconnecting.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from yarl import URL

from certmgr.kube import bodies, metrics
from certmgr.kube.config import Credentials
from certmgr.kube.errors import APIError, Unauthorized, Unreachable, error_for
from certmgr.kube.throttling import TokenBucket

log = structlog.get_logger(__name__)

JSON = "application/json"
# A start-up probe must not hold the start for long: no answer is an answer.
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 5
    base: float = 0.2
    cap: float = 10.0
    # Longer server-requested waits are handed to the caller instead of slept here.
    retry_after_limit: float = 60.0

    def backoff(self, attempt: int, *, draw: float) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return draw * min(self.cap, self.base * (2.0**attempt))


@dataclass(frozen=True, slots=True)
class _Failure:
    error: APIError
    cause: BaseException | None
    # True when the server certainly did nothing (refused connection, 429, Retry-After).
    server_untouched: bool
    retry_after: float | None
    # The connection closed before any byte of a response: usually a pooled keep-alive
    # connection the server (or a load balancer) had already closed.
    closed_before_response: bool = False


class Transport:
    def __init__(
        self,
        host: str,
        *,
        session: aiohttp.ClientSession,
        credentials: Credentials | None = None,
        limiter: TokenBucket | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = 30.0,
        user_agent: str = "certmgr/0.1",
        server_hostname: str | None = None,
        proxy: str | None = None,
        proxy_authorization: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._host = host.rstrip("/")
        self._session = session
        self._credentials = credentials
        self._limiter = limiter or TokenBucket(0, 0)
        self._retry = retry
        self._timeout = timeout
        # One for every request: an attrs instance per call costs more than the call's
        # own bookkeeping.
        self._request_timeout = aiohttp.ClientTimeout(total=timeout)
        self._user_agent = user_agent
        self._server_hostname = server_hostname
        self._proxy = proxy
        self._proxy_headers = (
            {"Proxy-Authorization": proxy_authorization} if proxy_authorization else None
        )
        self._sleep = sleep
        self._draw = draw

    @property
    def limiter(self) -> TokenBucket:
        return self._limiter

    def use_limiter(self, limiter: TokenBucket) -> None:
        """Replace the limiter (``KubeClient.connect`` picks it after probing the server)."""
        self._limiter = limiter

    async def close(self) -> None:
        await self._session.close()

    async def probe(self, path: str) -> tuple[int, Mapping[str, str]]:
        """One GET outside the limiter and the retries: the status and the headers, whatever
        the status. Raises ``Unreachable`` when no response arrives within a few seconds."""
        headers = {"Accept": JSON, "User-Agent": self._user_agent}
        if self._credentials is not None:
            authorization = await self._credentials.authorization()
            if authorization:
                headers["Authorization"] = authorization
        try:
            async with self._session.get(
                URL(self._host + path, encoded=True),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=min(self._timeout, PROBE_TIMEOUT)),
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                server_hostname=self._server_hostname,
            ) as response:
                await response.read()
                return response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(_describe(exc)) from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        idempotent: bool = True,
        retry_unavailable: bool = True,
    ) -> Any:
        """One API call with retries; returns the decoded JSON body (None when empty).

        ``retry_unavailable=False``: a 503 without ``Retry-After`` is raised at once, as
        client-go does; for calls through the aggregation layer, whose 503 means the
        aggregated server is down and stays so until its APIService says otherwise."""
        payload = await self.request_body(
            method,
            path,
            verb=verb,
            resource=resource,
            params=params,
            body=body,
            content_type=content_type,
            accept=accept,
            idempotent=idempotent,
            retry_unavailable=retry_unavailable,
        )
        return decode_body(payload, verb=verb, resource=resource)

    async def request_body(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        idempotent: bool = True,
        retry_unavailable: bool = True,
    ) -> bytes:
        """``request`` without the decoding: the response body's bytes (``decode_body``
        turns them into JSON). A list pager reads a page ahead as bytes: one buffer, freed
        whole, where a decoded page is thousands of small objects."""
        attempt = 0
        replayed_after_close = False
        while True:
            failure: _Failure
            try:
                response = await self._attempt(
                    method,
                    path,
                    verb=verb,
                    resource=resource,
                    params=params,
                    body=body,
                    content_type=content_type,
                    accept=accept,
                    client_timeout=self._request_timeout,
                )
                try:
                    return await response.read()
                finally:
                    response.release()
            except _Failed as failed:
                failure = failed.failure
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The body read failed after the headers arrived: ambiguous.
                failure = _Failure(Unreachable(_describe(exc)), exc, False, None)
            # Like Go's net/http (errServerClosedIdle), a write whose connection closed
            # before any response is sent once more even when it is not idempotent.
            replay = failure.closed_before_response and not replayed_after_close
            replayed_after_close = replayed_after_close or replay
            delay = self._retry_delay(failure, attempt=attempt, idempotent=idempotent or replay)
            if not retry_unavailable and failure.error.code == 503 and failure.retry_after is None:
                delay = None
            if delay is None:
                raise failure.error from failure.cause
            log.debug(
                "kube_request_retry",
                verb=verb,
                resource=resource,
                attempt=attempt + 1,
                delay=round(delay, 3),
                error=repr(failure.error),
            )
            await self._sleep(delay)
            attempt += 1

    async def stream(
        self,
        path: str,
        *,
        resource: str,
        params: Mapping[str, str],
        accept: str = JSON,
        read_timeout: float | None = None,
    ) -> aiohttp.ClientResponse:
        """Open a long-running GET (a watch); one attempt, errors typed, never retried.

        The caller reads the open response and must ``release()`` it. A coroutine, not an
        async context manager: a generator-based one is closed on its own at loop teardown,
        and the watch generator around it then fails to close.
        """
        timeout = aiohttp.ClientTimeout(
            total=read_timeout, sock_connect=self._timeout, sock_read=None
        )
        try:
            return await self._attempt(
                "GET",
                path,
                verb="watch",
                resource=resource,
                params=params,
                accept=accept,
                client_timeout=timeout,
            )
        except _Failed as failed:
            raise failed.failure.error from failed.failure.cause

    def _retry_delay(self, failure: _Failure, *, attempt: int, idempotent: bool) -> float | None:
        if attempt >= self._retry.max_retries:
            return None
        if isinstance(failure.cause, aiohttp.ClientSSLError):
            return None  # a certificate that does not verify will not verify next time

        error = failure.error
        if not (isinstance(error, Unreachable) or error.code == 429 or error.code >= 500):
            return None
        if not (failure.server_untouched or idempotent):
            return None
        backoff = self._retry.backoff(attempt, draw=self._draw())
        if failure.retry_after is not None:
            if failure.retry_after > self._retry.retry_after_limit:
                return None
            # At least what the server asked, plus jitter: requests it rejected together
            # (APF seats were full) must not all come back in the same instant.
            return failure.retry_after + backoff
        return backoff

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        params: Mapping[str, str] | None,
        client_timeout: aiohttp.ClientTimeout,
        accept: str,
        body: Any = None,
        content_type: str = JSON,
    ) -> aiohttp.ClientResponse:
        """A single HTTP exchange: rate limit, auth (one reload on 401), typed errors.

        Returns the open response for a 2xx (the caller releases it); raises ``_Failed``
        otherwise.
        """
        data = None if body is None else bodies.encode(body)
        url = URL(self._host + path, encoded=True)
        reauthenticated = False
        while True:
            await self._limiter.acquire()
            headers = {"Accept": accept, "User-Agent": self._user_agent}
            if data is not None:
                headers["Content-Type"] = content_type
            generation = 0
            if self._credentials is not None:
                generation = self._credentials.generation
                authorization = await self._credentials.authorization()
                if authorization:
                    headers["Authorization"] = authorization
            started = time.monotonic()
            try:
                response = await self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=client_timeout,
                    proxy=self._proxy,
                    proxy_headers=self._proxy_headers,
                    server_hostname=self._server_hostname,
                )
            except aiohttp.ClientConnectorError as exc:
                # Refused, unresolvable or failed TLS handshake: nothing reached the server.
                self._observe(verb, resource, "error", started)
                raise _Failed(_Failure(Unreachable(_describe(exc)), exc, True, None)) from exc
            except aiohttp.ServerDisconnectedError as exc:
                self._observe(verb, resource, "error", started)
                failure = _Failure(Unreachable(_describe(exc)), exc, False, None, True)
                raise _Failed(failure) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._observe(verb, resource, "error", started)
                raise _Failed(_Failure(Unreachable(_describe(exc)), exc, False, None)) from exc
            self._observe(verb, resource, str(response.status), started)
            for warning in response.headers.getall("Warning", ()):
                # As client-go's default warning handler: the server says something is
                # wrong that it still accepted (Pod Security warn, deprecated fields).
                log.warning(
                    "kube_api_warning", verb=verb, resource=resource, warning=_text(warning)
                )
            if response.status < 400:
                return response
            try:
                failure = await _failure_of(response)
            finally:
                response.release()
            if (
                isinstance(failure.error, Unauthorized)
                and self._credentials is not None
                and not reauthenticated
            ):
                reauthenticated = True
                await self._credentials.reload_after_unauthorized(generation)
                continue
            raise _Failed(failure)

    def _observe(self, verb: str, resource: str, code: str, started: float) -> None:
        metrics.observe(verb=verb, resource=resource, code=code, seconds=time.monotonic() - started)


_WARNING = re.compile(r'^\d{3} \S+ "((?:[^"\\]|\\.)*)"')


def _text(warning: str) -> str:
    """The text of a ``Warning: 299 - "..."`` header value (RFC 7234), unescaped."""
    match = _WARNING.match(warning)
    if match is None:
        return warning
    return re.sub(r"\\(.)", r"\1", match.group(1))


class _Failed(Exception):
    def __init__(self, failure: _Failure) -> None:
        super().__init__(repr(failure.error))
        self.failure = failure


async def _failure_of(response: aiohttp.ClientResponse) -> _Failure:
    try:
        raw = await response.read()
    except (aiohttp.ClientError, TimeoutError):
        raw = b""
    try:
        body: Any = bodies.decode(raw) if raw.strip() else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    error = error_for(response.status, body, retry_after=retry_after)
    untouched = response.status in (429, 503) or (
        response.status >= 500 and retry_after is not None
    )
    return _Failure(error, None, untouched, retry_after)


def decode_body(payload: bytes, *, verb: str, resource: str) -> Any:
    """A response body as JSON (None when empty); a body that is not JSON is an ``APIError``
    (500), as the server answered something no client can use."""
    if not payload.strip():
        return None
    try:
        return bodies.decode(payload)
    except ValueError as exc:
        message = f"{verb} {resource}: the response is not JSON"
        raise error_for(500, {"kind": "Status", "code": 500, "message": message}) from exc


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
