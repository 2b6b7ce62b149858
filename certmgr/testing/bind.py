"""A BIND 9 (Debian's ``named``) for the DNS-01 tests: authoritative, dynamic, on loopback.

Owns :class:`BindServer`: writes ``named.conf``, a TSIG key and the zones into a temporary
directory, starts ``named`` in the foreground on a free loopback port (UDP and TCP), waits
until it answers, kills it by PID at :meth:`BindServer.stop`, and gives the rfc2136 solver
block and TSIG Secret that point certmgr at it. Zones: ``example.test`` (or
``dynamic_zone``; the key may change TXT records anywhere in it), ``refused.test`` (every
UPDATE is REFUSED) and an empty root (any other name is NXDOMAIN); in ``example.test``,
``alias``'s challenge record is a CNAME to ``delegated``'s and ``loop1`` / ``loop2`` point
at each other. It must not resolve anything else (no recursion) nor touch the system's
BIND configuration.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from certmgr.testing.pebble import free_port
from certmgr.testing.pebble_processes import ManagedProcess, spawn

NAMED_BINARY: Final = "named"
SEARCH_PATH: Final = ("/usr/sbin", "/usr/local/sbin", "/sbin")
DYNAMIC_ZONE: Final = "example.test"
REFUSING_ZONE: Final = "refused.test"
_READY_TIMEOUT_SECONDS: Final = 15.0
_START_ATTEMPTS: Final = 3

# cert-manager's tsigAlgorithm -> BIND's algorithm name.
BIND_ALGORITHMS: Final = {
    "HMACMD5": "hmac-md5",
    "HMACSHA1": "hmac-sha1",
    "HMACSHA256": "hmac-sha256",
    "HMACSHA512": "hmac-sha512",
}


class BindError(RuntimeError):
    """named could not be started; the message carries its log tail."""


@dataclass(frozen=True, slots=True)
class TsigKey:
    name: str
    algorithm: str  # cert-manager's spelling, e.g. HMACSHA256
    secret: str  # base64, as in a Kubernetes Secret's (decoded) value


def named_binary() -> str | None:
    found = shutil.which(NAMED_BINARY)
    if found:
        return found
    for directory in SEARCH_PATH:
        candidate = Path(directory) / NAMED_BINARY
        if candidate.exists():
            return str(candidate)
    return None


class BindServer:
    """A running ``named``. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        algorithm: str = "HMACSHA256",
        key_name: str = "certmgr-key",
        dynamic_zone: str = DYNAMIC_ZONE,
    ) -> None:
        self.dynamic_zone = dynamic_zone
        self.key = TsigKey(
            name=key_name,
            algorithm=algorithm,
            secret=base64.b64encode(secrets.token_bytes(32)).decode(),
        )
        self._workdir: Path | None = None
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise BindError("named is not running")
        return self._port

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``: Pebble's ``-dnsserver``, the rfc2136 ``nameserver``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> BindServer:
        binary = named_binary()
        if binary is None:
            raise BindError("named not found (apt-get install bind9)")
        self._workdir = Path(tempfile.mkdtemp(prefix="certmgr-bind-")).absolute()
        errors: list[BindError] = []
        try:
            while len(errors) < _START_ATTEMPTS:
                self._port = free_port()
                try:
                    self._process = self._start(binary)
                    return self
                except BindError as exc:
                    errors.append(exc)
                    self._stop_process()
            raise errors[-1]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._stop_process()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    def rfc2136_solver(
        self, *, secret_name: str = "tsig", secret_key: str = "secret"
    ) -> dict[str, Any]:
        """The ``rfc2136`` block of a dns01 solver that updates this server with its key,
        the TSIG secret read from Secret ``secret_name`` (see :meth:`tsig_secret`)."""
        return {
            "nameserver": self.address,
            "tsigKeyName": self.key.name,
            "tsigAlgorithm": self.key.algorithm,
            "tsigSecretSecretRef": {"name": secret_name, "key": secret_key},
        }

    def tsig_secret(
        self, *, namespace: str, name: str = "tsig", key: str = "secret"
    ) -> dict[str, Any]:
        """The Secret holding this server's TSIG secret, as an rfc2136 solver reads it."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {key: base64.b64encode(self.key.secret.encode()).decode()},
        }

    def txt_values(self, fqdn: str) -> set[str]:
        """The TXT values at ``fqdn`` as BIND serves them now (empty when none)."""
        query = dns.message.make_query(fqdn, dns.rdatatype.TXT)
        reply = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=5)
        return {
            b"".join(rdata.strings).decode()
            for rrset in reply.answer
            if rrset.rdtype == dns.rdatatype.TXT
            for rdata in rrset
        }

    def log_tail(self) -> str:
        return self._process.log_tail() if self._process is not None else ""

    def _start(self, binary: str) -> ManagedProcess:
        workdir = self._workdir
        assert workdir is not None
        config = workdir / "named.conf"
        config.write_text(self._config(workdir))
        for zone in (self.dynamic_zone, REFUSING_ZONE):
            (workdir / f"{zone}.db").write_text(_zone_file(zone))
        (workdir / "root.db").write_text(_ROOT_ZONE)
        # -g: foreground, log to stderr; -4: IPv4 only; -n 1: one worker thread (the
        # machine is shared).
        argv = [binary, "-g", "-4", "-n", "1", "-c", str(config)]
        process = spawn(
            argv,
            name="named",
            log_path=workdir / "named.log",
            env={"PATH": "/usr/bin:/bin"},
            cwd=workdir,
        )
        # Real time is right here: we wait for a real process, with a bounded deadline.
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not process.alive():
                raise BindError(
                    f"named exited with {process.popen.returncode}:\n{process.log_tail()}"
                )
            if self._answers():
                return process
            time.sleep(0.05)
        process.stop()
        raise BindError(
            f"named did not answer within {_READY_TIMEOUT_SECONDS:.0f}s:\n{process.log_tail()}"
        )

    def _answers(self) -> bool:
        query = dns.message.make_query(self.dynamic_zone, dns.rdatatype.SOA)
        try:
            reply = dns.query.tcp(query, "127.0.0.1", port=self.port, timeout=0.5)
        except (OSError, dns.exception.DNSException):
            return False
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)

    def _config(self, workdir: Path) -> str:
        key = self.key
        return f"""
