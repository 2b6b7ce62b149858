"""Reference points for bench/issuance.py: the bare ``acme`` library and the ``lego`` CLI.

Both issue on the same Pebble as certmgr, answering HTTP-01 on Pebble's validation port
themselves, so nothing of the product (simulator, data plane, controller) may be running
on that port meanwhile. The library script is what a careful hand-written client does:
one account, 16 threads, tight polling (10 ms doubling to 250 ms), badNonce retried. It
is a benchmark helper, not a test: it asserts nothing beyond "the certificate came back".

Run as a script it is the library reference in a process of its own (as certmgr runs in
its own), the names read from stdin as JSON: it prints ``batch`` when the clock starts,
then one JSON line with the latencies, the batch's wall time and its own CPU seconds
during the batch.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from josepy.jwa import ES256
from josepy.jwk import JWKEC

T = TypeVar("T")
POLL_FIRST = 0.01
POLL_CAP = 0.25
POLL_DEADLINE = 60.0


class CA(Protocol):
    """Where the CA is (a ``PebbleServer`` is one)."""

    @property
    def directory_url(self) -> str: ...
    @property
    def ca_bundle(self) -> str: ...
    @property
    def http01_port(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CAEndpoint:
    directory_url: str
    ca_bundle: str
    http01_port: int


@dataclass(frozen=True, slots=True)
class ReferenceRun:
    """Seconds from the batch start to each certificate, the batch's wall time and the
    CPU seconds the client process used meanwhile (0 when not measured)."""

    latencies: list[float]
    elapsed: float
    cpu: float = 0.0


class _Responder(http.server.ThreadingHTTPServer):
    """Answers ``/.well-known/acme-challenge/<token>`` from a dict, 404 otherwise."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        self.answers: dict[str, str] = {}
        super().__init__(("127.0.0.1", port), _ResponderHandler)


class _ResponderHandler(http.server.BaseHTTPRequestHandler):
    server: _Responder

    def do_GET(self) -> None:
        body = self.server.answers.get(self.path.rsplit("/", 1)[-1])
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


@contextmanager
def _responding(port: int) -> Iterator[_Responder]:
    server = _Responder(port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
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


def _poll(fetch: Callable[[], T], done: Callable[[T], bool]) -> T:
    deadline = time.monotonic() + POLL_DEADLINE
    delay = POLL_FIRST
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(delay)
        delay = min(delay * 2, POLL_CAP)


def _csr_pem(names: Sequence[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


class _LibraryClient:
    """One thread's client: its own HTTP session and nonces, the shared account."""

    def __init__(
        self, pebble: CA, key: JWKEC, account: messages.RegistrationResource | None
    ) -> None:
        self.key = key
        self.net = client.ClientNetwork(
            key,
            account=account,
            alg=ES256,
            verify_ssl=pebble.ca_bundle,  # requests takes a CA bundle path here
            user_agent="certmgr-bench-library",
        )
        self.acme = client.ClientV2(
            client.ClientV2.get_directory(pebble.directory_url, self.net), self.net
        )

    def issue(self, names: Sequence[str], responder: _Responder) -> str:
        acme = self.acme
        csr_pem = _csr_pem(names)
        order = _retrying_bad_nonce(lambda: acme.new_order(csr_pem))
        for authz in order.authorizations:
            # Pebble may reuse a valid authorization; answering it again is a 400.
            if authz.body.status == messages.STATUS_VALID:
                continue
            challenge = next(
                c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)
            )
            response, validation = challenge.response_and_validation(self.key)
            responder.answers[challenge.chall.encode("token")] = validation
            _retrying_bad_nonce(lambda: acme.answer_challenge(challenge, response))  # noqa: B023
        for authz in order.authorizations:

            def fetch(
                authz: messages.AuthorizationResource = authz,
            ) -> messages.Authorization:
                return _retrying_bad_nonce(lambda: acme.poll(authz))[0].body

            final = _poll(fetch, lambda body: body.status != messages.STATUS_PENDING)
            if final.status != messages.STATUS_VALID:
                raise RuntimeError(f"authorization for {names} ended {final.status}")
        _retrying_bad_nonce(lambda: acme.begin_finalization(order))

        def fetch_order() -> messages.Order:
            response = _retrying_bad_nonce(lambda: acme._post_as_get(order.uri))
            body: messages.Order = messages.Order.from_json(response.json())
            return body

        final_order = _poll(fetch_order, lambda o: o.status != messages.STATUS_PROCESSING)
        if final_order.status != messages.STATUS_VALID:
            raise RuntimeError(f"order for {names} ended {final_order.status}")
        return str(_retrying_bad_nonce(lambda: acme._post_as_get(final_order.certificate)).text)


def library_issuance(
    pebble: CA,
    names: Sequence[Sequence[str]],
    *,
    threads: int = 16,
    before_batch: Callable[[], None] = lambda: None,
) -> ReferenceRun:
    """Issue one certificate per entry of ``names`` with ``threads`` threads on one account.

    The account is registered before the clock starts; ``before_batch`` runs right
    before it starts (the caller marks Pebble's log there).
    """
    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    first = _LibraryClient(pebble, key, None)
    registration = messages.NewRegistration.from_data(
        email="bench@example.com", terms_of_service_agreed=True
    )
    account = _retrying_bad_nonce(lambda: first.acme.new_account(registration))
    clients = [_LibraryClient(pebble, key, account) for _ in range(threads)]
    local = threading.local()
    spare = list(clients)
    lock = threading.Lock()

    def own_client() -> _LibraryClient:
        if not hasattr(local, "client"):
            with lock:
                local.client = spare.pop()
        mine: _LibraryClient = local.client
        return mine

    with _responding(pebble.http01_port) as responder:
        before_batch()
        started = time.perf_counter()
        cpu_before = _cpu_seconds()

        def one(sans: Sequence[str]) -> float:
            own_client().issue(sans, responder)
            return time.perf_counter() - started

        with ThreadPoolExecutor(threads) as pool:
            latencies = list(pool.map(one, names))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
    for each in clients:
        each.net.session.close()
    first.net.session.close()
    return ReferenceRun(latencies=latencies, elapsed=elapsed, cpu=cpu)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def lego_issuance(pebble: CA, names: Sequence[str]) -> ReferenceRun:
    """``lego run`` for one certificate, timed as a whole process (registration included)."""
    with tempfile.TemporaryDirectory(prefix="certmgr-bench-lego-") as path:
        argv = [
            "lego",
            f"--server={pebble.directory_url}",
            "--email=bench@example.com",
            "--accept-tos",
            f"--path={path}",
            "--key-type=ec256",
            *(f"--domains={name}" for name in names),
            "--http",
            f"--http.port=127.0.0.1:{pebble.http01_port}",
            "run",
        ]
        env = {**os.environ, "LEGO_CA_CERTIFICATES": pebble.ca_bundle}
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"lego failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return ReferenceRun(latencies=[elapsed], elapsed=elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description="the acme library reference, one batch")
    parser.add_argument("--directory-url", required=True)
    parser.add_argument("--ca-bundle", required=True)
    parser.add_argument("--http01-port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    ca = CAEndpoint(args.directory_url, args.ca_bundle, args.http01_port)
    run = library_issuance(
        ca,
        json.load(sys.stdin),  # a list of lists of DNS names, one per certificate
        threads=args.threads,
        before_batch=lambda: print("batch", flush=True),
    )
    print(json.dumps({"latencies": run.latencies, "elapsed": run.elapsed, "cpu": run.cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
