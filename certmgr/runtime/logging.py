"""Process-wide log configuration: structlog, JSON in a cluster, console on a terminal.

Owns ``configure_logging`` and the ``redact_secrets`` processor. Every log line passes the
redactor after exceptions are rendered to text and before it is rendered, so no private
key (PEM, base64 of a PEM, a field named like one, the ``data`` of a Secret) reaches the
output, whoever logged it. structlog's lines are rendered by its chain and written to the
stream directly; standard-library loggers (aiohttp, asyncio) go through a handler that runs
the same chain. This module must not decide what to log, only how.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

LEVELS = ("debug", "info", "warning", "error", "critical")

# Field names whose value is secret material whatever it looks like.
_SECRET_FIELD = re.compile(
    r"(private[_.-]?key|privkey|\.key$|^key_?pem$|password|passwd"
    r"|_token$|^bearer|^authorization$|^client[_-]?key)",
    re.IGNORECASE,
)
# ...unless the name says it is a reference to one (``privateKeySecretRef``), which is
# worth seeing in a log.
_REFERENCE_FIELD = re.compile(r"(ref|name)$", re.IGNORECASE)
# A Secret's payload: redacted when it is a mapping (the keys of a Secret, not e.g. a
# webhook's ``data`` string, which the PEM scan below still covers).
_SECRET_MAPPING_FIELD = re.compile(r"^(data|stringData|string_data|secret_data)$")
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
# base64("-----BEGIN"), which is how a key looks inside a Secret's data.
_B64_PEM_PREFIX = "LS0tLS1CRUdJTi"
_B64_RUN = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=\s]*")


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: replace anything that looks like a private key."""
    return {key: _redact(key, value) for key, value in event_dict.items()}


def _redact(field: str, value: Any) -> Any:
    secret = _SECRET_FIELDS.get(field)
    if secret is None:
        secret = _is_secret_field(field)
    if secret:
        return REDACTED
    kind = type(value)
    if kind is str:
        return _redact_text(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value  # most fields of most lines: no pattern or ABC check needed
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        if _SECRET_MAPPING_FIELD.match(field):
            return REDACTED
        return {str(k): _redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact("", item) for item in value]
    if isinstance(value, bytes):
        return _redact_text(value.decode("utf-8", "replace"))
    return value


# Field name -> whether its value is secret: every log line asks about the same few
# dozen names (the code's own, and the standard library's loggers'). Bounded all the same.
_SECRET_FIELDS: dict[str, bool] = {}
_SECRET_FIELDS_KEPT = 4096


def _is_secret_field(field: str) -> bool:
    secret = bool(_SECRET_FIELD.search(field)) and not _REFERENCE_FIELD.search(field)
    if len(_SECRET_FIELDS) < _SECRET_FIELDS_KEPT:
        _SECRET_FIELDS[field] = secret
    return secret


def _redact_text(text: str) -> str:
    if "PRIVATE KEY" in text:
        text = _PEM_PRIVATE_KEY.sub(REDACTED, text)
    if _B64_PEM_PREFIX in text:
        text = _B64_RUN.sub(_redact_b64_key, text)
    return text


def _redact_b64_key(match: re.Match[str]) -> str:
    blob = match.group(0)
    try:
        decoded = base64.b64decode("".join(blob.split()) + "==", validate=False)
    except (binascii.Error, ValueError):
        return REDACTED  # undecodable base64 that starts like a PEM: not worth the risk
    return REDACTED if b"PRIVATE KEY" in decoded else blob


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library for the whole process.

    ``json=None`` picks JSON when ``stream`` is not a terminal (a container's stdout) and
    the console renderer when it is. Timestamps are ISO 8601 in UTC. ``level`` is one of
    ``LEVELS`` (the ``--log-level`` flag); anything else raises ``ValueError``.
    """
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    numeric = logging.getLevelNamesMapping()[level.upper()]
    stream = stream if stream is not None else sys.stderr
    use_json = json if json is not None else not stream.isatty()

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Exceptions become text before the redactor runs, so it sees tracebacks too (at the
        # price of the console renderer's pretty tracebacks).
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    assert handler.lock is not None  # a Handler makes its lock as it is made
    # structlog's own lines are rendered by its chain and written straight to the stream,
    # not handed to the standard library as records (two LogRecords, a formatter pass and
    # a handler per line: a third of a line's CPU); the same processors and renderer make
    # the same line. A level below ``level`` costs a call that returns at once.
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_LineWriters(stream, lock=handler.lock),
        # Not cached: tests swap the configuration (``capture_logs``) after loggers exist.
        cache_logger_on_first_use=False,
    )
    # Nothing renders the caller's file and line, thread or process names (the JSON and
    # console renderers show structlog's fields), so do not gather them for every
    # record: the logging HOWTO's "Optimization" switches.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # aiohttp logs one access line per request; the health endpoints would flood the log.
    logging.getLogger("aiohttp.access").setLevel(max(numeric, logging.WARNING))


class _LineWriter(structlog.WriteLogger):
    """structlog's ``WriteLogger`` under the name it was asked for (``add_logger_name``
    reads it) and the log handler's lock: its lines and the standard library's share one
    stream, written from the loop and the watchdog thread, and never interleave."""

    def __init__(self, stream: TextIO, *, name: str, lock: threading.RLock) -> None:
        super().__init__(stream)
        self.name = name
        self._lock = lock  # type: ignore[assignment]


class _LineWriters:
    """structlog's logger factory: one ``_LineWriter`` per logger name, kept (a logger is
    assembled for every line)."""

    def __init__(self, stream: TextIO, *, lock: threading.RLock) -> None:
        self._stream = stream
        self._lock = lock
        self._writers: dict[str, _LineWriter] = {}
        # A logger asked for without a name is named after its caller's module, as the
        # standard library's factory names it.
        self._unnamed = structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__])

    def __call__(self, *args: Any) -> _LineWriter:
        name = str(args[0]) if args else self._unnamed().name
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = _LineWriter(self._stream, name=name, lock=self._lock)
        return writer
