"""Shared mode's solver: every replica answers every current HTTP-01 challenge.

Owns :class:`ActiveChallengeSource` (a :class:`~solvers.tokens.TokenSource` over the
Challenge informer's cache: only HTTP-01 Challenges with a key, token and dnsName that
are not final) and :func:`serve_shared_solver`, which the composition root calls in
every replica, leader or not, because informers run everywhere while controllers run
on the leader only. It must not write to the API.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from certmgr.api.acme import State
from certmgr.kube.resources import CHALLENGES
from certmgr.runtime.cache import Cache
from certmgr.runtime.manager import Manager
from solvers import serve
from solvers.challenges import TOKEN_INDEX, http01_token
from solvers.tokens import normalize_host

_FINAL: Final = frozenset(s.value for s in State if s.is_final)


class ActiveChallengeSource:
    """Answers ``(host, token)`` from the non-final HTTP-01 Challenges in ``cache``."""

    def __init__(self, cache: Cache) -> None:
        cache.add_index(TOKEN_INDEX, http01_token)
        self._cache = cache

    def lookup(self, host: str, token: str) -> str | None:
        for challenge in self._cache.by_index(TOKEN_INDEX, token):
            spec = challenge.get("spec") or {}
            state = (challenge.get("status") or {}).get("state")
            if state in _FINAL or not spec.get("key"):
                continue
            if normalize_host(str(spec.get("dnsName") or "")) == host:
                return str(spec["key"])
        return None


def shared_solver_source(manager: Manager) -> ActiveChallengeSource:
    """The source over the manager's Challenge informer (created if not yet there)."""
    return ActiveChallengeSource(manager.informer(CHALLENGES).cache)


async def serve_shared_solver(manager: Manager, *, host: str, port: int) -> web.AppRunner:
    """Listen on ``host:port`` (0: a free port, see ``runner.addresses``) for every
    current challenge. Call before or after ``manager.run``; ``await runner.cleanup()``
    when done."""
    return await serve(shared_solver_source(manager), host=host, port=port)
