"""The REST verbs over HTTP: one aiohttp handler that routes, authorizes and answers.

Owns request decoding (JSON bodies, patch media types, DeleteOptions, list and watch
query parameters, the metadata-only Accept headers), the order of checks a request
passes (faults, authentication, authorization, accounting) and the JSON answers
(created objects with 201, ``kind: Status`` errors). It must not hold state of its
own; storage, deletion, admission and watching live in their modules.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
import yaml
from aiohttp import web

from certmgr.testing.apiserver import (
    admission,
    aggregation,
    aggregation_proxy,
    aggregation_status,
    discovery,
    errors,
    fieldvalidation,
    listing,
    managing,
    ownership,
    patching,
    podsecurity,
    reviews,
    tables,
    tokenrequest,
    watching,
)
from certmgr.testing.apiserver.accounting import RequestCounts
from certmgr.testing.apiserver.aggregation_proxy import AggregationProxy
from certmgr.testing.apiserver.auth import (
    ANONYMOUS,
    Authenticator,
    Authorizer,
    RequestAttributes,
    UserInfo,
)
from certmgr.testing.apiserver.collecting import Collector
from certmgr.testing.apiserver.faults import Faults
from certmgr.testing.apiserver.flowcontrol import Flow, FlowControl, classify
from certmgr.testing.apiserver.resources import APISERVICES, NAMESPACES, ResourceType
from certmgr.testing.apiserver.routing import Target, resolve
from certmgr.testing.apiserver.store import Obj, Store

JSON = "application/json"
# Where ``_handle`` leaves the request's APF classification for ``add_flow_headers``.
FLOW_KEY = web.RequestKey("certmgr_apf_flow", Flow)
_PUBLIC_PATHS = frozenset({"/version", "/healthz", "/readyz", "/livez"})
# Admission's Warning texts for the request being served (each request is its own task).
_WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "certmgr_apiserver_warnings", default=None
)
log = structlog.get_logger(__name__)


def _json_response(body: Any, *, status: int = 200, warnings: Sequence[str] = ()) -> web.Response:
    response = web.Response(body=watching.encode(body), status=status, content_type=JSON)
    for warning in warnings:
        response.headers.add("Warning", warning)
    return response


_OPTIONS_KINDS = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}


def _dry_run(request: web.Request, options_kind: str) -> bool:
    """Whether the write is `dryRun=All`; 422 for any other dryRun value, as kube-apiserver."""
    values = request.rel_url.query.getall("dryRun", [])
    if any(value != "All" for value in values):
        raise errors.invalid(
            options_kind,
            "meta.k8s.io",
            "",
            [
                {
                    "reason": "FieldValueNotSupported",
                    "message": f'Unsupported value: {json.dumps(values)}: supported values: "All"',
                    "field": "dryRun",
                }
            ],
        )
    return bool(values)


async def add_flow_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the APF headers on every response (watch streams and
    errors included) of a request that APF classified."""
    flow = request.get(FLOW_KEY)
    if flow is not None:
        response.headers.update(flow.headers())


def error_response(exc: errors.StatusError) -> web.Response:
    response = _json_response(exc.status, status=exc.code)
    response.headers.update(exc.headers)
    return response


