"""The exceptions of the PKI layer.

Owns: `PKIError` (unparsable or unusable key, CSR or certificate data) and `KeySpecError`
(a key algorithm/size combination we refuse to generate).
Must not: put key material, PEM text or any other secret into a message; messages are
stable strings that are safe to copy into a resource status or a log line.
"""

from __future__ import annotations


class PKIError(Exception):
    """Data that cannot be parsed or used; the message never contains the data itself."""


class KeySpecError(PKIError, ValueError):
    """An invalid private key specification (unknown algorithm, unsupported size)."""
