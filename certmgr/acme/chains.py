"""Choosing among the certificate chains a CA offers (RFC 8555 section 7.4.2).

Owns cert-manager's ``preferredChain`` rule: a chain matches when the issuer Common
Name of its top-most certificate equals the preferred name, so "ISRG Root X1" selects
the chain that ends in a certificate *signed by* that root. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID


def top_issuer_common_name(chain_pem: str) -> str | None:
    """The issuer CN of the last certificate in a PEM chain (``None`` if it has none)."""
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        return None
    if not certificates:
        return None
    names = certificates[-1].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def choose_chain(preferred_issuer: str, chains: Sequence[str]) -> str | None:
    """The first chain whose top certificate was issued by ``preferred_issuer``."""
    for chain in chains:
        if top_issuer_common_name(chain) == preferred_issuer:
            return chain
    return None
