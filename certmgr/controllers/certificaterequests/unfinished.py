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
    """Whether a request key's cached request is ``finished`` now. A key not cached is
    kept (its reconcile sees it gone) once the requests have been listed; before, it is
    left out: the list's own events bring every unfinished request (at a start the
    Orders are often listed first, and each mapped to a request not cached yet was a
    reconcile that found it finished). A finished request stays finished; an event that
    changes that has its own watch event."""

    def skip(key: str) -> bool:
        namespace, name = split_key(key)
        request = requests.get(namespace, name)
        if request is None:
            return not requests.resource_version
        return finished(request)

    return skip
