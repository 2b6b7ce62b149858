"""Shared mode's token source: every current HTTP-01 Challenge in the controller's cache.

Owns :class:`ChallengeCacheSource`, a :class:`~solvers.tokens.TokenSource` over the
runtime ``Cache`` of ``acme.cert-manager.io/v1`` Challenges that the controller's
informer already keeps, with an index by token so a lookup costs one dict access however
many challenges are in flight. A challenge answers while it is in the cache (the
controller deletes it once it is final, and the CA never asks again after that). It must
not write to the cache or talk to the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from certmgr.runtime.cache import Cache
from solvers.tokens import normalize_host

TOKEN_INDEX: Final = "solvers-http01-token"
HTTP01: Final = "HTTP-01"


def http01_token(challenge: dict[str, Any]) -> Iterable[str]:
    """The index function: an HTTP-01 Challenge's token (nothing for other types)."""
    spec = challenge.get("spec") or {}
    token = spec.get("token")
    return [str(token)] if spec.get("type") == HTTP01 and token else []


class ChallengeCacheSource:
    """Answers from Challenges: ``spec.token`` and ``spec.dnsName`` give ``spec.key``."""

    def __init__(
        self, cache: Cache, *, answers: Callable[[dict[str, Any]], bool] | None = None
    ) -> None:
        """``answers``, when given, narrows which Challenges are served (e.g. not final)."""
        # Registering on an already filled cache files what is there; the informer keeps
        # the index current from then on.
        cache.add_index(TOKEN_INDEX, http01_token)
        self._cache = cache
        self._answers = answers

    def lookup(self, host: str, token: str) -> str | None:
        for challenge in self._cache.by_index(TOKEN_INDEX, token):
            if self._answers is not None and not self._answers(challenge):
                continue
            spec = challenge.get("spec") or {}
            if normalize_host(str(spec.get("dnsName") or "")) == host and spec.get("key"):
                return str(spec["key"])
        return None
