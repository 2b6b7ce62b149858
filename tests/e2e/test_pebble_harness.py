"""The Pebble harness serves real ACME: one HTTP-01 issuance with the bare ``acme`` library.

The responder is a throwaway ``http.server`` on the harness's HTTP-01 port; the
product's own solver is tested elsewhere. Also checks the harness's own promises:
what it exposes, and that it leaves no process behind.
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from certmgr.testing.pebble import PebbleConfig, PebbleError, PebbleServer
from certmgr.testing.pebble_fixtures import PebbleFactory
from certmgr.testing.pebble_processes import stray_children

pytestmark = pytest.mark.e2e

_DEADLINE_SECONDS = 20.0
T = TypeVar("T")


class _Responder(http.server.ThreadingHTTPServer):
    """Answers ``/.well-known/acme-challenge/<token>`` from a dict."""

    def __init__(self, port: int) -> None:
        self.answers: dict[str, str] = {}
        super().__init__(("127.0.0.1", port), _ResponderHandler)


class _ResponderHandler(http.server.BaseHTTPRequestHandler):
    server: _Responder

    def do_GET(self) -> None:
        token = self.path.rsplit("/", 1)[-1]
        body = self.server.answers.get(token)
        if not self.path.startswith("/.well-known/acme-challenge/") or body is None:
            self.send_error(404)
            return
        payload = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def responder(pebble: PebbleServer) -> Iterator[_Responder]:
    server = _Responder(pebble.http01_port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _retrying_bad_nonce(step: Callable[[], T]) -> T:
    # Pebble rejects 5 % of nonces and the library retries only once.
    for _ in range(5):
        try:
            return step()
        except messages.Error as error:
            if error.code != "badNonce":
                raise
    return step()


def _wait_for(fetch: Callable[[], T], done: Callable[[T], bool]) -> T:
    deadline = time.monotonic() + _DEADLINE_SECONDS
    delay = 0.01
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _csr_pem(names: list[str]) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


def _issue_with_bare_library(pebble: PebbleServer, responder: _Responder, names: list[str]) -> str:
    account_key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(
        account_key,
        alg=ES256,
        # requests takes a CA bundle path where the library's hint says bool.
        verify_ssl=pebble.ca_bundle,  # type: ignore[arg-type]
        user_agent="certmgr-test",
    )
    directory = client.ClientV2.get_directory(pebble.directory_url, net)
    acme = client.ClientV2(directory, net)
    registration = messages.NewRegistration.from_data(
        email="harness@example.com", terms_of_service_agreed=True
    )
    _retrying_bad_nonce(lambda: acme.new_account(registration))
    csr_pem, _ = _csr_pem(names)
    order = _retrying_bad_nonce(lambda: acme.new_order(csr_pem))
    for authz in order.authorizations:
        # Pebble reuses valid authorizations; answering those again returns 400.
        if authz.body.status == messages.STATUS_VALID:
            continue
        challenge = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = challenge.response_and_validation(account_key)
        responder.answers[challenge.chall.encode("token")] = validation
        _retrying_bad_nonce(lambda: acme.answer_challenge(challenge, response))  # noqa: B023
    for authz in order.authorizations:

        def poll(authz: messages.AuthorizationResource = authz) -> messages.Authorization:
            return _retrying_bad_nonce(lambda: acme.poll(authz))[0].body

        final = _wait_for(poll, lambda body: body.status != messages.STATUS_PENDING)
        assert final.status == messages.STATUS_VALID, final
    _retrying_bad_nonce(lambda: acme.begin_finalization(order))

    def fetch_order() -> messages.Order:
        response = _retrying_bad_nonce(lambda: acme._post_as_get(order.uri))
        order_body: messages.Order = messages.Order.from_json(response.json())
        return order_body

    final_order = _wait_for(fetch_order, lambda o: o.status != messages.STATUS_PROCESSING)
    assert final_order.status == messages.STATUS_VALID, final_order
    certificate = _retrying_bad_nonce(lambda: acme._post_as_get(final_order.certificate))
    return str(certificate.text)


def test_harness_serves_a_real_http01_issuance(pebble: PebbleServer, responder: _Responder) -> None:
    names = ["harness.example.com", "www.harness.example.com"]
    chain_pem = _issue_with_bare_library(pebble, responder, names)

    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    leaf_names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(leaf_names.value.get_values_for_type(x509.DNSName)) == sorted(names)
    # The chain ends at Pebble's root as served on the management interface.
    root = x509.load_pem_x509_certificate(pebble.root_pems()[0].encode())
    assert chain[-1].issuer == root.subject


def test_harness_exposes_a_trusted_directory(pebble: PebbleServer) -> None:
    context = ssl.create_default_context(cafile=pebble.ca_bundle)
    with urllib.request.urlopen(pebble.directory_url, context=context, timeout=5) as response:
        assert response.status == 200
    host, port = pebble.dns_address.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert pebble.management_url.startswith("https://127.0.0.1:")
    assert pebble.log_path.read_text().count("ACME directory available") == 1


@pytest.mark.parametrize(
    ("config", "expected_env_lines"),
    [
        pytest.param(
            PebbleConfig(nonce_reject_percent=0, authz_reuse_percent=100),
            ["reject 0% of good nonces", "authz reuse for each identifier 100%"],
            id="misbehaviour-knobs",
        ),
        pytest.param(
            PebbleConfig(certificate_validity_period=3600),
            ["certificate validity period of 3600 seconds"],
            id="validity-period",
        ),
        pytest.param(
            PebbleConfig(alternate_roots=2),
            ["Alternate (2) root CA certificate"],
            id="alternate-roots",
        ),
    ],
)
def test_config_knobs_reach_pebble(
    pebble_factory: PebbleFactory, config: PebbleConfig, expected_env_lines: list[str]
) -> None:
    server = pebble_factory(config)
    log = server.log_path.read_text()
    for line in expected_env_lines:
        assert line in log
    assert len(server.root_pems()) == config.alternate_roots + 1


def test_stop_leaves_no_process_behind(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(PebbleConfig())
    pids = server.pids
    assert len(pids) == 2
    assert set(pids) <= {pid for pid, _ in stray_children()}
    server.stop()
    assert not set(pids) & {pid for pid, _ in stray_children()}
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_restart_pebble_forgets_accounts_but_keeps_ports(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(PebbleConfig())
    url_before, root_before = server.directory_url, server.root_pems()[0]
    server.restart_pebble()
    assert server.directory_url == url_before
    assert server.root_pems()[0] != root_before


def test_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    server = PebbleServer(PebbleConfig())
    with pytest.raises(PebbleError, match="apt-get install pebble"):
        server.start()
    assert server.pids == ()


_LEAKY_TESTS = """
import subprocess
from pathlib import Path

