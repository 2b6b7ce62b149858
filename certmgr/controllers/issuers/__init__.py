"""The issuer types certmgr runs besides ACME (SelfSigned, CA), and honest status for the
ones it does not (Vault, Venafi).

``setup_all(ctx)`` registers, on ``ctx.manager``: ``status`` (the Ready condition of
every non-ACME Issuer and ClusterIssuer) and ``signing`` (signs approved
CertificateRequests for SelfSigned and CA issuers; says so on those for types certmgr
does not run). ``keypairs`` reads the Secrets they sign with. This package must not
touch ACME issuers or their requests (``controllers.acme`` does).
"""

from __future__ import annotations

from certmgr.controllers.context import Context
from certmgr.controllers.issuers import signing, status


def setup_all(ctx: Context) -> None:
    status.setup(ctx)
    signing.setup(ctx)
