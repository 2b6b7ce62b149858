"""--enable-certificate-owner-ref: the Secret is owned by its Certificate (so it goes when
the Certificate goes, through the API server's garbage collector), and the reference is
removed again when the setting is turned off."""

from __future__ import annotations

import dataclasses
from typing import Any

from certmgr.kube import resources as r
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World


async def _owners(world: World) -> list[dict[str, Any]]:
    secret = await world.secret("web-tls")
    assert secret is not None
    return list(secret["metadata"].get("ownerReferences") or [])


async def test_the_secret_is_owned_and_goes_with_its_certificate(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, enable_certificate_owner_ref=True)
    await world.restart()
    created = await world.create_certificate("web")
    await world.wait_ready("web")
    assert await _owners(world) == [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "name": "web",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    await world.kube.delete(r.CERTIFICATES, "web", namespace=world.namespace)
    assert await eventually(lambda: world.secret("web-tls"), lambda secret: secret is None) is None


async def test_turning_the_setting_off_releases_the_secret(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, enable_certificate_owner_ref=True)
    await world.restart()
    await world.create_certificate("web")
    await world.wait_ready("web")
    assert len(await _owners(world)) == 1
    world.settings = dataclasses.replace(world.settings, enable_certificate_owner_ref=False)
    await world.restart()
    assert await eventually(lambda: _owners(world), lambda owners: owners == []) == []
    await world.kube.delete(r.CERTIFICATES, "web", namespace=world.namespace)
    await world.quiesce()
    assert await world.secret("web-tls") is not None  # not owned: kept, as cert-manager