@dataclass
class Api:
    """Everything a request may touch; the simulator builds one per server."""

    store: Store
    collector: Collector
    authn: Authenticator
    authz: Authorizer
    faults: Faults
    counts: RequestCounts
    bookmark_interval: float = 1.0
    enforce_owner_references: bool = False
    server_address: str = ""
    flow_control: FlowControl = field(default_factory=FlowControl)
    aggregation: AggregationProxy | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        warnings: list[str] = []
        _WARNINGS.set(warnings)
        try:
            response = await self._handle(request)
            for warning in warnings:
                response.headers.add("Warning", podsecurity.warning_header(warning))
            return response
        except errors.StatusError as exc:
            return error_response(exc)
        except ConnectionError as exc:
            # The client went away mid-request (a killed controller): nobody to answer and
            # nothing wrong here; raised, aiohttp would log it as an error with a traceback.
            log.debug("simulator_client_gone", method=request.method, error=repr(exc))
            return web.Response(status=400, text="client connection lost")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A simulator bug: answer as kube-apiserver does on a panic, and say where.
            log.exception("simulator_request_failed", method=request.method, path=request.path)
            return error_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        user = self.authn.authenticate(request.headers.get("Authorization"))
        # APF runs after authentication and before authorization: a 401 carries no APF
        # headers, a 403 or 404 does.
        flow = classify(user, request.path)
        if self.flow_control.enabled:
            request[FLOW_KEY] = flow
        if request.path in _PUBLIC_PATHS:
            # system:public-info-viewer: anyone, even anonymous, may read these.
            return self._non_resource(request)
        if request.method == "POST" and request.path in reviews.PATHS:
            kind = reviews.PATHS[request.path]
            self.counts.record("create", f"{kind.lower()}s", user.name)
            answer = reviews.review(kind, await request.json(), caller=user, authz=self.authz)
            return _json_response(answer, status=201)
        query = request.rel_url.query
        watch = query.get("watch", "") in ("true", "1")
        proxied = self._aggregated(request.path)
        if proxied is not None:
            return await self._proxy(request, proxied, user, flow, watch=watch)
        try:
            target = resolve(self.store.catalogue, request.method, request.path, watch=watch)
        except errors.StatusError as missing:
            if missing.code == 404:
                # kube-apiserver authorizes before it routes: no permission is a 403
                # even for a group nobody serves (an APIService not installed).
                self._authorize_unserved(request, user, watch=watch)
            raise
        if target is None:
            if user is ANONYMOUS:
                # system:discovery is bound to system:authenticated only.
                raise errors.forbidden(
                    f'forbidden: User "{user.name}" cannot get path "{request.path}"'
                )
            return self._non_resource(request)
        resource = (
            f"{target.rtype.plural}/{target.subresource}"
            if target.subresource
            else target.rtype.plural
        )
        self.counts.record(target.verb, resource, user.name)
        if target.verb == "watch":
            return await self._serve(request, target, user, resource)
        with self.flow_control.seat(flow):
            return await self._serve(request, target, user, resource)

    # -- API aggregation -----------------------------------------------------------------

    def _authorize_unserved(self, request: web.Request, user: UserInfo, *, watch: bool) -> None:
        claim = aggregation.claimed(request.path)
        if claim is None:
            return
        group, _, rest = claim
        attrs = aggregation.request_attributes(request.method, group, rest=rest, watch=watch)
        if attrs is None:
            return
        try:
            self.authz.check(user, attrs)
        except errors.StatusError as denied:
            self.counts.deny(str(denied.status.get("message", "")))
            raise

    def _aggregated(self, path: str) -> tuple[Obj, str, list[str]] | None:
        """(APIService, group, rest) when an APIService with a service claims `path`."""
        claim = aggregation.claimed(path)
        if claim is None or self.aggregation is None:
            return None
        group, version, rest = claim
        apiservice = self.store.table(APISERVICES).objects.get(("", f"{version}.{group}"))
        if apiservice is None or aggregation.service_of(apiservice) is None:
            return None
        return apiservice, group, rest

    async def _proxy(
        self,
        request: web.Request,
        proxied: tuple[Obj, str, list[str]],
        user: UserInfo,
        flow: Flow,
        *,
        watch: bool,
    ) -> web.StreamResponse:
        """kube-aggregator's handler: RBAC here, then the Service's endpoint over TLS."""
        assert self.aggregation is not None
        apiservice, group, rest = proxied
        attrs = aggregation.request_attributes(request.method, group, rest=rest, watch=watch)
        if attrs is None:
            if user is ANONYMOUS:
                raise errors.forbidden(
                    f'forbidden: User "{user.name}" cannot get path "{request.path}"'
                )
        else:
            resource = (
                f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
            )
            self.counts.record(attrs.verb, resource, user.name)
            try:
                self.authz.check(user, attrs)
            except errors.StatusError as denied:
                self.counts.deny(str(denied.status.get("message", "")))
                raise
        ref = aggregation.service_of(apiservice)
        assert ref is not None
        if not aggregation.is_available(apiservice):
            return aggregation_proxy.service_unavailable()
        found = aggregation_status.endpoints(self.store, ref)
        if not found:
            return aggregation_proxy.service_unavailable()
        spec = apiservice.get("spec") or {}
        forward = self.aggregation.forward(
            request,
            endpoint=found[0],
            service=ref,
            ca_bundle=aggregation.ca_bundle(spec),
            insecure=bool(spec.get("insecureSkipTLSVerify")),
            user=user.name,
            groups=user.groups,
        )
        if attrs is None or attrs.verb == "watch":
            return await forward
        with self.flow_control.seat(flow):
            return await forward

    async def _serve(
        self, request: web.Request, target: Target, user: UserInfo, resource: str
    ) -> web.StreamResponse:
        faulty = self.faults.applies_to(user.name, verb=target.verb, resource=resource)
        if faulty:
            await self._inject(target, user)
        try:
            self.authz.check(
                user,
                RequestAttributes(
                    verb=target.verb,
                    api_group=target.rtype.group,
                    resource=target.rtype.plural,
                    subresource=target.subresource,
                    namespace=target.namespace,
                    name=target.name,
                ),
            )
        except errors.StatusError as denied:
            self.counts.deny(str(denied.status.get("message", "")))
            raise
        verb = target.verb
        if target.subresource == "token":
            return await self._token_request(request, target)
        if verb == "get":
            return self._get(request, target)
        if verb in ("list", "watch"):
            return await self._collection(request, target, watch=verb == "watch", faulty=faulty)
        if verb == "create":
            return await self._create(request, target, user)
        if verb == "update":
            return await self._update(request, target, user)
        if verb == "patch":
            return await self._patch(request, target, user)
        if verb == "delete":
            return await self._delete(request, target)
        return await self._delete_collection(request, target)

    async def _inject(self, target: Target, user: UserInfo) -> None:
        faults = self.faults
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        failure = faults.failure_for(
            target.verb,
            user.name,
            resource=target.rtype.plural,
            group=target.rtype.group,
            name=target.name,
        )
        if failure is not None:
            raise failure

    # -- discovery -----------------------------------------------------------------------

    def _non_resource(self, request: web.Request) -> web.Response:
        parts = [p for p in request.path.split("/") if p]
        catalogue = self.store.catalogue
        body: Any = None
        if request.method != "GET":
            raise errors.method_not_allowed()
        if parts == ["api"]:
            body = discovery.core_versions(self.server_address)
        elif parts == ["apis"]:
            body = discovery.group_list(catalogue, aggregated=self._aggregated_groups())
        elif len(parts) == 2 and parts[0] == "api":
            body = discovery.resource_list(catalogue, "", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            body = discovery.group(catalogue, parts[1], aggregated=self._aggregated_groups())
        elif len(parts) == 3 and parts[0] == "apis":
            body = discovery.resource_list(catalogue, parts[1], parts[2])
        elif parts == ["version"]:
            body = discovery.VERSION
        elif parts == ["openapi", "v3"]:
            body = discovery.openapi_v3_index(catalogue)
        elif parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            group_name, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[-1])
            body = discovery.openapi_v3_group_version(catalogue, group_name, version)
        elif parts and parts[0] in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        if body is None:
            raise errors.path_not_found()
        return _json_response(body)

    def _aggregated_groups(self) -> list[tuple[str, list[str]]]:
        return aggregation.aggregated_groups(self.store.table(APISERVICES).objects.values())

    # -- reads ---------------------------------------------------------------------------

    def _get(self, request: web.Request, target: Target) -> web.Response:
        obj = self.store.get(target.rtype, target.namespace, target.name)
        shape = listing.rendering(request.headers.get("Accept", ""))
        if shape == listing.TABLE:
            columns = listing.table_columns(target.rtype)
            rv = obj["metadata"]["resourceVersion"]
            return _json_response(tables.table([obj], columns, resource_version=rv))
        key = (target.namespace, target.name)
        metadata_only = shape == listing.METADATA
        body = listing.served(self.store, target.rtype, key, obj, metadata_only=metadata_only)
        return web.Response(body=body, content_type=JSON)

    async def _collection(
        self, request: web.Request, target: Target, *, watch: bool, faulty: bool
    ) -> web.StreamResponse:
        query = request.rel_url.query
        matches = listing.matcher(
            target, query.get("labelSelector", ""), query.get("fieldSelector", "")
        )
        shape = listing.rendering(request.headers.get("Accept", ""))
        if watch:
            timeout = query.get("timeoutSeconds")
            spec = watching.WatchRequest(
                rtype=target.rtype,
                matches=matches,
                since=query.get("resourceVersion"),
                bookmarks=query.get("allowWatchBookmarks", "") in ("true", "1"),
                timeout=float(timeout) if timeout else None,
                metadata_only=shape == listing.METADATA,
                table_columns=listing.table_columns(target.rtype)
                if shape == listing.TABLE
                else None,
            )
            limits = watching.StreamLimits(
                bookmark_interval=self.bookmark_interval,
                cut_after_events=self.faults.watch_cut_after_events if faulty else None,
                cut_after_seconds=self.faults.watch_cut_after_seconds if faulty else None,
            )
            return await watching.serve_watch(
                request, store=self.store, watch=spec, limits=limits, closing=self.closing
            )
        continue_token = query.get("continue", "")
        if continue_token and query.get("resourceVersion", "") not in ("", "0"):
            # As kube-apiserver: the token names the snapshot itself.
            raise errors.bad_request(
                "specifying resource version is not allowed when using continue"
            )
        if continue_token and faulty and self.faults.continue_expired():
            raise errors.continue_expired(listing.inconsistent_continuation(continue_token, target))
        body = listing.list_body(
            self.store,
            target,
            matches,
            limit=listing.int_param(query, "limit"),
            continue_token=continue_token,
            shape=shape,
        )
        return web.Response(body=body, content_type=JSON)

    # -- writes --------------------------------------------------------------------------

    async def _token_request(self, request: web.Request, target: Target) -> web.Response:
        body, _ = await _read_body(request)
        self.store.get(target.rtype, target.namespace, target.name)  # 404 without the account
        answer = tokenrequest.issue(
            self.authn, namespace=target.namespace, name=target.name, body=body
        )
        return _json_response(answer, status=201)

    def _admit(self, user: UserInfo, rtype: ResourceType, old: Obj | None, new: Obj) -> None:
        """Admission plugins after defaulting: Pod Security, then owner references."""
        self._admit_pod_security(rtype, old, new)
        if self.enforce_owner_references:
            ownership.check_owner_references(
                self.authz, user, catalogue=self.store.catalogue, rtype=rtype, old=old, new=new
            )

    def _admit_pod_security(self, rtype: ResourceType, old: Obj | None, new: Obj) -> None:
        meta = new.get("metadata") or {}
        namespace = meta.get("namespace")
        if rtype.group_resource == NAMESPACES.group_resource:
            name = str(meta.get("name", ""))
            decision = podsecurity.admit_namespace(
                name=name,
                labels=dict(meta.get("labels") or {}),
                old_labels=None if old is None else dict(old["metadata"].get("labels") or {}),
                pods=self._pods_in(name) if old is not None else [],
            )
        elif rtype.group in ("", "apps", "batch") and namespace:
            ns = self.store.table(NAMESPACES).objects.get(("", namespace)) or {}
            decision = podsecurity.admit(
                kind=rtype.kind,
                resource=rtype.plural,
                name=str(meta.get("name", "")),
                namespace_labels=dict((ns.get("metadata") or {}).get("labels") or {}),
                obj=new,
                old=old,
            )
        else:
            return
        warnings = _WARNINGS.get()
        if warnings is not None:
            warnings.extend(decision.warnings)
        if decision.audit:
            self.counts.annotate(decision.audit)

    def _pods_in(self, namespace: str) -> list[Obj]:
        pods = self.store.catalogue.by_kind("v1", "Pod")
        if pods is None:
            return []
        objects = self.store.table(pods).objects
        return [pod for (ns, _), pod in objects.items() if ns == namespace]

    def _check_fields(
        self, request: web.Request, rtype: ResourceType, body: Any, repeated: list[str]
    ) -> list[str]:
        """fieldValidation on a decoded body: raises for Strict, Warning headers for Warn."""
        mode = fieldvalidation.directive(request.rel_url.query, _OPTIONS_KINDS[_verb(request)])
        unknown = fieldvalidation.unknown_fields(
            body,
            group=rtype.group,
            kind=rtype.kind,
            crd_schema=rtype.schema if rtype.is_custom else None,
            drop=mode != fieldvalidation.STRICT,
        )
        return fieldvalidation.enforce(fieldvalidation.problems(unknown, repeated), mode)

    async def _create(self, request: web.Request, target: Target, user: UserInfo) -> web.Response:
        dry_run = _dry_run(request, "CreateOptions")
        body, repeated = await _read_body(request)
        warnings = self._check_fields(request, target.rtype, body, repeated)
        obj = admission.prepare_create(self.store, target.rtype, target.namespace, body)
        self._admit(user, target.rtype, None, obj)
        obj["metadata"]["managedFields"] = managing.record_update(
            None, obj, shape=_shape(target.rtype), manager=_manager(request)
        )
        created = self.store.create(target.rtype, obj, dry_run=dry_run)
        return _json_response(
            watching.as_served(target.rtype, created, metadata_only=False),
            status=201,
            warnings=warnings,
        )

    def _write(
        self,
        request: web.Request,
        target: Target,
        body: Any,
        user: UserInfo,
        *,
        dry_run: bool,
        managed: list[Obj] | None = None,
    ) -> Obj:
        """Admit and store an update; `managed` is an apply's managedFields, else an Update's."""
        old = self.store.get(target.rtype, target.namespace, target.name)
        sent = (body.get("metadata") or {}).get("managedFields") if isinstance(body, dict) else None
        new = admission.prepare_update(
            self.store, target.rtype, old, body, subresource=target.subresource, name=target.name
        )
        self._admit(user, target.rtype, old, new)
        if managed is None:
            given = (
                sent
                if isinstance(sent, list) and sent != old["metadata"].get("managedFields")
                else None
            )
            managed = managing.record_update(
                old,
                new,
                shape=_shape(target.rtype),
                manager=_manager(request),
                subresource=target.subresource,
                given=given,
            )
        if managed:
            new["metadata"]["managedFields"] = managed
        return self.store.replace(target.rtype, old, new, dry_run=dry_run)

    async def _update(self, request: web.Request, target: Target, user: UserInfo) -> web.Response:
        dry_run = _dry_run(request, "UpdateOptions")
        body, repeated = await _read_body(request)
        warnings = self._check_fields(request, target.rtype, body, repeated)
        stored = self._write(request, target, body, user, dry_run=dry_run)
        return _json_response(
            watching.as_served(target.rtype, stored, metadata_only=False), warnings=warnings
        )

    async def _patch(self, request: web.Request, target: Target, user: UserInfo) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        raw = await request.read()
        rtype = target.rtype
        dry_run = _dry_run(request, "PatchOptions")
        if content_type == "application/apply-patch+yaml":
            return self._apply(request, target, raw, user, dry_run=dry_run)
        try:
            patch, repeated = fieldvalidation.parse_json(raw or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from None
        old = self.store.get(rtype, target.namespace, target.name)
        try:
            if content_type == "application/merge-patch+json":
                patched = patching.merge_patch(old, patch)
            elif content_type == "application/json-patch+json":
                patched = patching.json_patch(old, patch)
            elif content_type == "application/strategic-merge-patch+json" and not rtype.is_custom:
                patched = patching.strategic_merge_patch(old, patch, rtype.kind)
            else:
                raise errors.unsupported_media_type(content_type)
        except patching.PatchError as exc:
            reason = "BadRequest" if exc.code == 400 else "Invalid"
            raise errors.StatusError(errors.status_body(exc.code, reason, exc.message)) from None
        warnings = self._check_fields(request, rtype, patched, repeated)
        stored = self._write(request, target, patched, user, dry_run=dry_run)
        return _json_response(
            watching.as_served(rtype, stored, metadata_only=False), warnings=warnings
        )

    def _apply(
        self, request: web.Request, target: Target, raw: bytes, user: UserInfo, *, dry_run: bool
    ) -> web.Response:
        """Server-side apply: conflicts, merge by list-map keys, managedFields (`managing.py`)."""
        if not request.rel_url.query.get("fieldManager"):
            raise errors.bad_request("PATCH with apply requires a fieldManager")
        try:
            patch, repeated = fieldvalidation.parse_json(raw)
        except ValueError:
            repeated = []
            try:
                patch = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}") from None
        rtype = target.rtype
        warnings = self._check_fields(request, rtype, patch, repeated)
        if not isinstance(patch, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        table = self.store.table(rtype)
        old = table.objects.get((target.namespace, target.name))
        query = request.rel_url.query
        merged = managing.apply(
            old,
            patch,
            shape=_shape(rtype),
            manager=query["fieldManager"],
            force=query.get("force", "") in ("true", "1"),
            subresource=target.subresource,
        )
        managed = merged["metadata"]["managedFields"]
        if old is None:
            obj = admission.prepare_create(self.store, rtype, target.namespace, merged)
            self._admit(user, rtype, None, obj)
            obj["metadata"]["managedFields"] = managed
            created = self.store.create(rtype, obj, dry_run=dry_run)
            return _json_response(created, status=201, warnings=warnings)
        stored = self._write(request, target, merged, user, dry_run=dry_run, managed=managed)
        return _json_response(
            watching.as_served(rtype, stored, metadata_only=False), warnings=warnings
        )

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        options = await _delete_options(request)
        rtype = target.rtype
        obj, gone = self.collector.delete(
            rtype,
            target.namespace,
            target.name,
            propagation=options.get("propagationPolicy"),
            preconditions=options.get("preconditions"),
            dry_run=_delete_dry_run(request, options),
        )
        if gone and rtype.kind != "Pod":
            meta = obj["metadata"]
            return _json_response(
                errors.success_body(
                    name=meta["name"], group=rtype.group, kind=rtype.plural, uid=meta["uid"]
                )
            )
        return _json_response(watching.as_served(rtype, obj, metadata_only=False))

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        options = await _delete_options(request)
        dry_run = _delete_dry_run(request, options)
        query = request.rel_url.query
        matches = listing.matcher(
            target, query.get("labelSelector", ""), query.get("fieldSelector", "")
        )
        rtype = target.rtype
        for (namespace, name), obj in list(self.store.table(rtype).objects.items()):
            if target.namespace and namespace != target.namespace:
                continue
            if matches(obj):
                self.collector.delete(
                    rtype,
                    namespace,
                    name,
                    propagation=options.get("propagationPolicy"),
                    dry_run=dry_run,
                )
        return _json_response(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {},
                "items": [],
            }
        )


