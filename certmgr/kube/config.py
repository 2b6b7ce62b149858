"""Where the API server is and how to authenticate to it.

Owns loading the connection settings through the ``kubernetes`` package (kubeconfig with
contexts, client certificates, bearer tokens, exec credential plugins; in-cluster service
accounts) and keeping the bearer token fresh. The ``kubernetes`` package is used for
configuration only, and imported only when a configuration is loaded: in a cluster only
its in-cluster loader (see ``_incluster_config``). This module must never use its HTTP client.

Token freshness: the package installs a ``refresh_api_key_hook`` on its Configuration that
re-runs an exec plugin when its token is near expiry, or re-reads an in-cluster token file
once a minute (projected tokens rotate). ``Credentials`` calls that hook off the event loop
(an exec plugin is a subprocess) at most every ``check_interval`` seconds, and after a 401
reloads the whole configuration once, which catches tokens revoked before their expiry.
TLS material (CA, client certificate) and the proxy are resolved once at connect.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import os
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from certmgr.kube.errors import ConfigError

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    host: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    verify_ssl: bool
    tls_server_name: str | None
    proxy: str | None
    # Human-readable origin for logs: "in-cluster" or "kubeconfig /path (context x)".
    source: str
    # The namespace we run in (in-cluster) or the context's namespace; "default" otherwise.
    namespace: str = "default"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS settings, or None for a plain-HTTP server."""
        if not self.host.startswith("https"):
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


Loader = Callable[[], Any]  # returns a kubernetes.client.Configuration


