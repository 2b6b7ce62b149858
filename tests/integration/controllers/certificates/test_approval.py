"""Approval as cert-manager's built-in approver: every issuer group is approved (external
issuers rely on it), and ``--controllers=*,-certificaterequests-approver`` leaves it to
another approver (approver-policy)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from certmgr.kube import resources as r
from certmgr.pki.csr import build_csr
from certmgr.pki.keys import generate_private_key
from certmgr.pki.requirements import CertificateRequirements
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, condition


async def external_request(world: World) -> dict[str, Any]:
    csr = build_csr(
        generate_private_key(algorithm="ECDSA", size=256),
        CertificateRequirements(dns_names=("pca.example.com",)),
    )
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "pca", "namespace": world.namespace},
        "spec": {
            "request": base64.b64encode(csr).decode(),
            "issuerRef": {
                "name": "pca",
                "kind": "AWSPCAClusterIssuer",
                "group": "awspca.cert-manager.io",
            },
        },
    }
    return await world.kube.create(r.CERTIFICATEREQUESTS, body)


async def read(world: World, name: str) -> dict[str, Any]:
    return await world.kube.get(r.CERTIFICATEREQUESTS, name, namespace=world.namespace)


async def test_a_request_for_an_external_issuer_is_approved_and_left_to_it(world: World) -> None:
    await external_request(world)
    approved = await eventually(
        lambda: read(world, "pca"), lambda q: condition(q, "Approved").get("status") == "True"
    )
    assert condition(approved, "Approved")["reason"] == "cert-manager.io"
    await world.quiesce()
    assert condition(await read(world, "pca"), "Ready") == {}  # its issuer's to sign


async def test_with_the_approver_off_requests_wait_for_another_approver(world: World) -> None:
    world.settings = dataclasses.replace(
        world.settings, disabled_controllers=frozenset({"certificaterequests-approver"})
    )
    await world.restart()
    assert world.manager is not None
    assert "certificaterequests-approver" not in {c.name for c in world.manager.controllers}
    await external_request(world)
    await world.create_certificate("web")
    await eventually(world.requests, lambda qs: len(qs) == 2)
    await world.quiesce()
    assert all(condition(q, "Approved") == {} for q in await world.requests())
