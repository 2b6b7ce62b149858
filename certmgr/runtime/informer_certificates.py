"""Certificates as cached: each one's values in one tuple, the layout of its dicts shared.

A cluster keeps one Certificate per issued certificate, nearly all alike in shape. The
cache keeps each packed (``packed_certificate``, ``runtime/packing.py``), as it keeps
issued requests: its values in one tuple, a layout per distinct set of keys. A read is
an equal ``CertificateObject``; while any reader still holds the one made for this
packed Certificate, a read returns that very object, so memos keyed by identity (the
decoded views, the policies' inputs) hit across controllers as with an unpacked cache.

This module must not decide anything about a Certificate, nor drop any of its fields.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any, Final

from certmgr.runtime.cache import Obj, Packed, PackedTuple
from certmgr.runtime.packing import pack

# The object last read of each packed Certificate that is still alive, by the packed
# form's id (its ``_packed`` keeps that id from being reused). Plain references made and
# dropped by ``__del__``: a ``WeakValueDictionary`` doubled the cost of a read.
_read: dict[int, weakref.ref[CertificateObject]] = {}


class CertificateObject(dict[str, Any]):
    """A packed Certificate read back: an ordinary dict to every reader, weakly
    remembered by the packed form it came from (``_packed``) until it dies. A copy is a
    plain dict."""

    __slots__ = ("__weakref__", "_packed")
    _packed: PackedCertificate

    # ``forget`` bound once: an object that dies while the interpreter exits, after the
    # module's globals were cleared, still finds it.
    def __del__(self, forget: Callable[[int, None], object] = _read.pop) -> None:
        # Called before its weak reference dies: no later read finds it dead in ``_read``.
        packed = getattr(self, "_packed", None)
        if packed is not None:
            forget(id(packed), None)

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def packed_certificate(certificate: Obj) -> Obj | Packed:
    """The Certificate cache's ``pack``: ``certificate`` as ``PackedCertificate``, or as it
    is past ``LAYOUTS_MAX`` layouts."""
    packed = pack(certificate, whole_in=_SHARED, find=_VERSION)
    if packed is None:
        return certificate
    layout, values = packed
    return PackedCertificate((layout, *values))


_VERSION: Final = ("metadata", "resourceVersion")
# The spec's mappings one dict serves for every Certificate alike (``share_strings``).
_SHARED: Final = {"spec": frozenset(("issuerRef", "privateKey"))}


class PackedCertificate(PackedTuple):
    """A Certificate as cached: its layout, then its values."""

    __slots__ = ()

    def unpack(self) -> Obj:
        ref = _read.get(id(self))
        held = None if ref is None else ref()
        if held is not None and held._packed is self:
            return held
        certificate = CertificateObject(self.unpacked_values())
        certificate._packed = self
        _read[id(self)] = weakref.ref(certificate)
        return certificate
