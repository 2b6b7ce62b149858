"""The in-cluster service account loader: what the kubernetes package's loader gives.

Each case is checked against ``kubernetes.config.incluster_config`` itself (the loader
certmgr used before), so the two cannot drift apart silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from certmgr.kube.errors import ConfigError
from certmgr.kube.incluster import TOKEN_REFRESH_SECONDS, InClusterLoader

SERVICE = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def account(tmp_path: Path, *, token: str | None = "tok\n", ca: str | None = "PEM") -> Path:
    if token is not None:
        (tmp_path / "token").write_text(token)
    if ca is not None:
        (tmp_path / "ca.crt").write_text(ca)
    return tmp_path


def theirs(directory: Path, environ: dict[str, str]) -> Any:
    configuration = Configuration()
    InClusterConfigLoader(
        token_filename=str(directory / "token"),
        cert_filename=str(directory / "ca.crt"),
        environ=environ,
    ).load_and_set(configuration)
    return configuration


def ours(directory: Path, environ: dict[str, str], **kwargs: Any) -> Any:
    loader = InClusterLoader(
        token_file=str(directory / "token"),
        ca_file=str(directory / "ca.crt"),
        environ=environ,
        **kwargs,
    )
    return loader.load()


@pytest.mark.parametrize(
    ("environ", "host"),
    [
        (SERVICE, "https://10.0.0.1:443"),
        (
            {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"},
            "https://[fd00::1]:6443",
        ),
        (
            {"KUBERNETES_SERVICE_HOST": "kubernetes.default.svc", "KUBERNETES_SERVICE_PORT": "1"},
            "https://kubernetes.default.svc:1",
        ),
    ],
    ids=["ipv4", "ipv6-bracketed", "name"],
)
def test_settings_match_the_kubernetes_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], host: str
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    directory = account(tmp_path)
    expected, got = theirs(directory, environ), ours(directory, environ)
    assert got.host == expected.host == host
    assert got.ssl_ca_cert == expected.ssl_ca_cert == str(directory / "ca.crt")
    assert got.api_key == expected.api_key == {"BearerToken": "bearer tok\n"}
    assert (got.cert_file, got.key_file, got.verify_ssl) == (None, None, True)
    assert (expected.cert_file, expected.key_file, expected.verify_ssl) == (None, None, True)
    assert got.proxy is expected.proxy is None


@pytest.mark.parametrize(
    ("variables", "proxy"),
    [
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ({"https_proxy": "http://lower:3128"}, "http://lower:3128"),
        ({"ALL_PROXY": "http://all:3128"}, "http://all:3128"),
        ({"HTTP_PROXY": "http://plain:3128"}, None),
    ],
    ids=["https", "https-lowercase", "all", "http-only-ignored"],
)
def test_proxy_from_the_environment_as_the_package_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], proxy: str | None
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    directory = account(tmp_path)
    assert ours(directory, SERVICE).proxy == theirs(directory, SERVICE).proxy == proxy


@pytest.mark.parametrize(
    ("environ", "files", "message"),
    [
        ({}, {}, "Service host/port is not set."),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {}, "Service host/port is not set."),
        (
            {"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"},
            {},
            "Service host/port is set but empty.",
        ),
        (SERVICE, {"token": None}, "Service token file does not exist."),
        (SERVICE, {"token": ""}, "Token file exists but empty."),
        (SERVICE, {"ca": None}, "Service certification file does not exist."),
        (SERVICE, {"ca": ""}, "Cert file exists but empty."),
    ],
    ids=["no-env", "no-port", "empty-host", "no-token", "empty-token", "no-ca", "empty-ca"],
)
def test_what_is_missing_is_named_as_the_package_names_it(
    tmp_path: Path, environ: dict[str, str], files: dict[str, Any], message: str
) -> None:
    directory = account(tmp_path, **files)
    with pytest.raises(ConfigException) as expected:
        theirs(directory, environ)
    assert str(expected.value) == message
    with pytest.raises(ConfigError) as got:
        ours(directory, environ)
    assert str(got.value) == f"in-cluster configuration: {message}"


def test_the_token_file_is_reread_at_most_once_a_minute(tmp_path: Path) -> None:
    now = [100.0]
    directory = account(tmp_path, token="first")
    configuration = ours(directory, SERVICE, monotonic=lambda: now[0])
    hook = configuration.refresh_api_key_hook
    (directory / "token").write_text("second")  # the kubelet rotated the projected token
    now[0] += TOKEN_REFRESH_SECONDS - 1
    hook(configuration)
    assert configuration.api_key == {"BearerToken": "bearer first"}
    now[0] += 1
    hook(configuration)
    assert configuration.api_key == {"BearerToken": "bearer second"}
