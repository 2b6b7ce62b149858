"""The Pebble harness: Debian's ``pebble`` and ``pebble-challtestsrv`` on free loopback ports.

Owns :class:`PebbleConfig` (every knob the suites turn: validity, EAB, blocklist and
Pebble's misbehaviour switches) and :class:`PebbleServer`, which writes a config file and
a fresh listener CA into a temporary directory, starts challtestsrv as the only DNS server
Pebble asks (every name resolves to 127.0.0.1, AAAA answers disabled so the validation
always dials IPv4), starts Pebble, and waits until the directory answers.

It must not answer challenges: a test (or the product's solver) listens on
``http01_port``. It is synchronous on purpose: the pytest fixture and ``certmgr dev
pebble`` call it outside any event loop, so it uses the standard library for its two
HTTP probes instead of aiohttp. Processes are stopped by PID through
:mod:`certmgr.testing.pebble_processes`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from certmgr.testing.pebble_listener_ca import write_listener_certificates
from certmgr.testing.pebble_processes import ManagedProcess, spawn

PEBBLE_BINARY = "pebble"
CHALLTESTSRV_BINARY = "pebble-challtestsrv"
_READY_TIMEOUT_SECONDS = 15.0
_START_ATTEMPTS = 3


class PebbleError(RuntimeError):
    """Pebble or challtestsrv could not be started; the message carries the log tail."""


@dataclass(frozen=True, slots=True)
class PebbleConfig:
    """What kind of CA to run. ``None`` means "Pebble's own default".

    ``eab_keys`` maps a key id to its base64url HMAC key (see :func:`generate_eab_key`).
    The ``*_percent`` knobs and ``va_nosleep`` / ``alternate_roots`` / ``chain_length``
    become Pebble's ``PEBBLE_*`` environment variables.
    """

    http01_port: int | None = None
    tls_port: int | None = None
    certificate_validity_period: int | None = None
    eab_keys: Mapping[str, str] = field(default_factory=dict)
    require_eab: bool = False
    domain_blocklist: tuple[str, ...] = ()
    nonce_reject_percent: int | None = None
    authz_reuse_percent: int | None = None
    va_nosleep: bool = True
    alternate_roots: int = 0
    chain_length: int | None = None
    # The DNS server Pebble resolves and validates with ("host:port"), e.g. a BIND of
    # certmgr.testing.bind for DNS-01; None: challtestsrv (every name is 127.0.0.1).
    dns_server: str | None = None

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.nonce_reject_percent is not None:
            env["PEBBLE_WFE_NONCEREJECT"] = str(self.nonce_reject_percent)
        if self.authz_reuse_percent is not None:
            env["PEBBLE_AUTHZREUSE"] = str(self.authz_reuse_percent)
        if self.va_nosleep:
            env["PEBBLE_VA_NOSLEEP"] = "1"
        if self.alternate_roots:
            env["PEBBLE_ALTERNATE_ROOTS"] = str(self.alternate_roots)
        if self.chain_length is not None:
            env["PEBBLE_CHAIN_LENGTH"] = str(self.chain_length)
        return env


def generate_eab_key() -> str:
    """A random HMAC key in the unpadded base64url form Pebble's config expects."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PICKED_PORT = 10000
_PICK_ATTEMPTS = 50
_RANDOM = secrets.SystemRandom()


def free_port(
    *,
    ephemeral: tuple[int, int] | None = None,
    pick: Callable[[int, int], int] = _RANDOM.randint,
) -> int:
    """A TCP port that was free a moment ago on 127.0.0.1, for a server that binds it later.

    Picked below the kernel's ephemeral range when there is room: a port bound to 0 comes
    from that range, so any outgoing connection on the machine could take it before our
    server binds ("address already in use" in the suites, now and then). Below the range,
    only another listener could, and each candidate is tried before it is returned.
    """
    low, _ = ephemeral or _ephemeral_range()
    if low - 1 > _LOWEST_PICKED_PORT:
        for _ in range(_PICK_ATTEMPTS):
            port = pick(_LOWEST_PICKED_PORT, low - 1)
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        bound: int = sock.getsockname()[1]
        return bound


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = _EPHEMERAL_RANGE_FILE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True, slots=True)
class _Ports:
    acme: int
    management: int
    http01: int
    tls: int
    dns: int
    challtestsrv_management: int


