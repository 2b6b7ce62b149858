"""``KubeClient``: generic verbs over any resource kind, built on the one ``Transport``.

Owns the REST shape of each verb (paths, query parameters, patch content types,
pagination, metadata-only Accept headers, delete options). It must not retry, sleep or
map errors itself (``transport.py`` does), nor cache anything (the informer does).

Objects are JSON dicts at this edge. ``list`` follows ``continue`` tokens and, when a
token expires (410) mid-way, starts the whole list again so the result is one consistent
snapshot with one resourceVersion. A page is decoded in one piece, so each page's
``limit`` is sized to a byte budget from the bytes per item of the page before
(``next_page_limit``), whatever the objects' size.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import aiohttp
import structlog

from certmgr.kube import config as kube_config
from certmgr.kube import flowcontrol
from certmgr.kube.errors import APIError, Gone, Unreachable
from certmgr.kube.objects import ObjectList, WatchEvent, name_of, namespace_of
from certmgr.kube.protocol import KubeAPI, Patch, PatchType
from certmgr.kube.resources import Resource
from certmgr.kube.throttling import TokenBucket
from certmgr.kube.transport import JSON, RetryPolicy, Transport, decode_body
from certmgr.kube.watching import decode_event, lines

log = structlog.get_logger(__name__)

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
ACCEPT_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1," + JSON
ACCEPT_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," + JSON
# A list restarted this many times because its continue token kept expiring gives up.
MAX_LIST_RESTARTS = 3
# A list page is decoded in one piece, holding the event loop for its whole body (JSON
# decodes at 40-250 MB/s here, the low end under load with a large heap), so pages are
# asked for at about this many bytes: a few ms of decoding, whatever the objects' size.
PAGE_BYTES = 256 * 1024
# A list's first page, whose objects' size is not known yet, asks for no more than this;
# each page after asks for at most PAGE_GROWTH times as many items as the one before.
FIRST_PAGE_LIMIT = 16
PAGE_GROWTH = 2
# The client-side guard on a watch beyond the server's timeoutSeconds.
WATCH_GRACE_SECONDS = 30.0


class KubeClient:
    def __init__(
        self,
        transport: Transport,
        *,
        namespace: str = "default",
        rate_limit: flowcontrol.RateLimit | None = None,
        page_bytes: int | None = PAGE_BYTES,
    ) -> None:
        """``page_bytes``: the size list pages are asked for at (``next_page_limit``); None
        asks for ``page_size`` items every time."""
        self._transport = transport
        self._page_bytes = page_bytes
        # The client-side limit ``connect`` chose, and why (None when built by hand).
        self.rate_limit = rate_limit
        # Where we run (in-cluster) or the kubeconfig context's namespace: the default
        # for things like the leader election Lease.
        self.namespace = namespace

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        qps: float | None = None,
        burst: int | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 - per request, not for connect itself
        max_retries: int = 5,
        user_agent: str = "certmgr/0.1",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> KubeClient:
        """Load configuration (see ``certmgr.kube.config.load``) and open a session.

        ``qps`` / ``burst`` None is "auto" (``certmgr.kube.flowcontrol``): only then is
        the server contacted here, once, to see whether it has API Priority and Fairness;
        a server that does not answer gets the conservative default limit, and the first
        real call reports it unreachable. Raises ``ConfigError`` with a one-line message
        when nothing usable is found, ``ValueError`` for a positive QPS with a burst
        below 1. ``sleep`` (retry waits and rate-limit waits) and ``draw`` (jitter in
        [0, 1)) are seams for tests.
        """
        connection, credentials = await asyncio.to_thread(
            kube_config.load, kubeconfig=kubeconfig, context=context
        )
        if not flowcontrol.needs_probe(qps, burst):
            flowcontrol.choose(qps, burst, probe=None)  # reject bad values before any I/O
        proxy, proxy_authorization = await asyncio.to_thread(kube_config.proxy_for, connection)
        ssl_context = connection.ssl_context()
        connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else False)
        # trust_env stays off: with it aiohttp reads ~/.netrc and the proxy variables in a
        # worker thread on every request. The proxy is resolved once above instead.
        # No cookie jar, as client-go (Go's http.Client without a Jar): the API server
        # sets no cookies, and the jar's filter ran on every request.
        session = aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        log.info(
            "kube_client_configured",
            host=connection.host,
            source=connection.source,
            proxy=proxy,
        )
        transport = Transport(
            connection.host,
            session=session,
            credentials=credentials,
            retry=RetryPolicy(max_retries=max_retries),
            timeout=timeout,
            user_agent=user_agent,
            server_hostname=connection.tls_server_name,
            proxy=proxy,
            proxy_authorization=proxy_authorization,
            sleep=sleep,
            draw=draw,
        )
        probe = None
        if flowcontrol.needs_probe(qps, burst):
            try:
                probe = await flowcontrol.detect_priority_and_fairness(transport.probe)
            except BaseException:  # cancelled while probing: do not leak the session
                await transport.close()
                raise
        limit = flowcontrol.choose(qps, burst, probe=probe)
        transport.use_limiter(TokenBucket(limit.qps, limit.burst, sleep=sleep))
        log.info(
            "kube_api_rate_limit",
            qps="unlimited" if limit.unlimited else limit.qps,
            burst="unlimited" if limit.unlimited else limit.burst,
            reason=limit.reason,
        )
        return cls(transport, namespace=connection.namespace, rate_limit=limit)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def server_version(self) -> dict[str, Any]:
        """``GET /version``: the server's ``major``, ``minor`` and ``gitVersion``."""
        document = await self._transport.request("GET", "/version", verb="get", resource="version")
        return document if isinstance(document, dict) else {}

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]:
        return await self._object(
            "GET", resource.path(namespace=namespace, name=name), verb="get", resource=resource
        )

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        page_size: int | None = 500,
    ) -> ObjectList:
        for restart in range(MAX_LIST_RESTARTS + 1):
            items: list[dict[str, Any]] = []
            pages = 0
            version = ""
            try:
                async for page in self.list_pages(
                    resource,
                    namespace=namespace,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    metadata_only=metadata_only,
                    page_size=page_size,
                ):
                    pages += 1
                    items.extend(page.items)
                    version = page.resource_version
                return ObjectList(items=items, resource_version=version)
            except Gone:
                # Only an expired continue token is worth a fresh start.
                if pages == 0 or restart == MAX_LIST_RESTARTS:
                    raise
                log.info("kube_list_restarted", resource=resource.plural, reason="continue_expired")
        raise AssertionError("unreachable")  # the loop returns or raises

    async def list_pages(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        page_size: int | None = 500,
        read_ahead: bool = False,
    ) -> AsyncGenerator[ObjectList, None]:
        """One list, page by page, each carrying the snapshot's resourceVersion.

        Raises ``Gone`` when a continue token expires mid-way; the caller starts again
        (``list`` does), because the pages already seen belong to an old snapshot.

        ``page_size`` is the most items a page is asked for; each continuation asks for as
        many as the client's ``page_bytes`` holds at the bytes per item of the page before
        (the first page for at most ``FIRST_PAGE_LIMIT``), as the API server takes a new
        ``limit`` with every continue token. None: one page, no limit.

        ``read_ahead``: the next page is requested as soon as this one's continue token is
        known, and its body read (as bytes, undecoded) while the caller works through this
        one, so the server's time to produce a page is not added to the caller's. At most
        one page ahead. Its errors are raised where the caller asks for it; closing the
        iterator (``contextlib.aclosing``) cancels it, and the response with it.
        """
        params = _selectors(label_selector, field_selector)
        limit = 0
        if page_size:
            limit = page_size if self._page_bytes is None else min(page_size, FIRST_PAGE_LIMIT)
            params["limit"] = str(limit)
        fetch = functools.partial(
            self._transport.request_body,
            "GET",
            resource.path(namespace=namespace),
            verb="list",
            resource=resource.plural,
            accept=ACCEPT_METADATA_LIST if metadata_only else JSON,
        )
        ahead: asyncio.Task[bytes] | None = None
        try:
            body = await fetch(params=params)
            while True:
                page = decode_body(body, verb="list", resource=resource.plural)
                size = len(body)
                del body
                meta = page.get("metadata") or {}
                token = str(meta.get("continue") or "")
                following = {**params, "continue": token}
                if limit and self._page_bytes is not None:
                    limit = next_page_limit(
                        size,
                        len(page.get("items") or ()),
                        previous=limit,
                        page_size=page_size or limit,
                        page_bytes=self._page_bytes,
                    )
                    following["limit"] = str(limit)
                if token and read_ahead:
                    ahead = asyncio.create_task(fetch(params=following))
                # The items are handed over, not also held here while the caller works
                # through them: they are freed as soon as it lets go of the page.
                yield ObjectList(
                    items=page.pop("items", None) or [],
                    resource_version=str(meta.get("resourceVersion") or ""),
                )
                if not token:
                    return
                if ahead is None:
                    body = await fetch(params=following)
                else:
                    body = await ahead
                    ahead = None
        finally:
            if ahead is not None:
                # The caller stopped (or failed) before it asked for the page read ahead:
                # no request of this list outlives it.
                ahead.cancel()
                await asyncio.wait((ahead,))
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: nobody will ask for that page now

    async def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        timeout_seconds: int | None = None,
        bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` until the server closes the stream.

        Raises ``Gone`` when that version is too old, ``APIError`` for other ERROR events.
        """
        params = _selectors(label_selector, field_selector)
        params["watch"] = "true"
        params["resourceVersion"] = resource_version
        if bookmarks:
            params["allowWatchBookmarks"] = "true"
        read_timeout = None
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
            read_timeout = timeout_seconds + WATCH_GRACE_SECONDS
        response = await self._transport.stream(
            resource.path(namespace=namespace),
            resource=resource.plural,
            params=params,
            accept=ACCEPT_METADATA if metadata_only else JSON,
            read_timeout=read_timeout,
        )
        try:
            async with contextlib.aclosing(lines(response.content.iter_any())) as framed:
                async for line in framed:
                    yield decode_event(line)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The connection broke mid-stream (reset, read timeout): not the same as
            # the server ending the watch, so the informer backs off before resuming.
            raise Unreachable(f"watch {resource.plural} interrupted: {exc!r}") from exc
        finally:
            response.release()

    async def create(
        self,
        resource: Resource,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        retry_unavailable: bool = True,
    ) -> dict[str, Any]:
        """Create ``obj``; with ``dry_run`` the server admits and validates it (webhooks
        included) but stores nothing (``dryRun=All``). ``retry_unavailable=False``: a 503
        without Retry-After is not retried (see ``Transport.request``)."""
        namespace = namespace or (namespace_of(obj) if resource.namespaced else None)
        if resource.namespaced and namespace is None:
            raise ValueError(f"{resource.kind} {name_of(obj)!r} needs a namespace")
        body = _with_type(resource, obj)
        return await self._object(
            "POST",
            resource.path(namespace=namespace),
            verb="create",
            resource=resource,
            body=body,
            idempotent=dry_run,
            params={"dryRun": "All"} if dry_run else None,
            retry_unavailable=retry_unavailable,
        )

    async def update(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._object(
            "PUT",
            _object_path(resource, obj),
            verb="update",
            resource=resource,
            body=_with_type(resource, obj),
        )

    async def update_status(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._object(
            "PUT",
            _object_path(resource, obj, subresource="status"),
            verb="update",
            resource=resource,
            body=_with_type(resource, obj),
        )

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Patch,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: PatchType = "merge",
    ) -> dict[str, Any]:
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"unknown patch type {patch_type!r}")
        if isinstance(patch, list) != (patch_type == "json"):
            raise ValueError("a JSON patch is a list; merge and strategic patches are objects")
        return await self._object(
            "PATCH",
            resource.path(namespace=namespace, name=name, subresource=subresource),
            verb="patch",
            resource=resource,
            body=patch,
            content_type=content_type,
            # A JSON patch may append or test; repeating it is not safe (see transport).
            idempotent=patch_type != "json",
        )

    async def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Delete; returns the object while finalizers keep it, else None (it is gone)."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if preconditions is not None:
            options["preconditions"] = preconditions
        result = await self._json(
            "DELETE",
            resource.path(namespace=namespace, name=name),
            verb="delete",
            resource=resource,
            body=options,
        )
        if not isinstance(result, dict) or result.get("kind") == "Status":
            return None
        return result

    async def _object(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: Resource,
        body: Any = None,
        content_type: str = JSON,
        idempotent: bool = True,
        params: dict[str, str] | None = None,
        retry_unavailable: bool = True,
    ) -> dict[str, Any]:
        result = await self._json(
            method,
            path,
            verb=verb,
            resource=resource,
            params=params,
            body=body,
            content_type=content_type,
            idempotent=idempotent,
            retry_unavailable=retry_unavailable,
        )
        if not isinstance(result, dict):
            raise APIError(
                {
                    "kind": "Status",
                    "code": 500,
                    "reason": "InternalError",
                    "message": f"{verb} {resource.plural}: response is not a JSON object",
                }
            )
        return result

    async def _json(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: Resource,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        idempotent: bool = True,
        retry_unavailable: bool = True,
    ) -> Any:
        return await self._transport.request(
            method,
            path,
            verb=verb,
            resource=resource.plural,
            params=params,
            body=body,
            content_type=content_type,
            accept=accept,
            idempotent=idempotent,
            retry_unavailable=retry_unavailable,
        )


def next_page_limit(
    body_bytes: int, items: int, *, previous: int, page_size: int, page_bytes: int
) -> int:
    """The ``limit`` for the page after one of ``items`` objects in ``body_bytes``: as many
    as fit in ``page_bytes`` at that page's bytes per item, at least 1 (an object larger
    than the budget comes alone), at most ``page_size`` and at most ``PAGE_GROWTH`` times
    ``items`` (a few small objects are a poor sample of what follows). A page without
    items says nothing about sizes: ``previous`` stands."""
    if items <= 0 or body_bytes <= 0:
        return previous
    return max(1, min(page_size, PAGE_GROWTH * items, page_bytes * items // body_bytes))


def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params


def _object_path(resource: Resource, obj: dict[str, Any], *, subresource: str | None = None) -> str:
    name = name_of(obj)
    if not name:
        raise ValueError(f"{resource.kind} without metadata.name")
    namespace = namespace_of(obj) if resource.namespaced else None
    if resource.namespaced and namespace is None:
        raise ValueError(f"{resource.kind} {name} without metadata.namespace")
    return resource.path(namespace=namespace, name=name, subresource=subresource)


def _with_type(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with apiVersion and kind filled in; the API server requires both."""
    if obj.get("apiVersion") and obj.get("kind"):
        return obj
    return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}


def _implements_the_seam(client: KubeClient) -> KubeAPI:
    """Never called: mypy checks here that ``KubeClient`` satisfies ``KubeAPI``."""
    return client
