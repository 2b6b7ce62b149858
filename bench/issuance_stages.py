"""Where an issuance's time goes: the controller's own log, read back per Certificate.

``certmgr run --log-format=json`` logs one event per pipeline step with a microsecond
timestamp and the object's key, and every object of an attempt is named after its
Certificate (``bench-7``, ``bench-7-<hash>``, ``bench-7-<hash>-<hash>``...). This module
turns those lines into the time from one step to the next, per Certificate, so the
benchmark can say which hop the time goes to. It only reads the log.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

# (label, log event, which occurrence): "last" for the step a Certificate goes through
# once per Challenge, where the last one is what the Order waits for.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("trigger", "issuance_triggered", "first"),
    ("key", "next_private_key_stored", "first"),
    ("request", "certificate_request_created", "first"),
    ("approved", "certificate_request_approved", "first"),
    ("order", "acme_order_created", "first"),
    ("challenges", "acme_challenge_final", "last"),
    ("order valid", "acme_order_valid", "first"),
    ("request issued", "certificate_request_issued", "first"),
    ("secret", "certificate_issued", "first"),
    ("ready logged", "readiness_updated:True", "first"),
)
_CERTIFICATE = re.compile(r"\bbench-\d+")


def _moment(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def step_times(log: Path, *, since: float = 0.0) -> dict[str, dict[str, float]]:
    """Certificate name -> stage event -> wall-clock time (seconds since the epoch).

    Records before ``since`` are skipped: a reused workdir appends runs to one log, and
    every run issues the same names.
    """
    wanted = {event: occurrence for _, event, occurrence in STAGES}
    times: dict[str, dict[str, float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = record.get("event", "")
        if event == "readiness_updated":
            event = f"readiness_updated:{record.get('ready')}"
        if event not in wanted:
            continue
        match = _CERTIFICATE.search(str(record.get("key", "")))
        if match is None:
            continue
        moment = _moment(record["timestamp"])
        if moment < since:
            continue
        seen = times.setdefault(match.group(0), {})
        if wanted[event] == "last" or event not in seen:
            seen[event] = moment
    return times


def hop_durations(
    log: Path, *, created: Mapping[str, float], seen_ready: Mapping[str, float]
) -> list[tuple[str, list[float]]]:
    """For each hop (previous step -> step), the seconds it took, one value per Certificate.

    ``created`` and ``seen_ready`` are wall-clock times taken by the benchmark: when it
    stored the Certificate and when its watch saw Ready, so the first and last hops show
    the cost of getting the news in and out.
    """
    # One second of slack: the controller's clock and ours are the same wall clock, but a
    # record can be stamped a moment before the benchmark notes its create.
    times = step_times(log, since=min(created.values(), default=0.0) - 1.0)
    labels = ["created", *(label for label, _, _ in STAGES), "watch saw Ready"]
    hops: list[tuple[str, list[float]]] = [
        (f"{a} -> {b}", []) for a, b in itertools.pairwise(labels)
    ]
    for name, start in created.items():
        steps = times.get(name, {})
        moments = [start, *(steps.get(event) for _, event, _ in STAGES), seen_ready.get(name)]
        for (_, durations), before, after in zip(hops, moments, moments[1:], strict=False):
            if before is not None and after is not None:
                durations.append(after - before)
    return hops


def format_hops(hops: list[tuple[str, list[float]]]) -> list[str]:
    lines = []
    for hop, durations in hops:
        if not durations:
            continue
        ordered = sorted(durations)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        lines.append(
            f"{hop:<36} p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"
        )
    return lines


def rate_limit(log: Path) -> str:
    """The controller's own word on its client-side rate limit (its last start)."""
    found = "not logged"
    for line in log.read_text(errors="replace").splitlines():
        if "kube_api_rate_limit" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        found = f"qps {record.get('qps')}, burst {record.get('burst')}: {record.get('reason')}"
    return found
