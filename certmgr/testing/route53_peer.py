"""A local Route 53 for the tests: moto's server, made to answer as AWS does, plus faults.

Run as ``python -m certmgr.testing.route53_peer --ready-file PATH``; it writes the HTTP
and DNS ports to PATH once it listens. It owns the WSGI layer in front of moto that

* corrects where moto's answers differ from Route 53's: moto checks the SigV4 signature of
  a GET against a payload hash of its headers (every authenticated GET fails), renders
  auth errors in the query protocol's shape (botocore reads no code from them), answers a
  DELETE of a missing record set with ``InvalidInput`` (AWS: ``InvalidChangeBatch``), and
  reports every change ``INSYNC`` at once under one fixed id (AWS: a new id, ``PENDING``);
* injects faults on request through ``/_peer/*``: ``Throttling`` answers, changes that
  stay ``PENDING`` for a number of ``GetChange`` polls; and records the calls it saw;
* answers DNS for the public hosted zones (:mod:`certmgr.testing.route53_dns`).

It must not be imported by certmgr itself (it imports moto, a test dependency).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

ROUTE53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
ACCOUNT_ID = "123456789012"
_ROUTE53_OPERATIONS = (
    ("POST", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"^/2013-04-01/change/[^/]+$"), "GetChange"),
    ("GET", re.compile(r"^/2013-04-01/hostedzonesbyname/?$"), "ListHostedZonesByName"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/?$"), "ListHostedZones"),
    ("POST", re.compile(r"^/2013-04-01/hostedzone/?$"), "CreateHostedZone"),
)
_MOTO_CHANGE_ID = re.compile(r"<Id>(/change/[^<]*)</Id>")
_STATUS = re.compile(r"<Status>(PENDING|INSYNC)</Status>")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(slots=True)
class Faults:
    """What the peer does wrong on purpose; changed through ``/_peer/*``."""

    # operation -> how many more requests get a 400 Throttling.
    throttle: dict[str, int] = field(default_factory=dict)
    # GetChange polls a new change answers PENDING before INSYNC.
    pending_polls: int = 0
    # change id -> PENDING polls left.
    pending: dict[str, int] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    next_change: int = 1


@dataclass(frozen=True, slots=True)
class Reply:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def route53_error(status: str, code: str, message: str) -> Reply:
    """An error in Route 53's own shape (rest-xml ``ErrorResponse``)."""
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{ROUTE53_NS}"><Error>'
        f"<Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return Reply(status, [("Content-Type", "text/xml")], body)


def operation_of(method: str, path: str, body: bytes) -> str:
    for wanted, pattern, name in _ROUTE53_OPERATIONS:
        if method == wanted and pattern.match(path):
            return name
    if path.startswith("/2013-04-01/"):
        return f"Route53:{method} {path}"
    action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
    return action or f"{method} {path}"


class Route53Peer:
    """The WSGI layer in front of moto's application."""

    def __init__(self, moto_app: WSGIApp, *, reset_moto: Callable[[], None]) -> None:
        self._moto = moto_app
        self._reset_moto = reset_moto
        self._lock = threading.Lock()
        self._faults = Faults()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/_peer/"):
            reply = self._control(method, path, body)
        else:
            reply = self._serve(environ, method, path, body)
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(reply.body))))
        start_response(reply.status, headers)
        return [reply.body]

    # -- the control API ------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        request = json.loads(body) if body else {}
        with self._lock:
            if path == "/_peer/throttle" and method == "POST":
                self._faults.throttle[request["operation"]] = int(request["times"])
            elif path == "/_peer/pending" and method == "POST":
                self._faults.pending_polls = int(request["polls"])
            elif path == "/_peer/reset" and method == "POST":
                self._faults = Faults()
                self._reset_moto()
            elif path == "/_peer/calls" and method == "GET":
                calls = json.dumps(self._faults.calls).encode()
                return Reply("200 OK", [("Content-Type", "application/json")], calls)
            else:
                return Reply("404 Not Found", [], b"")
        return Reply("200 OK", [("Content-Type", "application/json")], b"{}")

    # -- Route 53 / STS / IAM -------------------------------------------------------

    def _serve(self, environ: dict[str, Any], method: str, path: str, body: bytes) -> Reply:
        operation = operation_of(method, path, body)
        with self._lock:
            throttled = self._faults.throttle.get(operation, 0) > 0
            if throttled:
                self._faults.throttle[operation] -= 1
        if throttled:
            reply = route53_error("400 Bad Request", "Throttling", "Rate exceeded")
        else:
            missing = operation == "ChangeResourceRecordSets" and _deletes_missing(path, body)
            reply = self._corrected(operation, path, body, self._forward(environ))
            if missing and reply.status.startswith("200"):
                # moto accepts a DELETE of a record set it once had; Route 53 does not.
                reply = route53_error(
                    "400 Bad Request", "InvalidChangeBatch", _not_found_message(body)
                )
        with self._lock:
            self._faults.calls.append(
                {"operation": operation, "status": int(reply.status.split()[0])}
            )
        return reply

    def _forward(self, environ: dict[str, Any]) -> Reply:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            captured["status"] = status
            captured["headers"] = headers

        chunks = self._moto(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return Reply(captured["status"], list(captured["headers"]), body)

    def _corrected(self, operation: str, path: str, request: bytes, reply: Reply) -> Reply:
        code = int(reply.status.split()[0])
        if code >= 400 and path.startswith("/2013-04-01/"):
            return self._corrected_error(operation, request, reply)
        if code != 200:
            return reply
        if operation == "ChangeResourceRecordSets":
            with self._lock:
                change_id = f"/change/C{self._faults.next_change:013d}"
                self._faults.next_change += 1
                self._faults.pending[change_id] = self._faults.pending_polls
            text = _MOTO_CHANGE_ID.sub(f"<Id>{change_id}</Id>", reply.body.decode(), count=1)
            text = _STATUS.sub("<Status>PENDING</Status>", text, count=1)
            return Reply(reply.status, reply.headers, text.encode())
        if operation == "GetChange":
            change_id = "/change/" + path.rsplit("/", 1)[-1]
            with self._lock:
                left = self._faults.pending.get(change_id, 0)
                if left > 0:
                    self._faults.pending[change_id] = left - 1
            status = "PENDING" if left > 0 else "INSYNC"
            text = _STATUS.sub(f"<Status>{status}</Status>", reply.body.decode(), count=1)
            return Reply(reply.status, reply.headers, text.encode())
        return reply

    def _corrected_error(self, operation: str, request: bytes, reply: Reply) -> Reply:
        try:
            root = ET.fromstring(reply.body)
        except ET.ParseError:
            return reply
        error = root.find(".//Error")
        if root.tag != "ErrorResponse" or error is None or root.find("Errors") is None:
            return reply
        code = error.findtext("Code", "")
        message = error.findtext("Message", "")
        if (
            operation == "ChangeResourceRecordSets"
            and code == "InvalidInput"
            and message.startswith("Invalid request: Expected exactly one of")
        ):
            return route53_error(
                "400 Bad Request", "InvalidChangeBatch", _not_found_message(request)
            )
        return route53_error(reply.status, code, message)


def _deletes_missing(path: str, request: bytes) -> bool:
    """Whether a change batch DELETEs a record set the zone does not hold (moto's state)."""
    from moto.route53.models import route53_backends

    ns = {"r": ROUTE53_NS}
    try:
        changes = ET.fromstring(request).findall(".//r:Change", ns)
    except ET.ParseError:
        return False
    zone_id = path.split("/")[3]
    zone = route53_backends[ACCOUNT_ID]["aws"].zones.get(zone_id)
    if zone is None:
        return False
    present = {
        (rs.name.rstrip(".").lower(), rs.type, rs.set_identifier or "") for rs in zone.rrsets
    }
    for change in changes:
        if change.findtext("r:Action", "", ns) != "DELETE":
            continue
        wanted = (
            change.findtext(".//r:Name", "", ns).rstrip(".").lower(),
            change.findtext(".//r:Type", "", ns),
            change.findtext(".//r:SetIdentifier", "", ns),
        )
        if wanted not in present:
            return True
    return False


def _not_found_message(request: bytes) -> str:
    """Route 53's words for a DELETE of a record set that is not there."""
    ns = {"r": ROUTE53_NS}
    record = ET.fromstring(request).find(".//r:ResourceRecordSet", ns)
    name = record.findtext("r:Name", "", ns) if record is not None else ""
    kind = record.findtext("r:Type", "", ns) if record is not None else ""
    identifier = record.findtext("r:SetIdentifier", "", ns) if record is not None else ""
    where = f"name='{name}', type='{kind}'"
    if identifier:
        where += f", set-identifier='{identifier}'"
    return f"[Tried to delete resource record set [{where}] but it was not found]"


def _fix_moto_get_signatures() -> None:
    """moto hashes a bodiless request's headers as its payload: every signed GET fails."""
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request

    def create_aws_request(self: Any) -> Any:
        request = original(self)
        if self._method in ("GET", "HEAD", "DELETE") and not self._body:
            request.data = b""
        return request

    IAMRequestBase._create_aws_request = create_aws_request  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="route53_peer")
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    from moto.moto_api._internal.models import moto_api_backend
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from certmgr.testing.route53_dns import start_dns_server

    _fix_moto_get_signatures()
    peer = Route53Peer(
        DomainDispatcherApplication(create_backend_app), reset_moto=moto_api_backend.reset
    )
    server = make_server(args.host, 0, peer, threaded=True, request_handler=MotoRequestHandler)
    dns = start_dns_server(args.host)
    ready = {"http_port": server.server_address[1], "dns_port": dns.server_address[1]}
    partial = args.ready_file.with_suffix(".partial")
    partial.write_text(json.dumps(ready))
    os.replace(partial, args.ready_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        dns.shutdown()


if __name__ == "__main__":
    main()
