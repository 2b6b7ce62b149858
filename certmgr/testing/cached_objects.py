"""A suite-wide check that nothing changes an object the caches hold (a pytest plugin).

Owns the autouse fixture ``cached_objects_unchanged``: the transforms through which the
manager's informers store objects (``compact`` for every kind, ``managed_secret`` for
managed Secrets, ``cached_request`` for CertificateRequests) are wrapped so that each
stored object is recorded with its JSON text, and so is each packed Certificate read
back (readers share it while any holds it), and at the end of the test every recorded
object must still have that text. Cached
objects are shared with every reader (``runtime/cache.py``): a reader that changes one
changes what every later reconcile sees, and a write must start from a deep copy.
It must not be imported by product code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from certmgr.runtime import informer_requests, informer_secrets, manager
from certmgr.runtime.informer import compact
from certmgr.runtime.informer_certificates import PackedCertificate

Obj = dict[str, Any]


class Recorder:
    """Stored objects with the JSON text each had when stored."""

    def __init__(self) -> None:
        self._recorded: list[tuple[Obj, str]] = []

    def recording(self, transform: Callable[[Obj], Obj]) -> Callable[[Obj], Obj]:
        """``transform``, recording each object it returns."""

        def record(obj: Obj) -> Obj:
            stored = transform(obj)
            self._recorded.append((stored, _text(stored)))
            return stored

        return record

    def recording_reads(
        self, unpack: Callable[[PackedCertificate], Obj]
    ) -> Callable[[PackedCertificate], Obj]:
        """``unpack``, recording each object it returns the first time it returns it."""
        seen: set[int] = set()

        def record(packed: PackedCertificate) -> Obj:
            obj = unpack(packed)
            if id(obj) not in seen:  # recorded objects are kept: their ids stay theirs
                seen.add(id(obj))
                self._recorded.append((obj, _text(obj)))
            return obj

        return record

    def changed(self) -> list[str]:
        """The texts, as stored, of the recorded objects that no longer read the same."""
        return [text for stored, text in self._recorded if _text(stored) != text]


@pytest.fixture(autouse=True)
def cached_objects_unchanged(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    recorder = Recorder()
    monkeypatch.setattr(manager, "compact", recorder.recording(compact))
    monkeypatch.setattr(
        informer_secrets, "managed_secret", recorder.recording(informer_secrets.managed_secret)
    )
    monkeypatch.setattr(
        manager, "cached_request", recorder.recording(informer_requests.cached_request)
    )
    monkeypatch.setattr(
        PackedCertificate, "unpack", recorder.recording_reads(PackedCertificate.unpack)
    )
    yield
    changed = recorder.changed()
    assert not changed, f"{len(changed)} cached object(s) changed in place, first: {changed[0]}"


def _text(obj: Obj) -> str:
    return json.dumps(obj, default=repr)
