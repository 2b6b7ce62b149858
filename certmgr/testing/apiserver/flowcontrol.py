"""API Priority and Fairness, as much of it as a client can see.

Owns the classification of an authenticated request into a FlowSchema and a priority
level (whose UIDs kube-apiserver sends back as ``X-Kubernetes-PF-FlowSchema-UID`` and
``X-Kubernetes-PF-PriorityLevel-UID`` on every request that passes its APF filter), and an
optional cap on concurrently executing requests (APF's seats) answered with 429 and
``Retry-After: 1``. It must not know about resources or storage; the handler asks it
for a seat around the work.

Simplifications (documented in docs/simulator.md): three FlowSchemas only (``exempt``
for ``system:masters`` and the health probes, ``service-accounts`` for
``system:serviceaccounts``, ``global-default`` for the rest); one seat per request and
one pool of seats shared by every non-exempt request; no queues (a request over the cap
is rejected at once, as a real priority level with queuing turned off); watches take no
seat (upstream they hold one only while they initialise).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.auth import MASTERS, UserInfo

FLOW_SCHEMA_HEADER = "X-Kubernetes-PF-FlowSchema-UID"
PRIORITY_LEVEL_HEADER = "X-Kubernetes-PF-PriorityLevel-UID"
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
SERVICE_ACCOUNTS = "system:serviceaccounts"
REJECTED_RETRY_AFTER = 1


def _uid(name: str) -> str:
    # Stable across runs, so a test can compare them; real UIDs are random per cluster.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"certmgr-simulator/flowcontrol/{name}"))


@dataclass(frozen=True, slots=True)
class Flow:
    """Where APF put one request: the matched FlowSchema and its priority level."""

    flow_schema: str
    priority_level: str

    @property
    def exempt(self) -> bool:
        return self.priority_level == "exempt"

    def headers(self) -> dict[str, str]:
        return {
            FLOW_SCHEMA_HEADER: _uid(f"flowschema/{self.flow_schema}"),
            PRIORITY_LEVEL_HEADER: _uid(f"prioritylevel/{self.priority_level}"),
        }


EXEMPT = Flow("exempt", "exempt")
PROBES = Flow("probes", "exempt")
SERVICE_ACCOUNT_FLOW = Flow("service-accounts", "workload-low")
GLOBAL_DEFAULT = Flow("global-default", "global-default")


def classify(user: UserInfo, path: str) -> Flow:
    if path in HEALTH_PATHS or path.startswith(tuple(p + "/" for p in HEALTH_PATHS)):
        return PROBES
    if MASTERS in user.groups:
        return EXEMPT
    if SERVICE_ACCOUNTS in user.groups or user.name.startswith("system:serviceaccount:"):
        return SERVICE_ACCOUNT_FLOW
    return GLOBAL_DEFAULT


class FlowControl:
    """Mutable on purpose, like ``Faults``: tests change the knobs between steps.

    ``enabled`` False: no APF headers (an old server, or APF turned off), and no cap.
    ``max_in_flight`` None: no cap; N: the N+1st concurrent non-exempt request gets 429.
    Runs on the server's loop only (the counters need no lock).
    """

    def __init__(self, *, enabled: bool = True, max_in_flight: int | None = None) -> None:
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.enabled = enabled
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rejected = 0

    @contextmanager
    def seat(self, flow: Flow) -> Iterator[None]:
        """Hold a seat while the request executes; 429 when none is free."""
        cap = self.max_in_flight if self.enabled else None
        if cap is None or flow.exempt:
            yield
            return
        if self.in_flight >= cap:
            self.rejected += 1
            raise errors.too_many_requests(REJECTED_RETRY_AFTER)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