def _shape(rtype: ResourceType) -> managing.Shape:
    return managing.Shape(
        api_version=rtype.api_version,
        kind=rtype.kind,
        schema=rtype.schema if rtype.is_custom else None,
        status_subresource=rtype.status_subresource,
    )


def _manager(request: web.Request) -> str:
    """fieldManager, else the User-Agent's product (as kube-apiserver's default)."""
    given = request.rel_url.query.get("fieldManager")
    if given:
        return given
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0] or "unknown"


def _verb(request: web.Request) -> str:
    return {"POST": "create", "PUT": "update"}.get(request.method, "patch")


def _delete_dry_run(request: web.Request, options: dict[str, Any]) -> bool:
    if "dryRun" in options:
        values = options["dryRun"] or []
        if any(value != "All" for value in values):
            raise errors.invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                [
                    {
                        "reason": "FieldValueNotSupported",
                        "message": f"Unsupported value: {json.dumps(values)}: "
                        'supported values: "All"',
                        "field": "dryRun",
                    }
                ],
            )
        return bool(values)
    return _dry_run(request, "DeleteOptions")


async def _read_body(request: web.Request) -> tuple[Any, list[str]]:
    """(decoded body, paths of repeated JSON keys)."""
    raw = await request.read()
    content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
    try:
        if content_type in ("application/yaml", "application/x-yaml"):
            return yaml.safe_load(raw), []
        return fieldvalidation.parse_json(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding request body: {exc}") from None


async def _delete_options(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    options: dict[str, Any] = {}
    if raw.strip():
        try:
            options = dict(json.loads(raw) or {})
        except (ValueError, TypeError):
            raise errors.bad_request("error decoding DeleteOptions") from None
    policy = request.rel_url.query.get("propagationPolicy")
    if policy:
        options["propagationPolicy"] = policy
    orphan = options.get("orphanDependents", request.rel_url.query.get("orphanDependents"))
    if orphan is not None and "propagationPolicy" not in options:
        # The deprecated option: true is Orphan, false is Background.
        options["propagationPolicy"] = "Orphan" if orphan in (True, "true") else "Background"
    return options