class PebbleServer:
    """A running Pebble + challtestsrv pair. Use as a context manager or start()/stop()."""

    def __init__(self, config: PebbleConfig | None = None, *, workdir: Path | None = None) -> None:
        self.config = config or PebbleConfig()
        self._given_workdir = workdir
        self._workdir: Path | None = None
        self._ports: _Ports | None = None
        self._pebble: ManagedProcess | None = None
        self._challtestsrv: ManagedProcess | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> PebbleServer:
        if self._pebble is not None:
            raise PebbleError("this PebbleServer is already running")
        for binary in (PEBBLE_BINARY, CHALLTESTSRV_BINARY):
            if shutil.which(binary) is None:
                raise PebbleError(f"{binary} not found on PATH (apt-get install pebble)")
        # Absolute: Pebble runs with the workdir as its cwd and reads the paths given here.
        given = self._given_workdir or Path(tempfile.mkdtemp(prefix="certmgr-pebble-"))
        self._workdir = given.absolute()
        self._workdir.mkdir(parents=True, exist_ok=True)
        write_listener_certificates(self._workdir)
        # Free ports are picked before binding, so another process can take one in
        # between; a clash shows up as an early exit and we try again with new ports.
        errors: list[PebbleError] = []
        try:
            while len(errors) < _START_ATTEMPTS:
                self._ports = self._pick_ports()
                try:
                    self._challtestsrv = self._start_challtestsrv()
                    self._pebble = self._start_pebble()
                    return self
                except PebbleError as exc:
                    errors.append(exc)
                    self._stop_processes()
            raise errors[-1]
        except BaseException:
            # Also on Ctrl-C half-way through: nothing may outlive a failed start.
            self._stop_processes()
            self._cleanup_workdir()
            raise

    def stop(self) -> None:
        self._stop_processes()
        self._cleanup_workdir()

    def restart_pebble(self) -> None:
        """Restart Pebble alone on the same ports: accounts, orders and roots are lost."""
        if self._pebble is None:
            raise PebbleError("Pebble is not running")
        self._pebble.stop()
        self._pebble = None
        self._pebble = self._start_pebble()

    def __enter__(self) -> PebbleServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what a client needs -----------------------------------------------------

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self._running_ports().acme}/dir"

    @property
    def management_url(self) -> str:
        return f"https://127.0.0.1:{self._running_ports().management}"

    @property
    def ca_bundle(self) -> str:
        """Path of the PEM CA that signed Pebble's HTTPS listener."""
        return str(self._running_workdir() / "ca.pem")

    @property
    def http01_port(self) -> int:
        return self._running_ports().http01

    @property
    def tls_port(self) -> int:
        return self._running_ports().tls

    @property
    def dns_address(self) -> str:
        return f"127.0.0.1:{self._running_ports().dns}"

    @property
    def challtestsrv_management_url(self) -> str:
        return f"http://127.0.0.1:{self._running_ports().challtestsrv_management}"

    @property
    def log_path(self) -> Path:
        return self._running_workdir() / "pebble.log"

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in (self._pebble, self._challtestsrv) if p is not None)

    def resolve(self, host: str, address: str) -> None:
        """Have Pebble's DNS (challtestsrv) answer ``host`` with ``address`` instead of
        127.0.0.1, as an A record pointing a name at a load balancer does: how a test has
        Pebble validate through one particular Gateway (its ``status.addresses``). The
        pebble fixture is shared: :meth:`forget` the name afterwards. Not with
        ``PebbleConfig.dns_server`` (Pebble does not ask challtestsrv then)."""
        self._challtestsrv_post("add-a", {"host": host, "addresses": [address]})

    def forget(self, host: str) -> None:
        """Undo :meth:`resolve`: ``host`` is 127.0.0.1 again."""
        self._challtestsrv_post("clear-a", {"host": host})

    def _challtestsrv_post(self, path: str, body: Mapping[str, object]) -> None:
        request = urllib.request.Request(
            f"{self.challtestsrv_management_url}/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if int(response.status) != 200:
                raise PebbleError(f"challtestsrv /{path}: HTTP {response.status}")

    def root_pems(self) -> list[str]:
        """Pebble's issuing roots: the default first, then any alternates."""
        return self._management_pems("roots")

    def intermediate_pems(self) -> list[str]:
        return self._management_pems("intermediates")

    def log_tail(self, *, max_lines: int = 40) -> str:
        return self._pebble.log_tail(max_lines=max_lines) if self._pebble else ""

    # -- internals ---------------------------------------------------------------

    def _pick_ports(self) -> _Ports:
        return _Ports(
            acme=free_port(),
            management=free_port(),
            http01=self.config.http01_port or free_port(),
            tls=self.config.tls_port or free_port(),
            dns=free_port(),
            challtestsrv_management=free_port(),
        )

    def _running_ports(self) -> _Ports:
        if self._ports is None or self._pebble is None:
            raise PebbleError("Pebble is not running")
        return self._ports

    def _running_workdir(self) -> Path:
        if self._workdir is None:
            raise PebbleError("Pebble is not running")
        return self._workdir

    def _write_config(self) -> Path:
        ports = self._ports
        workdir = self._workdir
        assert ports is not None and workdir is not None
        settings: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{ports.acme}",
            "managementListenAddress": f"127.0.0.1:{ports.management}",
            "certificate": str(workdir / "listener.pem"),
            "privateKey": str(workdir / "listener-key.pem"),
            "httpPort": ports.http01,
            "tlsPort": ports.tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": self.config.require_eab,
        }
        if self.config.eab_keys:
            settings["externalAccountMACKeys"] = dict(self.config.eab_keys)
        if self.config.domain_blocklist:
            settings["domainBlocklist"] = list(self.config.domain_blocklist)
        if self.config.certificate_validity_period is not None:
            settings["certificateValidityPeriod"] = self.config.certificate_validity_period
        path = workdir / "pebble-config.json"
        path.write_text(json.dumps({"pebble": settings}, indent=2))
        return path

    def _start_challtestsrv(self) -> ManagedProcess:
        ports = self._ports
        workdir = self._workdir
        assert ports is not None and workdir is not None
        argv = [
            CHALLTESTSRV_BINARY,
            "-dns01",
            f"127.0.0.1:{ports.dns}",
            "-management",
            f"127.0.0.1:{ports.challtestsrv_management}",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            # Challenge servers of its own would fight our responder for the ports.
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
        ]
        process = spawn(
            argv,
            name="pebble-challtestsrv",
            log_path=workdir / "challtestsrv.log",
            env=_base_environment(),
            cwd=workdir,
        )
        self._wait_until(process, lambda: _tcp_open(ports.challtestsrv_management))
        return process

    def _start_pebble(self) -> ManagedProcess:
        ports = self._ports
        workdir = self._workdir
        assert ports is not None and workdir is not None
        config_path = self._write_config()
        env = _base_environment() | self.config.environment()
        dns_server = self.config.dns_server or f"127.0.0.1:{ports.dns}"
        argv = [PEBBLE_BINARY, "-config", str(config_path), "-dnsserver", dns_server]
        process = spawn(argv, name="pebble", log_path=workdir / "pebble.log", env=env, cwd=workdir)
        context = ssl.create_default_context(cafile=str(workdir / "ca.pem"))
        url = f"https://127.0.0.1:{ports.acme}/dir"
        self._wait_until(process, lambda: _https_ok(url, context))
        return process

    def _wait_until(self, process: ManagedProcess, ready: Callable[[], bool]) -> None:
        # Real time is right here: we wait for a real process, with a bounded deadline.
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        delay = 0.005
        while time.monotonic() < deadline:
            if not process.alive():
                raise PebbleError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
                )
            if ready():
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise PebbleError(
            f"{process.name} did not become ready within {_READY_TIMEOUT_SECONDS:.0f}s:\n"
            f"{process.log_tail()}"
        )

    def _management_pems(self, kind: str) -> list[str]:
        context = ssl.create_default_context(cafile=self.ca_bundle)
        pems: list[str] = []
        for index in range(self.config.alternate_roots + 1):
            url = f"{self.management_url}/{kind}/{index}"
            with urllib.request.urlopen(url, context=context, timeout=5) as response:
                pems.append(response.read().decode())
        return pems

    def _stop_processes(self) -> None:
        for process in (self._pebble, self._challtestsrv):
            if process is not None:
                process.stop()
        self._pebble = None
        self._challtestsrv = None

    def _cleanup_workdir(self) -> None:
        if self._workdir is not None and self._given_workdir is None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None


def _base_environment() -> dict[str, str]:
    # Only what the Go binaries need: a stray PEBBLE_* in the developer's shell must
    # not change what a test runs against.
    return {key: value for key, value in os.environ.items() if not key.startswith("PEBBLE_")}


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False
