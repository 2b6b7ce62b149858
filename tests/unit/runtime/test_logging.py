"""Logging: JSON vs console, levels, ISO timestamps, and that no private key is ever logged."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.runtime.logging import configure_logging, redact_secrets

PEM_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
KEY_BODY = PEM_KEY.splitlines()[1]
B64_KEY = base64.b64encode(PEM_KEY.encode()).decode()
CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("fields", "must_keep"),
    [
        pytest.param({"pem": PEM_KEY}, [], id="pem-in-any-field"),
        pytest.param(
            {"msg": f"bad key:\n{PEM_KEY}trailing"}, ["bad key:", "trailing"], id="pem-inside-text"
        ),
        pytest.param({"private_key": "anything"}, [], id="field-private_key"),
        pytest.param(
            {"obj": {"tls.key": "x", "tls.crt": "cert"}}, ["cert"], id="field-tls.key-nested"
        ),
        pytest.param(
            {
                "secret": {
                    "kind": "Secret",
                    "metadata": {"name": "web-tls"},
                    "data": {"tls.crt": "Y2VydA=="},
                }
            },
            ["web-tls"],
            id="secret-data-mapping",
        ),
        pytest.param({"value": B64_KEY}, [], id="base64-pem-key"),
        pytest.param({"items": [PEM_KEY, "fine"]}, ["fine"], id="pem-in-list"),
        pytest.param({"raw": PEM_KEY.encode()}, [], id="pem-bytes"),
        pytest.param({"certificate": CERT_PEM}, ["BEGIN CERTIFICATE"], id="certificates-are-kept"),
        pytest.param(
            {"privateKeySecretRef": "acme-account", "key": "ns/name"},
            ["acme-account", "ns/name"],
            id="references-and-queue-keys-are-kept",
        ),
        pytest.param(
            {"data": "plain webhook payload"}, ["plain webhook payload"], id="data-string-kept"
        ),
    ],
)
def test_redaction(fields: dict[str, Any], must_keep: list[str]) -> None:
    out = json.dumps(redact_secrets(None, "info", {"event": "e", **fields}), default=str)
    assert "PRIVATE KEY" not in out
    assert KEY_BODY not in out
    assert B64_KEY[20:60] not in out
    for kept in must_keep:
        assert kept in out


def test_redaction_leaves_the_event_alone_when_nothing_is_secret() -> None:
    event = {"event": "issuance_triggered", "certificate": "ns/web", "reason": "DoesNotExist"}
    assert redact_secrets(None, "info", dict(event)) == event


def configured(level: str = "info", *, tty: bool = False, **kwargs: Any) -> io.StringIO:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    stream = Stream()
    configure_logging(level, stream=stream, **kwargs)
    return stream


def test_json_lines_with_iso_utc_timestamps_and_context() -> None:
    stream = configured("info")
    with structlog.contextvars.bound_contextvars(controller="trigger"):
        structlog.get_logger("t").info("issuance_triggered", certificate="ns/web")
    line = json.loads(stream.getvalue().strip())
    assert line["event"] == "issuance_triggered"
    assert line["controller"] == "trigger"
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]


def test_exceptions_and_stdlib_logs_are_redacted_too() -> None:
    stream = configured("info")
    try:
        raise ValueError(f"could not parse {PEM_KEY}")
    except ValueError:
        structlog.get_logger("t").exception("parse_failed")
    logging.getLogger("somelib").warning("leaked %s", PEM_KEY)
    out = stream.getvalue()
    assert "PRIVATE KEY" not in out and KEY_BODY not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines[0]["event"] == "parse_failed"
    assert "ValueError" in lines[0]["exception"]
    assert lines[1]["logger"] == "somelib"


def test_a_logger_without_a_name_is_named_after_its_module() -> None:
    stream = configured("info")
    structlog.get_logger().info("hello")
    assert json.loads(stream.getvalue())["logger"] == __name__


def test_lines_from_threads_and_the_standard_library_never_interleave() -> None:
    # structlog's lines are written to the stream directly, the standard library's
    # through its handler: both under the handler's lock.
    stream = configured("info")

    def write(n: int) -> None:
        for i in range(200):
            structlog.get_logger("t").info("line", thread=n, i=i, text="x" * 200)
            logging.getLogger("somelib").warning("line %d %d", n, i)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 * 200 * 2
    assert all(json.loads(line)["event"].startswith("line") for line in lines)


@pytest.mark.parametrize(
    ("level", "emitted"),
    [
        pytest.param("debug", ["d", "i", "w"], id="debug"),
        pytest.param("info", ["i", "w"], id="info"),
        pytest.param("WARNING", ["w"], id="warning-any-case"),
    ],
)
def test_level(level: str, emitted: list[str]) -> None:
    stream = configured(level)
    log = structlog.get_logger("t")
    log.debug("d")
    log.info("i")
    log.warning("w")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == emitted


@pytest.mark.parametrize(
    ("tty", "json_flag", "expect_json"),
    [
        pytest.param(False, None, True, id="pipe-means-json"),
        pytest.param(True, None, False, id="terminal-means-console"),
        pytest.param(True, True, True, id="forced-json"),
    ],
)
def test_renderer_choice(tty: bool, json_flag: bool | None, expect_json: bool) -> None:
    stream = configured("info", tty=tty, json=json_flag)
    structlog.get_logger("t").info("hello", key_id="k1")
    out = stream.getvalue().strip()
    assert out.startswith("{") is expect_json
    assert "hello" in out


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("verbose")
