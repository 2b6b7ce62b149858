"""Signed HTTP exchanges with an ACME CA: one JWS request, one reply, typed errors.

Owns the ``acme`` library's ``ClientNetwork`` (JWS signing, nonces, ``requests``
transport), the threads it runs on, the ``badNonce`` retries and the mapping of every
failure to :mod:`certmgr.acme.errors`. It must not know what a request means (that is
:mod:`certmgr.acme.session`) and must never sleep or poll.

Concurrency: ``ClientNetwork`` is not thread-safe: its nonce pool is check-then-pop,
``account`` is a mutable attribute the library flips during requests, and a
``requests.Session`` is not guaranteed thread-safe either. So each worker thread owns
one ``ClientNetwork`` (thread-local) and coroutines share nothing but the account key.
The threads come from a private executor rather than ``asyncio.to_thread``: a burst of
challenge answers must not fill the loop's default executor, which aiohttp needs for
DNS lookups. A cancelled coroutine lets its exchange finish in the thread; the network
object is only reused once that thread is free again.

Environment: ``requests`` with ``trust_env`` re-reads the proxy variables, ``NO_PROXY``,
the CA bundle variables and ``~/.netrc`` on every request (a few percent of the
controller's CPU in a profile). The sessions here run with ``trust_env`` off and
``_Environment`` does the same work once: proxies once per origin (so ``NO_PROXY`` still
applies), ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` once. ``~/.netrc`` is not read: a
CA authenticates requests by their JWS, never by HTTP basic auth.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import functools
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from requests.utils import parse_header_links

from certmgr.acme.errors import (
    AcmeAccountDoesNotExist,
    AcmeBadNonce,
    AcmeError,
    AcmeRateLimited,
    AcmeUnreachable,
    AcmeWriteWithheld,
)
from certmgr.acme.keys import AcmeAccountKey
from certmgr.acme.parsing import malformed, parse_problem
from certmgr.acme.resources import Problem

UNREACHABLE = "urn:certmgr:acme:unreachable"
JOSE_CONTENT_TYPE = "application/jose+json"
# The library retries a rejected nonce once; Pebble rejects 5 % by default, so one
# issuance in ~40 would see a second rejection. Six fresh nonces in a row fail at 5 %
# rejection about once in 10^8 requests.
DEFAULT_BAD_NONCE_ATTEMPTS = 6
# The action of an exchange nobody named (cert-manager's label value for that case).
UNNAMED_ACTION = "unnamed_action"


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


class _Payload:
    """Adapts a JSON dict to the library's ``json_dumps`` interface for signing."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = body

    def json_dumps(self, **kwargs: Any) -> str:
        # EAB bindings are josepy objects inside the dict; they serialise themselves.
        return json.dumps(self._body, default=lambda o: o.to_partial_json(), **kwargs)


class ExchangeObserver(Protocol):
    """Told about every HTTP exchange with the CA, nonce fetches and retries included
    (metrics such as cert-manager's ``certmanager_http_acme_client_request_count``).
    ``action`` names the protocol step the exchange belongs to (``get_directory``,
    ``finalize_order``...; a nonce fetch carries the action of the request that needed
    it), ``status`` is None when no response arrived. Called on a worker thread: it must
    be thread-safe and must not block."""

    def __call__(
        self, *, method: str, url: str, action: str, status: int | None, seconds: float
    ) -> None: ...


class _Environment:
    """What ``requests``' ``trust_env`` would read per request, read once (see the module
    docstring). Shared by the worker threads: entries are computed idempotently."""

    def __init__(self, verify: bool | str) -> None:
        self.verify: bool | str = verify
        if verify is True:
            # requests' own rule: these variables replace a plain verify=True.
            self.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        parts = urllib.parse.urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        proxies = self._proxies.get(origin)
        if proxies is None:
            proxies = requests.utils.get_environ_proxies(url, no_proxy=None)
            self._proxies[origin] = proxies
        return dict(proxies)


class _Network(acme_client.ClientNetwork):
    """``ClientNetwork`` that remembers the last response (error headers are otherwise
    lost: ``Retry-After``, the HTTP status of a problem), reports each exchange and takes
    proxies from ``_Environment`` instead of ``trust_env``."""

    last_response: requests.Response | None = None
    observer: ExchangeObserver | None = None
    environment: _Environment | None = None
    # The step being run on this thread's network (set before each request).
    action: str = UNNAMED_ACTION
    # Whether that step changes state at the CA (a POST with a body), and who may allow it.
    writing: bool = False
    may_write: Callable[[], bool] | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.last_response = None
        # Asked here, after the nonce fetch and just before the bytes leave: a process
        # frozen in between must not send what it decided before it froze.
        may_write = self.may_write
        if method == "POST" and self.writing and may_write is not None and not may_write():
            raise AcmeWriteWithheld(self.action)
        if self.environment is not None:
            kwargs.setdefault("proxies", self.environment.proxies_for(url))
        started = time.perf_counter()
        status: int | None = None
        try:
            response = super()._send_request(method, url, *args, **kwargs)
            status = response.status_code
        finally:
            if self.observer is not None:
                elapsed = time.perf_counter() - started
                self.observer(
                    method=method, url=url, action=self.action, status=status, seconds=elapsed
                )
        self.last_response = response
        return response


