"""Where the solver finds key authorizations: the ``TokenSource`` seam and host matching.

Owns the ``TokenSource`` protocol (pod mode and shared mode differ only here), the
in-memory :class:`StaticTokenSource`, and :func:`normalize_host`, the one place that
decides when a Host header "is" a challenge's identifier. It must not do I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class TokenSource(Protocol):
    """Answers "which key authorization belongs to this host and token, if any?".

    ``host`` is already normalized by :func:`normalize_host` (no port, no brackets,
    lower case, no trailing dot, canonical IP text); implementations compare it with
    identifiers passed through the same function. Must be cheap and non-blocking: it runs
    on the event loop for every validation request.
    """

    def lookup(self, host: str, token: str) -> str | None: ...


def normalize_host(value: str) -> str:
    """The identifier a Host header (or a challenge's DNS name / IP) stands for.

    ``Example.COM.:80`` -> ``example.com``; ``[2001:DB8::1]:8089`` -> ``2001:db8::1``;
    ``127.0.0.1:5002`` -> ``127.0.0.1``. A bare IPv6 address (no brackets) is accepted
    because a challenge's identifier is written that way. Returns ``""`` for an empty or
    malformed value, which matches nothing.
    """
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and text[end + 1] != ":"):
            return ""
        return _canonical_ip(text[1:end]) or ""
    if text.count(":") > 1:
        # Several colons and no brackets: only a bare IPv6 literal can look like that.
        return _canonical_ip(text) or ""
    name = text.split(":", 1)[0].rstrip(".").lower()
    if name.strip("0123456789."):
        # No colon is left, so only digits and dots could be an address (IPv4): a DNS
        # name, every validation request's, is not handed to ``ipaddress`` to refuse.
        return name
    return _canonical_ip(name) or name


def _canonical_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class StaticTokenSource:
    """A fixed set of challenges, keyed by normalized (host, token).

    Pod mode holds exactly one; tests and small embeddings may hold several. Build it
    with :meth:`single` or :meth:`of` so every identifier is normalized once.
    """

    entries: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def single(cls, *, domain: str, token: str, key: str) -> StaticTokenSource:
        return cls.of([(domain, token, key)])

    @classmethod
    def of(cls, challenges: Iterable[tuple[str, str, str]]) -> StaticTokenSource:
        """From ``(domain, token, key_authorization)`` triples."""
        return cls({(normalize_host(d), t): k for d, t, k in challenges if normalize_host(d)})

    def lookup(self, host: str, token: str) -> str | None:
        return self.entries.get((host, token))
