"""The HTTP-01 solver server (aiohttp): answers ``/.well-known/acme-challenge/<token>``.

Two ways to run the same handler:

- **pod mode** (cert-manager's ``acmesolver``): ``python -m solvers --domain D --token T
  --key K`` serves exactly one challenge from a :class:`StaticTokenSource`;
- **shared mode**: the controller embeds :func:`serve` with a
  :class:`ChallengeCacheSource` over its Challenge informer's cache, so one listener
  answers every current challenge.

This package may import ``certmgr.runtime`` and below, never the controllers or the test
doubles, and it never talks to Kubernetes or to the CA itself.
"""

from solvers.challenges import ChallengeCacheSource
from solvers.server import CHALLENGE_PATH_PREFIX, build_app, challenge_path, serve
from solvers.tokens import StaticTokenSource, TokenSource, normalize_host

__all__ = [
    "CHALLENGE_PATH_PREFIX",
    "ChallengeCacheSource",
    "StaticTokenSource",
    "TokenSource",
    "build_app",
    "challenge_path",
    "normalize_host",
    "serve",
]
