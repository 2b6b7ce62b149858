"""Bearer token authentication as kube-apiserver does it: the scheme is case-insensitive
(the kubernetes package's in-cluster loader sends ``bearer <token>``)."""

from __future__ import annotations

import pytest

from certmgr.testing.apiserver.auth import ANONYMOUS, Authenticator
from certmgr.testing.apiserver.errors import StatusError


@pytest.mark.parametrize(
    ("header", "user"),
    [
        pytest.param("Bearer secret", "alice", id="bearer"),
        pytest.param("bearer secret", "alice", id="lowercase-in-cluster-loader"),
        pytest.param("BEARER  secret ", "alice", id="uppercase-extra-spaces"),
        pytest.param(None, ANONYMOUS.name, id="none-is-anonymous"),
        pytest.param("Bearer wrong", None, id="unknown-token"),
        pytest.param("Basic c2VjcmV0", None, id="other-scheme"),
        pytest.param("Bearer", None, id="no-token"),
    ],
)
def test_authenticate(header: str | None, user: str | None) -> None:
    authenticator = Authenticator()
    authenticator.add_token("secret", "alice")
    if user is None:
        with pytest.raises(StatusError) as raised:
            authenticator.authenticate(header)
        assert raised.value.code == 401
    else:
        assert authenticator.authenticate(header).name == user
