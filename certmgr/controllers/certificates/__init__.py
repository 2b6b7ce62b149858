"""The Certificate side of the pipeline, one controller per owned condition or field.

``setup_all(ctx)`` registers, on ``ctx.manager``: trigger (``Issuing=True``, renewal
scheduling), keymanager (next private key Secret), requestmanager (the
CertificateRequest of the next revision), issuing (the target Secret, ``revision``,
the end of ``Issuing``), readiness (``Ready``, validity, ``renewalTime``),
revisionmanager (old requests) and the built-in approver. They share informers and
talk only through the API's state.
"""

from __future__ import annotations

from certmgr.controllers.certificaterequests import approver
from certmgr.controllers.certificates import (
    issuing,
    keymanager,
    readiness,
    requestmanager,
    revisionmanager,
    trigger,
)
from certmgr.controllers.context import Context


def setup_all(ctx: Context) -> None:
    for module in (trigger, keymanager, requestmanager, issuing, readiness, revisionmanager):
        module.setup(ctx)
    approver.setup(ctx)
