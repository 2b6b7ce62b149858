"""Accounts.client_for: what it reads of an issuer, decoded once per resourceVersion."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from certmgr.api.issuers import IssuerSpec
from certmgr.controllers.acme import accounts as accounts_module
from certmgr.controllers.acme.accounts import Accounts, IssuerNotReady, key_hash
from certmgr.kube.errors import NotFound

KEY_PEM = b"-----BEGIN EC PRIVATE KEY-----\nnot really\n-----END EC PRIVATE KEY-----\n"


def issuer(version: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": "ca", "namespace": "ns", "uid": "u1", "resourceVersion": version},
        "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "acme": {"uri": "https://ca/acct/1", "lastPrivateKeyHash": key_hash(KEY_PEM)},
        },
    }


class Kube:
    async def get(self, resource: Any, name: str, *, namespace: str | None = None) -> Any:
        if name != "k":
            raise NotFound("no such Secret")
        return {"data": {"tls.key": base64.b64encode(KEY_PEM).decode()}}


class Client:
    def __init__(self, account_uri: str | None) -> None:
        self.account_uri = account_uri

    async def close(self) -> None:
        pass


async def connector(directory_url: str, **kwargs: Any) -> Client:
    return Client(kwargs.get("account_uri"))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []

    class Counting:
        @staticmethod
        def from_dict(data: Any) -> IssuerSpec:
            calls.append(data)
            return IssuerSpec.from_dict(data)

    monkeypatch.setattr(accounts_module, "IssuerSpec", Counting)
    return calls


async def test_an_issuer_version_is_decoded_once(decodes: list[object]) -> None:
    accounts = Accounts(connector, Kube(), cluster_resource_namespace="cm")  # type: ignore[arg-type]
    first = await accounts.client_for(issuer("1"))
    for _ in range(3):
        assert await accounts.client_for(issuer("1")) is first
    assert len(decodes) == 1
    assert await accounts.client_for(issuer("2")) is first  # new version, same meaning
    assert len(decodes) == 2


async def test_a_new_version_is_read_again(decodes: list[object]) -> None:
    accounts = Accounts(connector, Kube(), cluster_resource_namespace="cm")  # type: ignore[arg-type]
    await accounts.client_for(issuer("1"))
    with pytest.raises(IssuerNotReady):
        await accounts.client_for(issuer("2", ready=False))
    with pytest.raises(IssuerNotReady):
        await accounts.client_for(issuer("2", ready=False))  # not-ready is cached too
    assert len(decodes) == 2
    assert await accounts.client_for(issuer("3")) is not None


async def test_without_a_resource_version_every_call_decodes(decodes: list[object]) -> None:
    accounts = Accounts(connector, Kube(), cluster_resource_namespace="cm")  # type: ignore[arg-type]
    unversioned = copy.deepcopy(issuer("1"))
    del unversioned["metadata"]["resourceVersion"]
    await accounts.client_for(unversioned)
    await accounts.client_for(unversioned)
    assert len(decodes) == 2
