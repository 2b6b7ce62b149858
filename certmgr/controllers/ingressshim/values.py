"""Annotation value syntax as cert-manager's Go code reads it: CSV records, bools, integers.

Owns the small parsers whose acceptance must match Go's standard library, because users
copy annotations from cert-manager setups: ``encoding/csv`` for the ``subject-*`` lists
(cert-manager's ``SplitWithEscapeCSV``), ``strconv.ParseBool`` for the
``kubernetes.io/tls-acme`` trigger, and ``strconv.Atoi``/``ParseInt`` for sizes and
limits (no spaces, no ``_``, which Python's ``int()`` would accept). Each parser raises
``ValueError`` with the problem in words. It must not know any annotation's meaning.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_INT32: Final = (-(2**31), 2**31 - 1)
_INT64: Final = (-(2**63), 2**63 - 1)
_BARE_QUOTE: Final = 'bare " in non-quoted-field'
_BAD_QUOTE: Final = 'extraneous or missing " in quoted-field'


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``: ``true``/``True``/``TRUE``/``t``/``T``/``1`` and their false."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"parsing {text!r}: invalid syntax")


def parse_int(text: str, *, bits: int = 64) -> int:
    """``strconv.ParseInt(text, 10, bits)``: optional sign and decimal digits, in range."""
    if _INTEGER.fullmatch(text) is None:
        raise ValueError(f"parsing {text!r}: invalid syntax")
    value = int(text)
    low, high = _INT32 if bits == 32 else _INT64
    if not low <= value <= high:
        raise ValueError(f"parsing {text!r}: value out of range")
    return value


def split_csv(text: str) -> tuple[str, ...]:
    """One ``encoding/csv`` record: ``a,"b, c"`` -> ``("a", "b, c")``.

    Quoted fields may hold commas, ``""`` escapes a quote; a quote inside an unquoted
    field, text after a closing quote or an unterminated quote are errors, as in Go. Go
    reads only the first line and drops the rest; we refuse a line break outside quotes
    instead, so nothing the user wrote is silently ignored.
    """
    if not text:
        raise ValueError("empty value")  # Go's reader answers io.EOF
    fields: list[str] = []
    position = 0
    while True:
        if text.startswith('"', position):
            field, position = _quoted_field(text, position + 1)
        else:
            end = text.find(",", position)
            end = len(text) if end < 0 else end
            field = text[position:end]
            if '"' in field:
                raise ValueError(_BARE_QUOTE)
            if "\n" in field or "\r" in field:
                raise ValueError("line break outside a quoted field")
            position = end
        fields.append(field)
        if position >= len(text):
            return tuple(fields)
        position += 1  # the comma; a trailing comma yields a last, empty field as in Go


def _quoted_field(text: str, position: int) -> tuple[str, int]:
    """The field opened by the quote before ``position``, and where it ends."""
    parts: list[str] = []
    while True:
        close = text.find('"', position)
        if close < 0:
            raise ValueError(_BAD_QUOTE)
        parts.append(text[position:close])
        position = close + 1
        if text.startswith('"', position):  # "" is one literal quote
            parts.append('"')
            position += 1
            continue
        if position < len(text) and text[position] != ",":
            raise ValueError(_BAD_QUOTE)
        return "".join(parts), position


def split_list(text: str) -> tuple[str, ...]:
    """A plain comma-separated list with spaces trimmed; an empty entry is an error."""
    items = tuple(item.strip() for item in text.split(","))
    if any(not item for item in items):
        raise ValueError(f"empty entry in {text!r}")
    return items


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Go's ``net.ParseIP``: IPv4 or IPv6 text, no zone (``%eth0``), no prefix length."""
    if "%" in text:
        raise ValueError(f"invalid IP address {text!r}")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"invalid IP address {text!r}") from None


def is_ip(text: str) -> bool:
    try:
        parse_ip(text)
    except ValueError:
        return False
    return True
