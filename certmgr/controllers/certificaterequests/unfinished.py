"""Which CertificateRequest keys an issuer controller's watches leave out.

Owns :func:`finished_key`: a watch's ``skip_key`` filter that reads the cached request
of a mapped key with the controller's own ``finished`` predicate (the one its reconcile
stops on). It must not decide what finished means: each controller passes its predicate.
"""

from __future__ import annotations

from collections.abc import Callable

from certmgr.runtime.cache import Cache, Obj, split_key
from certmgr.runtime.manager import KeyFilter


def finished_key(requests: Cache, finished: Callable[[Obj], bool]) -> KeyFilter:
    """Whether a request key's cached request is ``finished`` now (a key not cached is
    kept: its reconcile sees it gone). A finished request stays finished; an event that
    changes that has its own watch event."""

    def skip(key: str) -> bool:
        namespace, name = split_key(key)
        request = requests.get(namespace, name)
        return request is not None and finished(request)

    return skip
