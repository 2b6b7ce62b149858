"""The in-cluster service account: the API server's address, token and CA in a Pod.

Owns reading what the kubelet and the Service give a Pod (``KUBERNETES_SERVICE_HOST`` and
``_PORT``, the token and CA files) into a configuration shaped like the ``kubernetes``
package's ``Configuration`` (the attributes ``certmgr.kube.config`` reads), with that
package's in-cluster semantics: an IPv6 host in brackets, ``bearer <token>``, the token
file re-read at most once a minute by ``refresh_api_key_hook`` (projected tokens rotate),
the proxy for https from the environment. It must not import the ``kubernetes`` package
(its client configuration brings urllib3 and multiprocessing: resident for nothing) nor
do network I/O.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Final

from certmgr.kube.errors import ConfigError

TOKEN_REFRESH_SECONDS: Final = 60.0


class InClusterConfiguration:
    """What ``certmgr.kube.config`` reads from a ``kubernetes`` ``Configuration``."""

    def __init__(self, *, host: str, ssl_ca_cert: str, proxy: str | None) -> None:
        self.host = host
        self.ssl_ca_cert = ssl_ca_cert
        self.cert_file: str | None = None
        self.key_file: str | None = None
        self.verify_ssl = True
        self.tls_server_name: str | None = None
        self.proxy = proxy
        self.api_key: dict[str, str] = {}
        self.api_key_prefix: dict[str, str] = {}
        self.refresh_api_key_hook: Callable[[InClusterConfiguration], None] | None = None


class InClusterLoader:
    """Loads the configuration and keeps its token fresh (see the module docstring)."""

    def __init__(
        self,
        *,
        token_file: str,
        ca_file: str,
        environ: Mapping[str, str] = os.environ,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_file = token_file
        self._ca_file = ca_file
        self._environ = environ
        self._monotonic = monotonic
        self._token = ""
        self._token_read_at = 0.0

    def load(self) -> InClusterConfiguration:
        host = self._environ.get("KUBERNETES_SERVICE_HOST")
        port = self._environ.get("KUBERNETES_SERVICE_PORT")
        if host is None or port is None:
            raise _error("Service host/port is not set.")
        if not host or not port:
            raise _error("Service host/port is set but empty.")
        if not os.path.isfile(self._token_file):
            raise _error("Service token file does not exist.")
        self._read_token()
        if not os.path.isfile(self._ca_file):
            raise _error("Service certification file does not exist.")
        with open(self._ca_file) as file:
            if not file.read():
                raise _error("Cert file exists but empty.")
        server = f"https://{_join_host_port(host, port)}"
        configuration = InClusterConfiguration(
            host=server, ssl_ca_cert=self._ca_file, proxy=_environment_proxy()
        )
        self._set_token(configuration)
        configuration.refresh_api_key_hook = self._refresh
        return configuration

    def _refresh(self, configuration: InClusterConfiguration) -> None:
        if self._monotonic() - self._token_read_at >= TOKEN_REFRESH_SECONDS:
            self._read_token()
        self._set_token(configuration)

    def _set_token(self, configuration: InClusterConfiguration) -> None:
        configuration.api_key["BearerToken"] = self._token

    def _read_token(self) -> None:
        with open(self._token_file) as file:
            content = file.read()
        if not content:
            raise _error("Token file exists but empty.")
        self._token = f"bearer {content}"
        self._token_read_at = self._monotonic()


def _join_host_port(host: str, port: str) -> str:
    """Go's ``net.JoinHostPort``: an IPv6 literal (or a zone) goes in brackets."""
    return f"[{host}]:{port}" if ":" in host or "%" in host else f"{host}:{port}"


def _environment_proxy() -> str | None:
    """The proxy the ``kubernetes`` package's Configuration takes for an https server:
    ``https_proxy``, else ``all_proxy`` (either case), as urllib reads them."""
    proxies = urllib.request.getproxies()
    return proxies.get("https") or proxies.get("all") or None


def _error(message: str) -> ConfigError:
    return ConfigError(f"in-cluster configuration: {message}")
