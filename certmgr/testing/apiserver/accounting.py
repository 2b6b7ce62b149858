"""Request accounting: how many API calls each (verb, resource, user) made.

Owns the counters tests and benchmarks read ("API calls per issuance"), the permissions
RBAC was asked for per user (what a minimal Role must grant), the list of requests RBAC
refused (a test running the controller under deploy/'s RBAC fails on any)
and the audit annotations admission gave (Pod Security's ``audit`` mode). Resources
are plural names with an optional subresource (``certificates/status``). Thread-safe,
because tests read it from another thread than the simulator's. It must not decide
anything about the requests it counts.
"""

from __future__ import annotations

import threading
from collections import Counter

CountKey = tuple[str, str, str]  # (verb, resource, user)
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class RequestCounts:
    def __init__(self) -> None:
        self._counts: Counter[CountKey] = Counter()
        self._denials: list[str] = []
        self._authorized: set[tuple[str, str, str, str]] = set()
        self._annotations: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def record(self, verb: str, resource: str, user: str) -> None:
        with self._lock:
            self._counts[(verb, resource, user)] += 1

    def deny(self, message: str) -> None:
        """Note a request RBAC refused (the 403's message)."""
        with self._lock:
            self._denials.append(message)

    def denials(self, *, user: str | None = None) -> list[str]:
        """The messages of the requests RBAC refused, oldest first (of ``user`` if given)."""
        with self._lock:
            denials = list(self._denials)
        return [d for d in denials if user is None or f'User "{user}" ' in d]

    def asked(self, *, user: str, group: str, resource: str, verb: str) -> None:
        """Note what RBAC was asked for (allowed or not): a request, or an admission check
        such as update on an owner's ``finalizers``."""
        with self._lock:
            self._authorized.add((user, group, resource, verb))

    def permissions_asked(self, *, user: str) -> set[tuple[str, str, str]]:
        """(API group, resource[/subresource], verb) RBAC was asked for on behalf of ``user``:
        the permissions its runs needed."""
        with self._lock:
            return {(g, r, v) for u, g, r, v in self._authorized if u == user}

    def annotate(self, annotations: dict[str, str]) -> None:
        """Note the audit annotations admission gave a request (Pod Security's)."""
        with self._lock:
            self._annotations.append(dict(annotations))

    def audit_annotations(self) -> list[dict[str, str]]:
        """The audit annotations of the requests so far, oldest first."""
        with self._lock:
            return [dict(a) for a in self._annotations]

    def count(
        self, *, verb: str | None = None, resource: str | None = None, user: str | None = None
    ) -> int:
        """Sum of the counts matching every given field."""
        with self._lock:
            items = list(self._counts.items())
        return sum(
            n
            for (v, r, u), n in items
            if (verb is None or v == verb)
            and (resource is None or r == resource)
            and (user is None or u == user)
        )

    def writes(self, *, resource: str | None = None, user: str | None = None) -> int:
        """Requests that change state (create, update, patch, delete, deletecollection)."""
        return sum(
            self.count(verb=verb, resource=resource, user=user) for verb in sorted(WRITE_VERBS)
        )

    def snapshot(self) -> dict[CountKey, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._denials.clear()
            self._authorized.clear()
            self._annotations.clear()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
