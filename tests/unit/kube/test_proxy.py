"""Proxies and ~/.netrc: resolved once at connect, not read again on every request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certmgr.kube import config as kube_config
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.config import ConnectionConfig

from .conftest import Reply
from .test_config import write_kubeconfig

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def connection(host: str, proxy: str | None = None) -> ConnectionConfig:
    return ConnectionConfig(
        host=host,
        ca_file=None,
        cert_file=None,
        key_file=None,
        verify_ssl=True,
        tls_server_name=None,
        proxy=proxy,
        source="test",
    )


@pytest.mark.parametrize(
    ("host", "kubeconfig_proxy", "environment", "expected"),
    [
        ("https://kube.example:6443", None, {}, (None, None)),
        (
            "https://kube.example:6443",
            None,
            {"HTTPS_PROXY": "http://proxy.example:3128"},
            ("http://proxy.example:3128", None),
        ),
        (
            "https://kube.example:6443",
            None,
            {"HTTPS_PROXY": "http://bob:pw@proxy.example:3128"},
            ("http://proxy.example:3128", "Basic Ym9iOnB3"),
        ),
        (
            "https://kube.example:6443",
            None,
            {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "kube.example"},
            (None, None),
        ),
        (
            "http://kube.example:8080",
            None,
            {"HTTPS_PROXY": "http://proxy.example:3128"},
            (None, None),
        ),
        (
            "https://kube.example:6443",
            "http://alice:pw@corp.example:8080",
            {"HTTPS_PROXY": "http://proxy.example:3128"},
            ("http://corp.example:8080", "Basic YWxpY2U6cHc="),
        ),
    ],
    ids=[
        "none",
        "https-proxy",
        "https-proxy-credentials",
        "no-proxy-covers-host",
        "scheme-mismatch",
        "kubeconfig-wins",
    ],
)
def test_proxy_for(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    kubeconfig_proxy: str | None,
    environment: dict[str, str],
    expected: tuple[str | None, str | None],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert kube_config.proxy_for(connection(host, kubeconfig_proxy)) == expected


async def test_requests_go_through_the_environment_proxy(
    scripted: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scripted server plays the proxy: a plain-HTTP proxy receives the request with
    # the real server's name in Host.
    monkeypatch.setenv("HTTP_PROXY", scripted.url)
    path = write_kubeconfig(tmp_path / "kc", "http://kube.invalid:6443", user={"token": "t"})
    scripted.reply(200, {"kind": "Namespace", "metadata": {"name": "default"}})
    async with await KubeClient.connect(kubeconfig=str(path)) as kube:
        await kube.get(r.NAMESPACES, "default")
    assert [seen.headers["Host"] for seen in scripted.probes + scripted.seen] == [
        "kube.invalid:6443",
        "kube.invalid:6443",
    ]


async def test_a_netrc_entry_for_the_server_is_not_read(
    scripted: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With aiohttp's trust_env, a netrc entry for the API server's host becomes basic
    # auth on every request, which aiohttp refuses to combine with our bearer token.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    path = write_kubeconfig(tmp_path / "kc", scripted.url, user={"token": "t"})
    scripted.probe_replies["/livez/ping"] = Reply(200, "ok")
    scripted.reply(200, {"kind": "Namespace", "metadata": {"name": "default"}})
    async with await KubeClient.connect(kubeconfig=str(path)) as kube:
        await kube.get(r.NAMESPACES, "default")
    assert scripted.seen[0].headers["Authorization"] == "Bearer t"
