"""Go duration strings (``metav1.Duration``): parsing and Go's own formatting.

Owns the text form of every duration in the API (``spec.duration``,
``spec.renewBefore``, ``2160h0m0s``): it parses what Go's ``time.ParseDuration``
accepts and formats as Go's ``Duration.String()`` does, so values written back read
the same to cert-manager tooling. It must not read the clock or know any defaults.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

_NANOS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu, which Go accepts too
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_TERM = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NANOS_PER_SECOND = 1_000_000_000


def parse_go_duration(text: str) -> timedelta:
    """``"2160h0m0s"`` -> ``timedelta(days=90)``; raises ValueError like Go would refuse it."""
    body = text
    sign = 1
    if body and body[0] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return timedelta(0)
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    nanos = Decimal(0)
    position = 0
    while position < len(body):
        match = _TERM.match(body, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        nanos += Decimal(match.group(1)) * _NANOS_PER_UNIT[match.group(2)]
        position = match.end()
    # timedelta holds microseconds; Go rounds nothing away at parse, we truncate sub-µs.
    return sign * timedelta(microseconds=int(nanos // 1_000))


def format_go_duration(value: timedelta) -> str:
    """Go's ``Duration.String()``: ``timedelta(days=90)`` -> ``"2160h0m0s"``."""
    nanos = (value.days * 86_400 + value.seconds) * _NANOS_PER_SECOND + value.microseconds * 1_000
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < _NANOS_PER_SECOND:
        # Below one second Go picks the largest unit that keeps a non-zero integer part.
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
    hours, rest = divmod(nanos, 3600 * _NANOS_PER_SECOND)
    minutes, rest = divmod(rest, 60 * _NANOS_PER_SECOND)
    seconds = _decimal(rest, _NANOS_PER_SECOND)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _decimal(nanos: int, unit: int) -> str:
    whole, fraction = divmod(nanos, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
