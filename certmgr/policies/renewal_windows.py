"""Renewal windows (Certificate ``spec.renewal.windows``), as cert-manager applies them.

Owns ``windowed_renewal_time``: cert-manager's applyRenewBeforeWithWindows. Each window
opens at a cron time and stays open ``window_duration``; the renewal time moves to the
latest window time at or after the desired one that a window opened before it (the
desired time itself when a window is open then, else that window's end), or else to the
first window opening after it; with no window in reach it stays and an error says so.
Must not read the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from certmgr.memo import memo
from certmgr.policies.cron import CronError, CronSchedule, parse_cron, zone_of

_SECOND: Final = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    cron: str
    duration: timedelta
    timezone: str = ""


@dataclass(frozen=True, slots=True)
class WindowedRenewal:
    """The renewal time, and cert-manager's error text when no window fits (else "")."""

    time: datetime
    error: str = ""


def window_problem(windows: Sequence[RenewalWindow]) -> str | None:
    """Why these windows can never be used (what cert-manager's webhook refuses), or None."""
    for index, window in enumerate(windows):
        try:
            parse_cron(window.cron, zone_of(window.timezone))
        except CronError as exc:
            return f"spec.renewal.windows[{index}]: {exc}"
        if window.duration <= timedelta(0):
            return f"spec.renewal.windows[{index}].windowDuration must be positive"
    return None


@memo()
def windowed_renewal_time(
    *,
    not_before: datetime,
    not_after: datetime,
    desired: datetime,
    windows: tuple[RenewalWindow, ...],
) -> WindowedRenewal:
    """``desired`` moved into the windows (cached: the answer is a pure function)."""
    if not windows:
        return WindowedRenewal(desired)
    best_before: datetime | None = None
    best_after: datetime | None = None
    for window in windows:
        try:
            schedule = parse_cron(window.cron, zone_of(window.timezone))
        except CronError as exc:
            return WindowedRenewal(desired, f"error parsing cron in window {exc}")
        duration = window.duration
        if duration <= timedelta(0):
            return WindowedRenewal(desired, "windowDuration must be a positive duration")
        search_min, search_max = not_before - duration, not_after + duration
        best_before = _before_desired(
            schedule, search_min, search_max, desired, best_before, duration
        )
        best_after = _after_desired(schedule, search_min, search_max, desired, best_after, duration)
    if best_before is not None:
        return WindowedRenewal(best_before)
    if best_after is not None:
        return WindowedRenewal(best_after)
    return WindowedRenewal(
        desired,
        f"cannot find a time with the given windows between {_go(not_before)} and "
        f"{_go(not_after)} for: {_go(desired)}",
    )


def _latest_start(schedule: CronSchedule, low: datetime, high: datetime) -> datetime | None:
    """The latest window opening in [low, high], by binary search to the second."""
    if low >= high:
        return None
    limit = high
    first = schedule.next(low - _SECOND)
    if first is None or first > limit:
        return None
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        nxt = schedule.next(middle)
        if nxt is None or nxt > limit:
            high = middle
        else:
            low = middle
    last = schedule.next(low - _SECOND)
    return None if last is None or last > limit else last


def _before_desired(
    schedule: CronSchedule,
    search_min: datetime,
    search_max: datetime,
    desired: datetime,
    best: datetime | None,
    duration: timedelta,
) -> datetime | None:
    if desired < search_min:
        return None  # as cert-manager: this window drops what earlier ones found
    start = _latest_start(schedule, search_min, min(desired, search_max))
    if start is None:
        return best
    end = start + duration
    candidate = desired if start <= desired < end else end
    if candidate >= desired and (best is None or candidate > best):
        return candidate
    return best


def _after_desired(
    schedule: CronSchedule,
    search_min: datetime,
    search_max: datetime,
    desired: datetime,
    best: datetime | None,
    duration: timedelta,
) -> datetime | None:
    start = schedule.next(max(desired, search_min) - _SECOND)
    if start is None or start > search_max:
        return None  # as cert-manager: this window drops what earlier ones found
    if start <= desired < start + duration:
        candidate: datetime | None = desired
    elif desired < start:
        candidate = start
    else:
        candidate = None
    if candidate is not None and candidate >= desired and (best is None or candidate < best):
        return candidate
    return best


def _go(moment: datetime) -> str:
    """Go's time.Time String() for a UTC time (cert-manager's message)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