class Credentials:
    """The Authorization header value, kept fresh as described in the module docstring."""

    def __init__(
        self,
        configuration: Any,
        *,
        reload: Loader,
        check_interval: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configuration = configuration
        self._reload = reload
        self._check_interval = check_interval
        self._monotonic = monotonic
        self._checked_at = monotonic()
        self._lock = asyncio.Lock()
        # Bumped on each reload, so concurrent 401s trigger one reload, not one each.
        self.generation = 0

    async def authorization(self) -> str | None:
        hook = getattr(self._configuration, "refresh_api_key_hook", None)
        if hook is not None and self._monotonic() - self._checked_at >= self._check_interval:
            async with self._lock:
                if self._monotonic() - self._checked_at >= self._check_interval:
                    await asyncio.to_thread(hook, self._configuration)
                    self._checked_at = self._monotonic()
        return _authorization(self._configuration)

    async def reload_after_unauthorized(self, seen_generation: int) -> None:
        """Reload everything once per 401 wave; a no-op if someone already reloaded."""
        async with self._lock:
            if self.generation != seen_generation:
                return
            try:
                self._configuration = await asyncio.to_thread(self._reload)
            except Exception:
                # Keep the old token: the caller is about to report the 401 anyway.
                return
            finally:
                self.generation += 1
            self._checked_at = self._monotonic()


def _authorization(configuration: Any) -> str | None:
    api_key: dict[str, str] = getattr(configuration, "api_key", None) or {}
    value = api_key.get("BearerToken") or api_key.get("authorization")
    if not value:
        return None
    prefix = (getattr(configuration, "api_key_prefix", None) or {}).get("BearerToken")
    return f"{prefix} {value}" if prefix else value


def in_cluster_available() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.isfile(
        os.path.join(SERVICE_ACCOUNT_DIR, "token")
    )


def load(
    *, kubeconfig: str | None = None, context: str | None = None
) -> tuple[ConnectionConfig, Credentials]:
    """Load settings: in-cluster when no kubeconfig or context is given and the service
    account files exist; otherwise the given kubeconfig, ``$KUBECONFIG`` or ~/.kube/config.

    Blocking (files, maybe an exec plugin); call it through ``asyncio.to_thread``.
    """
    if kubeconfig is None and context is None and in_cluster_available():
        loader: Loader = _in_cluster
        source = "in-cluster"
        namespace = _read_text(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) or "default"
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        first = path.split(os.pathsep)[0]
        if kubeconfig is not None and not os.path.exists(first):
            raise ConfigError(f"kubeconfig {first} does not exist")
        if not any(os.path.exists(p) for p in path.split(os.pathsep) if p):
            raise ConfigError(
                f"no kubeconfig found at {path} and not running in a cluster "
                "(give --kubeconfig or set KUBECONFIG)"
            )

        def loader() -> Any:
            return _from_kubeconfig(path, context)

        source = f"kubeconfig {path}" + (f" (context {context})" if context else "")
    configuration = loader()
    if source != "in-cluster":
        namespace = _context_namespace(path, context)
    host = str(configuration.host or "").rstrip("/")
    if not host.startswith(("http://", "https://")):
        raise ConfigError(f"{source}: server address {host!r} is not an http(s) URL")
    connection = ConnectionConfig(
        host=host,
        ca_file=configuration.ssl_ca_cert or None,
        cert_file=configuration.cert_file or None,
        key_file=configuration.key_file or None,
        verify_ssl=bool(configuration.verify_ssl),
        tls_server_name=getattr(configuration, "tls_server_name", None) or None,
        proxy=configuration.proxy or None,
        source=source,
        namespace=namespace,
    )
    return connection, Credentials(configuration, reload=loader)


def proxy_for(connection: ConnectionConfig) -> tuple[str | None, str | None]:
    """The proxy to reach the API server through and its ``Proxy-Authorization`` value,
    resolved once.

    The kubeconfig's ``proxy-url`` wins; otherwise ``HTTPS_PROXY`` / ``HTTP_PROXY``
    (by the server's scheme) unless ``NO_PROXY`` covers the host, as client-go's
    ``http.ProxyFromEnvironment`` does. Credentials in the URL become the header value,
    so the returned URL is safe to log. Reads the environment: call it off the loop.
    """
    if connection.proxy:
        url = URL(connection.proxy)
        if not url.user:
            return str(url), None
        return str(url.with_user(None)), aiohttp.encode_basic_auth(url.user, url.password or "")
    try:
        proxy, auth = get_env_proxy_for_url(URL(connection.host))
    except LookupError:
        return None, None
    return str(proxy), (auth.encode() if auth is not None else None)


def _from_kubeconfig(path: str, context: str | None) -> Any:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except k8s_config.ConfigException as exc:
        raise ConfigError(f"kubeconfig {path}: {_one_line(exc)}") from exc
    except Exception as exc:
        # YAML errors, missing keys, unreadable files, failing exec plugins: whatever the
        # package raises, the CLI must print one line, not a traceback.
        raise ConfigError(f"kubeconfig {path} is unusable: {_one_line(exc)}") from exc
    return configuration


def _in_cluster() -> Any:
    incluster_config = _incluster_config()
    configuration = incluster_config.Configuration()
    loader = incluster_config.InClusterConfigLoader(
        token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
        cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
    )
    try:
        loader.load_and_set(configuration)
    except Exception as exc:
        raise ConfigError(f"in-cluster configuration: {_one_line(exc)}") from exc
    return configuration


_INCLUSTER: Final = "kubernetes.config.incluster_config"


@functools.cache
def _incluster_config() -> Any:
    """``kubernetes.config.incluster_config`` without the ``__init__`` of ``kubernetes`` and
    ``kubernetes.config``: those import the whole package (the kubeconfig loader with
    requests, oauthlib and yaml, the API client with pydantic, websocket for streams:
    ~13 MB), while in-cluster loading needs only this module and the client's
    ``Configuration``. The two packages are registered bare (their search path, none of
    their code) only while the module loads; then they and the modules loaded under
    ``kubernetes.config`` leave ``sys.modules`` again, so a later ``import kubernetes``
    runs everything as usual (with its own copy of this module)."""
    if "kubernetes.config" in sys.modules:
        return importlib.import_module(_INCLUSTER)
    before = set(sys.modules)
    bare: list[str] = []
    try:
        for package in ("kubernetes", "kubernetes.config"):
            if package not in sys.modules:
                spec = importlib.util.find_spec(package)
                if spec is None:
                    raise ConfigError(f"the {package} package is not installed")
                sys.modules[package] = importlib.util.module_from_spec(spec)
                bare.append(package)
        return importlib.import_module(_INCLUSTER)
    finally:
        for name in set(sys.modules) - before:
            if name in bare or name.startswith("kubernetes.config."):
                del sys.modules[name]


def _context_namespace(path: str, context: str | None) -> str:
    """The namespace of the selected (or current) context; the config loaded already, so
    a failure here only means "no namespace given"."""
    from kubernetes import config as k8s_config

    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except Exception:
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


def _read_text(path: str) -> str:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
