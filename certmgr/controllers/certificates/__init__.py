"""The Certificate side of the pipeline, one controller per owned condition or field.

``setup_all(ctx)`` registers, on ``ctx.manager``: trigger (``Issuing=True``, renewal
scheduling), keymanager (next private key Secret), requestmanager (the
CertificateRequest of the next revision), issuing (the target Secret, ``revision``,
the end of ``Issuing``), readiness (``Ready``, validity, ``renewalTime``),
revisionmanager (old requests) and the built-in approver. They share informers and
talk only through the API's state.
"""

from __future__ import annotations

from typing import Final

from certmgr.controllers.certificaterequests import approver
from certmgr.controllers.certificates import (
    gather,
    issuing,
    keymanager,
    readiness,
    requestmanager,
    revisionmanager,
    spec,
    trigger,
)
from certmgr.controllers.context import Context
from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime.cache import EventType, Obj, object_key

# cert-manager's names of the controllers (--controllers turns them off).
CONTROLLER_NAMES: Final = {
    trigger: "certificates-trigger",
    keymanager: "certificates-key-manager",
    requestmanager: "certificates-request-manager",
    issuing: "certificates-issuing",
    readiness: "certificates-readiness",
    revisionmanager: "certificates-revision-manager",
}


def setup_all(ctx: Context) -> None:
    for module, name in CONTROLLER_NAMES.items():
        if ctx.settings.runs(name):
            module.setup(ctx)
    approver.setup(ctx)
    ctx.manager.informer(CERTIFICATES).add_handler(_forget_deleted)


def _forget_deleted(event_type: EventType, old: Obj | None, new: Obj | None) -> None:
    # The decoded-view and gathered-input memos hold one entry per Certificate; a
    # deleted one's go with it.
    if event_type == "DELETED" and old is not None:
        spec.forget(str(old.get("metadata", {}).get("uid") or ""))
        gather.forget(object_key(old))
