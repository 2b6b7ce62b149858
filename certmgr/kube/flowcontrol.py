"""Choosing the client-side rate limit: explicit settings, or "auto" from the server's APF.

Owns the ``--kube-api-qps`` / ``--kube-api-burst`` settings ("auto" or a number), the
probe that asks the API server whether it runs API Priority and Fairness (APF, GA since
Kubernetes 1.29), and the decision. It must not build HTTP requests itself (the
``Transport`` sends the probe) nor limit anything (``throttling.TokenBucket`` does).

The decision, in the order it is made:
- an explicit QPS of 0 or less (client-go's ``-1``) means no client-side limit;
- any explicit value means a token bucket with it (the other one at its default), and no
  probe: an operator's numbers are never overridden (cert-manager issue #9158);
- "auto" for both: one ``GET /livez/ping`` (then ``/version`` when that answered an
  error without the headers, e.g. a proxy's 404); a response carrying
  ``X-Kubernetes-PF-FlowSchema-UID`` or ``X-Kubernetes-PF-PriorityLevel-UID`` means the
  server limits its own concurrency (seats, queues, 429 with Retry-After), so no
  client-side limit, as controller-runtime's default and cert-manager PR #8757. No header,
  or no answer at all, keeps the conservative 50 QPS / burst 100.

With no client-side limit the backstop is ``Transport``'s handling of 429: it waits the
server's ``Retry-After`` (plus jitter, so a rejected burst does not come back in step).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

DEFAULT_QPS = 50.0
DEFAULT_BURST = 100
AUTO = "auto"
PROBE_PATHS = ("/livez/ping", "/version")
APF_HEADERS = ("X-Kubernetes-PF-FlowSchema-UID", "X-Kubernetes-PF-PriorityLevel-UID")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limit in force: ``qps <= 0`` means none. ``reason`` is for the start-up log."""

    qps: float
    burst: int
    reason: str

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What the server said about APF: True/False, and where that came from."""

    priority_and_fairness: bool
    evidence: str


def qps_setting(text: str) -> float | None:
    """``--kube-api-qps``: "auto" (None) or a number; 0 or less means unlimited."""
    if text.strip().lower() == AUTO:
        return None
    return float(text)


def burst_setting(text: str) -> int | None:
    """``--kube-api-burst``: "auto" (None) or an integer."""
    if text.strip().lower() == AUTO:
        return None
    return int(text)


def needs_probe(qps: float | None, burst: int | None) -> bool:
    return qps is None and burst is None


def choose(qps: float | None, burst: int | None, *, probe: ProbeResult | None) -> RateLimit:
    """The limit for these settings (None is "auto"); ``probe`` matters only for auto.

    Raises ``ValueError`` for a positive QPS with a burst below 1.
    """
    if qps is not None and qps <= 0:
        return RateLimit(0.0, 0, f"--kube-api-qps={qps:g}: client-side limit off (explicit)")
    if qps is not None or burst is not None:
        chosen_qps = DEFAULT_QPS if qps is None else qps
        chosen_burst = DEFAULT_BURST if burst is None else burst
        if chosen_burst < 1:
            raise ValueError(f"--kube-api-burst must be at least 1 (got {chosen_burst})")
        return RateLimit(chosen_qps, chosen_burst, "explicit --kube-api-qps/--kube-api-burst")
    if probe is not None and probe.priority_and_fairness:
        return RateLimit(
            0.0, 0, f"auto: the server has API Priority and Fairness ({probe.evidence})"
        )
    evidence = probe.evidence if probe is not None else "not probed"
    return RateLimit(DEFAULT_QPS, DEFAULT_BURST, f"auto: no API Priority and Fairness ({evidence})")


def has_apf_headers(headers: Mapping[str, str]) -> bool:
    # aiohttp's headers are case-insensitive; a plain dict from a test may not be.
    lowered = {name.lower() for name in headers}
    return any(name.lower() in lowered for name in APF_HEADERS)


# (path) -> (HTTP status, response headers); raises on a failed exchange.
Prober = Callable[[str], Awaitable[tuple[int, Mapping[str, str]]]]


async def detect_priority_and_fairness(send: Prober) -> ProbeResult:
    """Ask the server once (twice at most) whether its responses carry APF headers.

    APF runs after authentication and before authorization on kube-apiserver, so a 403
    or 404 still carries the headers; an error answer without them (an old server, or a
    proxy in front of it) falls back to the next path. Any exchange failure is "no APF".
    """
    evidence = ""
    for path in PROBE_PATHS:
        try:
            status, headers = await send(path)
        except Exception as exc:  # the probe must never stop the start
            return ProbeResult(False, f"probe of {path} failed: {type(exc).__name__}: {exc}")
        if has_apf_headers(headers):
            return ProbeResult(True, f"APF headers on GET {path} ({status})")
        evidence = f"no APF headers on GET {path} ({status})"
        if status < 400:
            break
    return ProbeResult(False, evidence)
