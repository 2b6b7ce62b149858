"""What ``requests``' trust_env read per request is read once: proxies per origin (NO_PROXY
still honoured), CA bundle variables at construction, ~/.netrc never."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from certmgr.acme import AcmeAccountKey, generate_account_key
from certmgr.acme import transport as acme_transport
from certmgr.acme.transport import AcmeTransport

DIRECTORY = {"newNonce": "http://ca.invalid/nonce", "newAccount": "http://ca.invalid/acct"}
VARIABLES = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
    "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


class DirectoryServer:
    """Serves the directory, directly or as a plain-HTTP proxy; records what it got."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.json_response(DIRECTORY)


@pytest.fixture
async def server() -> AsyncIterator[DirectoryServer]:
    directory = DirectoryServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", directory.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    directory.url = str(test_server.make_url("")).rstrip("/")
    try:
        yield directory
    finally:
        await test_server.close()


@pytest.fixture
async def transport() -> AsyncIterator[AcmeTransport]:
    key = AcmeAccountKey.from_pem(generate_account_key())
    acme = AcmeTransport(key, verify=True, user_agent="test", max_concurrency=1)
    try:
        yield acme
    finally:
        await acme.close()


async def test_the_environment_proxy_is_used(
    server: DirectoryServer, transport: AcmeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the recording server plays the proxy
    reply = await transport.get_directory("http://ca.invalid/directory")
    assert reply.body == DIRECTORY
    assert server.seen[0]["Host"] == "ca.invalid"


async def test_no_proxy_is_honoured(
    server: DirectoryServer,
    transport: AcmeTransport,
    monkeypatch: pytest.MonkeyPatch,
    unused_tcp_port: int,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_tcp_port}")  # nobody there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    reply = await transport.get_directory(server.url + "/directory")
    assert reply.body == DIRECTORY


async def test_proxies_are_looked_up_once_per_origin(
    server: DirectoryServer, transport: AcmeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    original = acme_transport.environment_proxies

    def counting(url: str) -> dict[str, str]:
        lookups.append(url)
        return original(url)

    monkeypatch.setattr(acme_transport, "environment_proxies", counting)
    for _ in range(3):
        await transport.get_directory(server.url + "/directory")
    assert lookups == [server.url + "/directory"]
    assert len(server.seen) == 3


async def test_netrc_is_not_read(
    server: DirectoryServer,
    transport: AcmeTransport,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    await transport.get_directory(server.url + "/directory")
    assert "Authorization" not in server.seen[0]


@pytest.mark.parametrize(
    ("verify", "environment", "expected"),
    [
        (True, {}, True),
        (True, {"REQUESTS_CA_BUNDLE": "/env/ca.pem"}, "/env/ca.pem"),
        (True, {"CURL_CA_BUNDLE": "/curl/ca.pem"}, "/curl/ca.pem"),
        ("/issuer/ca.pem", {"REQUESTS_CA_BUNDLE": "/env/ca.pem"}, "/issuer/ca.pem"),
        (False, {"REQUESTS_CA_BUNDLE": "/env/ca.pem"}, False),
    ],
    ids=["default", "requests-bundle", "curl-bundle", "issuer-bundle-wins", "skip-verify"],
)
def test_ca_bundle_variables_are_read_once(
    monkeypatch: pytest.MonkeyPatch,
    verify: bool | str,
    environment: dict[str, str],
    expected: bool | str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert acme_transport._Environment(verify).verify == expected


@pytest.mark.parametrize(
    ("rewrite", "shared"),
    [
        pytest.param(False, True, id="same-bundle-one-context"),
        pytest.param(True, False, id="bundle-changed-on-disk-new-context"),
    ],
)
def test_accounts_share_one_trust_context_per_bundle(
    tmp_path: Path, rewrite: bool, shared: bool
) -> None:
    # Each context holds its own copy of the bundle in OpenSSL's heap (~0.8 MB for
    # certifi's), and each ACME account built one.
    bundle = tmp_path / "ca.pem"
    bundle.write_text(Path(acme_transport.certifi.where()).read_text())
    first = acme_transport._Environment(str(bundle)).ssl_context()
    if rewrite:
        bundle.write_text(bundle.read_text() + "\n")
    second = acme_transport._Environment(str(bundle)).ssl_context()
    assert (first is second) is shared
    assert (
        acme_transport._Environment(True).ssl_context()
        is acme_transport._Environment(True).ssl_context()
    )


def test_a_missing_bundle_still_fails_when_the_context_is_built(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        acme_transport._Environment(str(tmp_path / "missing.pem")).ssl_context()