class AcmeTransport:
    """Runs signed requests on a few threads, each with its own ``ClientNetwork``."""

    def __init__(
        self,
        account_key: AcmeAccountKey,
        *,
        verify: bool | str,
        user_agent: str,
        timeout_seconds: int = 30,
        max_concurrency: int = 8,
        bad_nonce_attempts: int = DEFAULT_BAD_NONCE_ATTEMPTS,
        observer: ExchangeObserver | None = None,
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self._key = account_key
        self._observer = observer
        self._may_write = may_write
        self._environment = _Environment(verify)
        self._user_agent = user_agent
        self._timeout = timeout_seconds
        self._bad_nonce_attempts = bad_nonce_attempts
        self._executor = ThreadPoolExecutor(max_concurrency, thread_name_prefix="acme")
        self._local = threading.local()
        self._networks: list[_Network] = []
        self._networks_lock = threading.Lock()
        self.new_nonce_url: str | None = None

    async def get_directory(self, url: str) -> Reply:
        """The unsigned GET of the directory."""
        return await self._in_thread(functools.partial(self._get_sync, url, "get_directory"))

    async def get(self, url: str, *, action: str) -> Reply:
        """An unsigned GET (the directory, renewal information: RFC 9773 section 4.2)."""
        return await self._in_thread(functools.partial(self._get_sync, url, action))

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
        call = functools.partial(self._post_sync, url, body, account_uri, accept, action)
        return await self._in_thread(call)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._networks_lock:
            networks, self._networks = self._networks, []
        for network in networks:
            network.session.close()

    # -- in the worker thread ----------------------------------------------------

    async def _in_thread(self, call: functools.partial[Reply]) -> Reply:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, call)

    def _network(self) -> _Network:
        network: _Network | None = getattr(self._local, "network", None)
        if network is None:
            network = _Network(
                key=self._key.jwk,
                alg=self._key.algorithm,
                # requests takes a CA bundle path where the library's hint says bool.
                verify_ssl=self._environment.verify,  # type: ignore[arg-type]
                user_agent=self._user_agent,
                timeout=self._timeout,
            )
            network.session.trust_env = False
            network.environment = self._environment
            network.observer = self._observer
            network.may_write = self._may_write
            self._local.network = network
            with self._networks_lock:
                self._networks.append(network)
        return network

    def _get_sync(self, url: str, action: str) -> Reply:
        network = self._network()
        network.action = action
        try:
            return _reply(network.get(url))
        except requests.RequestException as exc:
            raise _unreachable(url, exc) from exc
        except (messages.Error, acme_errors.Error) as exc:
            response = network.last_response
            if response is not None and response.ok:
                what = "directory" if action == "get_directory" else action.replace("_", " ")
                raise malformed(f"{what} (not JSON)", status=response.status_code) from exc
            raise _problem_error(response, exc) from exc

    def _post_sync(
        self,
        url: str,
        body: Mapping[str, Any] | None,
        account_uri: str | None,
        accept: str | None,
        action: str,
    ) -> Reply:
        network = self._network()
        network.action = action
        network.writing = body is not None
        network.account = (
            messages.RegistrationResource(uri=account_uri, body=messages.Registration())
            if account_uri
            else None
        )
        payload = _Payload(body) if body is not None else None
        for attempt in range(1, self._bad_nonce_attempts + 1):
            headers = {"Content-Type": JOSE_CONTENT_TYPE}
            if accept:
                headers["Accept"] = accept
            try:
                response = network.post(
                    url, payload, new_nonce_url=self.new_nonce_url, headers=headers
                )
                return _reply(response)
            except requests.RequestException as exc:
                raise _unreachable(url, exc) from exc
            except (messages.Error, acme_errors.Error) as exc:
                error = _problem_error(network.last_response, exc)
                if error.code != "badNonce":
                    raise error from exc
                if attempt == self._bad_nonce_attempts:
                    # Pebble's detail names the rejected nonce: keep the message stable.
                    problem = Problem(
                        error.problem_type,
                        f"the ACME server rejected {attempt * 2} fresh nonces in a row",
                        error.status,
                    )
                    raise AcmeBadNonce(problem) from exc
        raise AssertionError("unreachable: the loop returns or raises")


def _reply(response: requests.Response) -> Reply:
    try:
        body: object = response.json()
    except ValueError:
        body = None
    link_header = response.headers.get("Link")
    links = tuple(
        (link["rel"], link["url"])
        for link in (parse_header_links(link_header) if link_header else [])
        if "rel" in link and "url" in link
    )
    return Reply(
        status=response.status_code,
        body=body,
        text=response.content.decode("utf-8", errors="replace"),
        location=response.headers.get("Location"),
        links=links,
        headers=dict(response.headers),
    )


def _problem_error(response: requests.Response | None, exc: Exception) -> AcmeError:
    """Map a library exception, using the raw response for status and headers."""
    if response is None or response.ok:
        # A 2xx the library refused, e.g. no Replay-Nonce header.
        return malformed(type(exc).__name__, status=response.status_code if response else None)
    try:
        body: object = response.json()
    except ValueError:
        body = None
    problem = parse_problem(body, status=response.status_code)
    retry_after = retry_after_seconds(response.headers)
    if problem.code == "rateLimited":
        return AcmeRateLimited(problem, retry_after=retry_after)
    if problem.code == "accountDoesNotExist":
        return AcmeAccountDoesNotExist(problem, retry_after=retry_after)
    return AcmeError(problem, retry_after=retry_after)


def _unreachable(url: str, exc: requests.RequestException) -> AcmeUnreachable:
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    # requests' own messages embed object addresses and retry counts: never copy them.
    if isinstance(exc, requests.exceptions.SSLError):
        detail = f"TLS handshake with {origin} failed (certificate not trusted?)"
    elif isinstance(exc, requests.exceptions.Timeout):
        detail = f"timed out talking to {origin}"
    elif isinstance(exc, requests.exceptions.ConnectionError):
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
