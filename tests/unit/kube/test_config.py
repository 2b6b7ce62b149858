"""Connection configuration: kubeconfig, exec plugins, in-cluster, token refresh."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.kube import config as kube_config
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import ConfigError


def write_kubeconfig(
    path: Path, server: str, *, user: dict[str, Any], contexts: tuple[str, ...] = ("main",)
) -> Path:
    """Contexts named ``name`` or ``name:namespace``."""
    entries = []
    for spec in contexts:
        name, _, namespace = spec.partition(":")
        context = {"cluster": "c", "user": "u"} | ({"namespace": namespace} if namespace else {})
        entries.append({"name": name, "context": context})
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": entries,
        "current-context": contexts[0].partition(":")[0],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def exec_plugin(tmp_path: Path, *, expired: bool) -> tuple[dict[str, Any], Path]:
    """An exec credential plugin whose token is whatever the file ``token`` holds."""
    token_file = tmp_path / "token"
    token_file.write_text("one")
    script = tmp_path / "plugin.py"
    expiry = "2000-01-01T00:00:00Z" if expired else "2999-01-01T00:00:00Z"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, pathlib
            token = pathlib.Path({str(token_file)!r}).read_text()
            print(json.dumps({{
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "kind": "ExecCredential",
                "status": {{"token": token, "expirationTimestamp": {expiry!r}}},
            }}))
            """
        )
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(script)],
        }
    }
    return user, token_file


async def test_bearer_token_from_kubeconfig_is_sent(scripted: Any, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", scripted.url, user={"token": "s3cret"})
    scripted.reply(200, {"kind": "Namespace", "metadata": {"name": "default"}})
    async with await KubeClient.connect(kubeconfig=str(path)) as kube:
        await kube.get(r.NAMESPACES, "default")
    assert scripted.seen[0].headers["Authorization"] == "Bearer s3cret"


async def test_kubeconfig_env_var_is_the_default(
    scripted: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path / "kc", scripted.url, user={"token": "env"})
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    connection, _ = kube_config.load()
    assert connection.host == scripted.url
    assert connection.source == f"kubeconfig {path}"


async def test_exec_plugin_is_rerun_after_401(scripted: Any, tmp_path: Path) -> None:
    user, token_file = exec_plugin(tmp_path, expired=False)
    path = write_kubeconfig(tmp_path / "kc", scripted.url, user=user)
    unauthorized = {"kind": "Status", "code": 401, "reason": "Unauthorized"}
    scripted.reply(200, {"metadata": {}})
    scripted.reply(401, unauthorized)
    scripted.reply(200, {"metadata": {}})
    async with await KubeClient.connect(kubeconfig=str(path)) as kube:
        await kube.get(r.NAMESPACES, "default")
        token_file.write_text("two")  # the credential rotated and the old one was revoked
        await kube.get(r.NAMESPACES, "default")
    assert [s.headers["Authorization"] for s in scripted.seen] == [
        "Bearer one",
        "Bearer one",
        "Bearer two",
    ]


async def test_expired_exec_token_is_refreshed_before_use(tmp_path: Path) -> None:
    user, token_file = exec_plugin(tmp_path, expired=True)
    path = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", user=user)
    _, credentials = kube_config.load(kubeconfig=str(path))
    now = [0.0]
    credentials = kube_config.Credentials(
        credentials._configuration,
        reload=credentials._reload,
        check_interval=10.0,
        monotonic=lambda: now[0],
    )
    assert await credentials.authorization() == "Bearer one"
    token_file.write_text("two")
    assert await credentials.authorization() == "Bearer one"  # checked at most every 10 s
    now[0] = 10.0
    assert await credentials.authorization() == "Bearer two"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing-file", "does not exist"),
        ("unknown-context", "context"),
        ("not-yaml", "kubeconfig"),
    ],
    ids=["missing-file", "unknown-context", "not-yaml"],
)
async def test_unusable_configuration_is_one_line(tmp_path: Path, setup: str, message: str) -> None:
    path = tmp_path / "kc"
    context = None
    if setup == "unknown-context":
        write_kubeconfig(path, "https://127.0.0.1:1", user={"token": "t"})
        context = "nope"
    elif setup == "not-yaml":
        path.write_text(": : [")
    with pytest.raises(ConfigError) as raised:
        await KubeClient.connect(kubeconfig=str(path), context=context)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_no_configuration_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="not running in a cluster"):
        await KubeClient.connect()


async def test_in_cluster_token_file_is_reread_after_401(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("first")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("cert-manager\n")
    monkeypatch.setattr(kube_config, "SERVICE_ACCOUNT_DIR", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    connection, credentials = kube_config.load()
    assert (connection.host, connection.source) == ("https://10.0.0.1:443", "in-cluster")
    assert connection.ca_file == str(tmp_path / "ca.crt")
    assert connection.namespace == "cert-manager"
    assert (await credentials.authorization() or "").lower() == "bearer first"
    (tmp_path / "token").write_text("second")  # the kubelet rotated the projected token
    await credentials.reload_after_unauthorized(credentials.generation)
    assert (await credentials.authorization() or "").lower() == "bearer second"


async def test_concurrent_401s_reload_once(tmp_path: Path) -> None:
    loads = []

    def reload() -> Any:
        loads.append(1)
        return type("C", (), {"api_key": {"BearerToken": "Bearer x"}})()

    credentials = kube_config.Credentials(object(), reload=reload)
    seen = credentials.generation
    await credentials.reload_after_unauthorized(seen)
    await credentials.reload_after_unauthorized(seen)
    assert len(loads) == 1
    assert await credentials.authorization() == "Bearer x"


@pytest.mark.parametrize(
    ("contexts", "chosen", "namespace"),
    [
        (("main:team-a", "other:team-b"), None, "team-a"),
        (("main:team-a", "other:team-b"), "other", "team-b"),
        (("main",), None, "default"),
    ],
    ids=["current", "chosen", "none-given"],
)
def test_namespace_comes_from_the_context(
    tmp_path: Path, contexts: tuple[str, ...], chosen: str | None, namespace: str
) -> None:
    path = write_kubeconfig(
        tmp_path / "kc", "https://127.0.0.1:1", user={"token": "t"}, contexts=contexts
    )
    connection, _ = kube_config.load(kubeconfig=str(path), context=chosen)
    assert connection.namespace == namespace
