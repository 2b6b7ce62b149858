"""Which cert-manager request of the next revision the request manager adopts: only one
whose CSR holds the next private key's public key (and matches the spec, not failed)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certmgr.controllers.certificates.adoption import adoptable, attempt_request
from certmgr.controllers.certificates.requestmanager import request_spec
from certmgr.controllers.certificates.spec import requirements_of
from certmgr.pki.csr import build_csr
from certmgr.pki.keys import PrivateKey

from .helpers import certificate

NEXT_KEY = ec.generate_private_key(ec.SECP256R1())


def _request(name: str, key: PrivateKey, **status: Any) -> dict[str, Any]:
    view = certificate()
    assert view.spec is not None
    csr = build_csr(key, requirements_of(view.spec))
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"},
        "spec": request_spec(view, csr),
        "status": status,
    }


@pytest.mark.parametrize(
    ("csr_key", "adopted"),
    [
        pytest.param(NEXT_KEY, True, id="csr-holds-the-next-key"),
        pytest.param(ec.generate_private_key(ec.SECP256R1()), False, id="another-ecdsa-key"),
        pytest.param(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            False,
            id="another-algorithm",
        ),
    ],
)
def test_a_request_is_adopted_only_with_the_next_key(csr_key: PrivateKey, adopted: bool) -> None:
    request = _request("web-2", csr_key)
    assert adoptable(request, certificate(), NEXT_KEY) is adopted
    found = attempt_request(
        [request], wanted="ours", certificate=certificate(), private_key=NEXT_KEY
    )
    assert (found is request) is adopted


def test_a_failed_request_is_not_adopted_even_with_the_next_key() -> None:
    request = _request(
        "web-2",
        NEXT_KEY,
        conditions=[{"type": "Ready", "status": "False", "reason": "Failed"}],
    )
    assert not adoptable(request, certificate(), NEXT_KEY)