options {{
    directory "{workdir}";
    pid-file none;
    session-keyfile "{workdir}/session.key";
    managed-keys-directory "{workdir}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
key "{key.name}" {{
    algorithm {BIND_ALGORITHMS[key.algorithm]};
    secret "{key.secret}";
}};
zone "{self.dynamic_zone}" {{
    type primary;
    file "{workdir}/{self.dynamic_zone}.db";
    update-policy {{ grant {key.name} zonesub TXT; }};
}};
zone "." {{
    type primary;
    file "{workdir}/root.db";
}};
zone "{REFUSING_ZONE}" {{
    type primary;
    file "{workdir}/{REFUSING_ZONE}.db";
    allow-update {{ none; }};
}};
"""

    def _stop_process(self) -> None:
        if self._process is not None:
            self._process.stop()
        self._process = None


# The root, so a name in no zone gets NXDOMAIN all the way up (not REFUSED).
_ROOT_ZONE: Final = """$TTL 60
@   IN SOA ns1.root. hostmaster.root. 1 3600 600 86400 60
@   IN NS  ns1.root.
ns1.root. IN A 127.0.0.1
"""


def _zone_file(zone: str) -> str:
    # In the dynamic zone, for cnameStrategy: Follow: "alias" delegates its challenge
    # record to "delegated"; "loop1" and "loop2" point at each other.
    cnames = (
        f"""_acme-challenge.alias IN CNAME _acme-challenge.delegated.{zone}.
_acme-challenge.loop1 IN CNAME _acme-challenge.loop2.{zone}.
_acme-challenge.loop2 IN CNAME _acme-challenge.loop1.{zone}.
"""
        if zone == DYNAMIC_ZONE
        else ""
    )
    return f"""$TTL 60
@   IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60
@   IN NS  ns1.{zone}.
ns1 IN A   127.0.0.1
{cnames}"""
