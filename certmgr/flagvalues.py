"""Flag values read as cert-manager's pflag reads them: booleans bare, ``=true`` or
``=false`` (Go's ``strconv.ParseBool`` spellings), Go durations (``90s``, ``1h30m``),
klog's ``-v`` verbosity, and bounded numbers, each failing as an argparse usage error.

It must not define flags (``certmgr.runflags`` does) nor build Settings.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

# strconv.ParseBool's spellings.
TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DURATION_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def go_bool(text: str) -> bool:
    """A boolean as Go's ``strconv.ParseBool`` reads it."""
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def duration_seconds(text: str) -> float:
    """Seconds from a Go duration (``90s``, ``1h30m``, ``250ms``) or a plain number of
    seconds (our own spelling); negative or non-finite values are refused."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _go_duration(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"expected a duration >= 0, got {text!r}")
    return seconds


def _go_duration(value: str) -> float:
    sign = -1.0 if value.startswith("-") else 1.0
    rest = value.lstrip("+-")
    if not rest or _DURATION_PART.sub("", rest):
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90s, 10m or 1h30m, got {value!r}"
        )
    total = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(rest)
    )
    return sign * total


def positive_duration(text: str) -> float:
    seconds = duration_seconds(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0, got {text!r}")
    return seconds


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def verbosity(text: str) -> str:
    """cert-manager's ``-v`` (klog verbosity: 0 errors, 1 warnings, 2 info, 4+ debug) as
    one of our log levels."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return "error" if value == 0 else "warning" if value == 1 else "info" if value < 4 else "debug"


def logging_format(text: str) -> str:
    """cert-manager's ``--logging-format`` (text|json) as our ``--log-format``."""
    formats = {"text": "console", "json": "json"}
    if text not in formats:
        raise argparse.ArgumentTypeError(f"expected text or json, got {text!r}")
    return formats[text]


def checked(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """``parse`` with a name argparse shows in "invalid <name> value"."""

    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapped.__name__ = name
    return wrapped


class GoBool(argparse.Action):
    """A boolean as pflag takes it: ``--x``, ``--x=true``, ``--x=false``, ``--x false``;
    also ``--no-x`` (our spelling until now)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        names = list(option_strings)
        names += [f"--no-{o[2:]}" for o in option_strings if o.startswith("--")]
        super().__init__(names, dest, nargs="?", metavar="true|false", **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        negated = bool(option_string and option_string.startswith("--no-"))
        if values is None:
            value = True
        elif negated:
            parser.error(f"{option_string} takes no value")
        else:
            try:
                value = go_bool(str(values))
            except argparse.ArgumentTypeError as exc:
                parser.error(f"argument {option_string}: {exc}")
        setattr(namespace, self.dest, value != negated)
