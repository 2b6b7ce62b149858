"""Cron schedules as cert-manager reads renewal windows: robfig/cron v3's standard parser.

Owns ``parse_cron`` (five fields: minute, hour, day of month, month, day of week, with
``*``, ``?``, lists, ranges, steps and month/day names; the descriptors ``@yearly``,
``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``, ``@hourly`` and
``@every <duration>``; in an IANA time zone) and ``CronSchedule.next`` (the first
activation strictly after a time, robfig's algorithm, DST included). Must not read the
clock: every time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from certmgr.api.durations import parse_go_duration

_STAR: Final = 1 << 63
_MONTH_NAMES: Final = (
    *("jan", "feb", "mar", "apr", "may", "jun"),
    *("jul", "aug", "sep", "oct", "nov", "dec"),
)
_MONTHS: Final = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_DAY_NAMES: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYS: Final = {name: number for number, name in enumerate(_DAY_NAMES)}
_NO_NAMES: Final[dict[str, int]] = {}
# (min, max, names) of minute, hour, day of month, month, day of week.
_FIELDS: Final[tuple[tuple[int, int, dict[str, int]], ...]] = (
    (0, 59, _NO_NAMES),
    (0, 23, _NO_NAMES),
    (1, 31, _NO_NAMES),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DESCRIPTORS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SECOND: Final = timedelta(seconds=1)


class CronError(ValueError):
    """A cron spec or time zone robfig/cron (and so cert-manager's webhook) would refuse."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """Bit sets per field (``_STAR`` marks ``*``/``?``), or a constant ``every`` delay."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int
    zone: tzinfo
    every: timedelta | None = None

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after ``after`` (aware), or None within 5 years."""
        if self.every is not None:
            start = after.astimezone(UTC)
            return (start + self.every - timedelta(microseconds=start.microsecond)).astimezone(
                after.tzinfo
            )
        t = _add(_floor_second(after.astimezone(self.zone)), _SECOND, self.zone)
        added = False
        year_limit = t.year + 5
        while True:  # robfig's WRAP label
            if t.year > year_limit:
                return None
            wrapped = False
            while not (1 << t.month) & self.month:
                if not added:
                    added = True
                    t = _wall(t.year, t.month, 1, 0, 0, self.zone)
                t = _wall(t.year + t.month // 12, t.month % 12 + 1, 1, 0, 0, self.zone)
                if t.month == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not self._day_matches(t):
                if not added:
                    added = True
                    t = _wall(t.year, t.month, t.day, 0, 0, self.zone)
                t = _wall_day_after(t, self.zone)
                if t.day == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not (1 << t.hour) & self.hour:
                if not added:
                    added = True
                    t = _wall(t.year, t.month, t.day, t.hour, 0, self.zone)
                t = _add(t, timedelta(hours=1), self.zone)
                if t.hour == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not (1 << t.minute) & self.minute:
                if not added:
                    added = True
                    t = t.replace(second=0, microsecond=0)
                t = _add(t, timedelta(minutes=1), self.zone)
                if t.minute == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            if t.second != 0:  # the standard parser's seconds field is always 0
                added = True
                t = _add(t.replace(second=0), timedelta(minutes=1), self.zone)
                continue
            return t.astimezone(after.tzinfo)

    def _day_matches(self, t: datetime) -> bool:
        dom = bool((1 << t.day) & self.dom)
        dow = bool((1 << ((t.weekday() + 1) % 7)) & self.dow)
        if self.dom & _STAR or self.dow & _STAR:
            return dom and dow
        return dom or dow


def zone_of(name: str) -> tzinfo:
    """The IANA time zone ``name`` (UTC for ``""``, as cert-manager reads an unset one)."""
    if not name or name == "UTC":
        return UTC
    # Loaded by the first named zone: few Certificates have renewal windows in one.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name!r}") from exc


def parse_cron(spec: str, zone: tzinfo = UTC) -> CronSchedule:
    """``spec`` (robfig/cron's standard syntax) in ``zone``; raises CronError."""
    text = spec.strip()
    if text.startswith("@every "):
        try:
            delay = parse_go_duration(text[len("@every ") :].strip())
        except ValueError as exc:
            raise CronError(f"failed to parse duration {text}: {exc}") from exc
        return CronSchedule(0, 0, 0, 0, 0, zone, every=max(delay, _SECOND))
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {spec!r}")
    minute, hour, dom, month, dow = (
        _field(f, low, high, names) for f, (low, high, names) in zip(fields, _FIELDS, strict=True)
    )
    return CronSchedule(minute, hour, dom, month, dow, zone)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> int:
    bits = 0
    for part in text.split(","):
        bits |= _range(part, low, high, names)
    return bits


def _range(expr: str, low: int, high: int, names: dict[str, int]) -> int:
    range_and_step = expr.split("/")
    bounds = range_and_step[0].split("-")
    extra = 0
    if len(range_and_step) > 2 or len(bounds) > 2:
        raise CronError(f"too many slashes or hyphens: {expr}")
    if bounds[0] in ("*", "?"):
        start, end, extra = low, high, _STAR
    else:
        start = _number(bounds[0], names)
        end = _number(bounds[1], names) if len(bounds) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], {})
        if len(bounds) == 1 and bounds[0] not in ("*", "?"):
            end = high  # "N/step" means "N-max/step"
        if step > 1:
            extra = 0
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    bits = 0
    for value in range(start, end + 1, step):
        bits |= 1 << value
    return bits | extra


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}")
    return int(text)


def _floor_second(t: datetime) -> datetime:
    return t.replace(microsecond=0)


def _normal(t: datetime, zone: tzinfo) -> datetime:
    """``t`` re-read in ``zone`` (a wall time in a DST gap becomes a real one)."""
    return t.astimezone(UTC).astimezone(zone)


def _add(t: datetime, delta: timedelta, zone: tzinfo) -> datetime:
    """Go's Time.Add: absolute time, not wall-clock arithmetic."""
    return (t.astimezone(UTC) + delta).astimezone(zone)


def _wall(year: int, month: int, day: int, hour: int, minute: int, zone: tzinfo) -> datetime:
    """Go's time.Date in ``zone`` (a wall time in a DST gap lands after it)."""
    return _normal(datetime(year, month, day, hour, minute, tzinfo=zone), zone)


def _wall_day_after(t: datetime, zone: tzinfo) -> datetime:
    """Go's t.AddDate(0, 0, 1) and robfig's DST correction back to midnight."""
    nxt = t.replace(tzinfo=None) + timedelta(days=1)
    moved = _wall(nxt.year, nxt.month, nxt.day, nxt.hour, nxt.minute, zone)
    if moved.hour != 0:
        shift = 24 - moved.hour if moved.hour > 12 else -moved.hour
        moved = _add(moved, timedelta(hours=shift), zone)
    return moved
