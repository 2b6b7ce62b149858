"""JSON bodies of the Kubernetes API, as bytes: ``decode`` and ``encode``.

Owns which JSON library reads and writes them: orjson, with the stdlib deciding whatever
orjson would get wrong or refuses, so callers see the stdlib's values and errors. It must
not know about HTTP or object shapes. orjson reads an API object in ~2/3 of the stdlib's
CPU; a start decodes a few objects per Certificate, each whole page at once.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson turns an integer beyond 64 bits into a float without a word: a document with a
# run of 19 digits (-2**63 - 1 has 19) is left to the stdlib. Runs that are not numbers
# (in a string) only cost the slower decoder. Every digit made a "0", then one search:
# two passes in C, where a regular expression takes as long as orjson's whole decoding.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
_LONG_RUN = b"0" * 19
# Types the stdlib refuses are refused here too (orjson would write them).
_ENCODE_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def decode(data: bytes) -> Any:
    """``json.loads(data)``, faster: same values, same exceptions (``ValueError``s)."""
    if data.translate(_DIGITS_AS_ZERO).find(_LONG_RUN) == -1:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            # What orjson refuses the stdlib may take (a BOM, NaN, a lone surrogate
            # escape, 1e400) or refuses with its own error.
            pass
    return json.loads(data)


def encode(obj: Any) -> bytes:
    """Compact JSON as UTF-8. Integers beyond 64 bits and keys that are not strings go to
    the stdlib, as does what neither encodes (raising its ``TypeError``)."""
    try:
        return orjson.dumps(obj, option=_ENCODE_OPTIONS)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()