from certmgr.testing.pebble import PebbleConfig, PebbleServer


def test_forgets_to_stop_the_harness(tmp_path):
    server = PebbleServer(PebbleConfig()).start()
    Path(PIDS).write_text(" ".join(map(str, server.pids)))


def test_starts_pebble_behind_the_harness_back():
    # Not registered with the harness: only the /proc scan can find it.
    process = subprocess.Popen(["pebble-challtestsrv", "-dns01", "127.0.0.1:0", "-http01", "",
                                "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:0"])
    with open(PIDS, "a") as pids:
        pids.write(f" {process.pid}")
"""


@pytest.mark.slow
def test_the_suite_fails_when_harness_processes_outlive_it(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    test_file = tmp_path / "test_leaky.py"
    test_file.write_text(f"PIDS = {str(pids_file)!r}\n{_LEAKY_TESTS}")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "certmgr.testing.pebble_fixtures"),
            *("-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), str(test_file)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "Pebble harness processes left running by the suite" in result.stdout
    pids = [int(pid) for pid in pids_file.read_text().split()]
    assert len(pids) == 3
    for name in ("pebble (pid", "pebble-challtestsrv (pid", "pebble-challtes (pid"):
        assert name in result.stdout
    assert _all_gone(pids)


@pytest.mark.slow
def test_dev_pebble_command_runs_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "certmgr", "dev", "pebble"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = dict(line.split(":", 1) for line in (process.stdout.readline() for _ in range(6)))
        directory_url, ca_bundle = printed["directory"].strip(), printed["ca bundle"].strip()
        context = ssl.create_default_context(cafile=ca_bundle)
        with urllib.request.urlopen(directory_url, context=context, timeout=5) as response:
            assert response.status == 200
        children = {pid for pid, _ in _children_of(process.pid)}
        assert len(children) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _all_gone(children)


def _all_gone(pids: Iterable[int]) -> bool:
    """True once every PID is gone or a zombie (an orphan waits for init to reap it)."""
    deadline = time.monotonic() + 5.0
    while True:
        alive = [pid for pid in pids if _state(pid) not in (None, "Z")]
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.01)


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def _children_of(parent: int) -> list[tuple[int, str]]:
    found = []
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            found.append((int(stat_path.parent.name), name))
    return found


def test_a_port_taken_in_between_is_retried_with_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks: list[int] = []
        original = PebbleServer._pick_ports

        def pick_taken_port_first(server: PebbleServer) -> Any:
            ports = original(server)
            picks.append(ports.acme)
            return dataclasses.replace(ports, acme=taken) if len(picks) == 1 else ports

        monkeypatch.setattr(PebbleServer, "_pick_ports", pick_taken_port_first)
        with PebbleServer(PebbleConfig(), workdir=tmp_path) as server:
            assert len(picks) == 2
            assert server.directory_url == f"https://127.0.0.1:{picks[1]}/dir"
            assert len(server.pids) == 2
            assert "address already in use" in (tmp_path / "pebble.log").read_text()


def test_a_relative_workdir_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `certmgr dev demo --workdir demo` (issue 14 item 9): Pebble runs in the workdir and
    # was handed paths relative to ours.
    monkeypatch.chdir(tmp_path)
    with PebbleServer(PebbleConfig(), workdir=Path("demo")) as server:
        assert server.directory_url.startswith("https://127.0.0.1:")
    assert (tmp_path / "demo" / "pebble.log").exists()
