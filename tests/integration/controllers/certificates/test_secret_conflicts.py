"""A Secret the Certificate may not issue into: one another Certificate owns (two share a
secretName), or one of another type. No issuance, Ready=False naming the cause, one
Warning Event, and the other Certificate (or the foreign Secret) untouched."""

from __future__ import annotations

import base64

import pytest

from certmgr.kube import resources as r

from .conftest import World, condition, is_ready

MINUTE_IN_STEPS = (10.0,) * 6


async def a_minute_passes(world: World) -> None:
    for step in MINUTE_IN_STEPS:
        world.clock.advance(step)
        await world.quiesce()


def warnings_for(world: World, name: str, reason: str) -> list[str]:
    return [m for n, t, rsn, m in world.events.items if (n, t, rsn) == (name, "Warning", reason)]


async def test_two_certificates_sharing_a_secret_issue_once_and_the_other_says_why(
    world: World,
) -> None:
    await world.create_certificate("dup-a", secretName="shared-tls")
    await world.create_certificate("dup-b", secretName="shared-tls")
    await world.wait_ready("dup-a")
    await world.wait_condition("dup-b", "Ready", "False")
    await a_minute_passes(world)

    # cert-manager's rule: the oldest (then the first by name) owns a Secret nobody has
    # written yet, and only the owner is issued.
    assert len(await world.requests()) == 1
    assert len(world.issuer.signed) == 1
    assert is_ready(await world.certificate("dup-a"))
    other = await world.certificate("dup-b")
    ready = condition(other, "Ready")
    assert ready["reason"] == "DuplicateSecretName"
    assert '"dup-a"' in ready["message"] and '"shared-tls"' in ready["message"]
    assert not condition(other, "Issuing")
    assert len(warnings_for(world, "dup-b", "DuplicateSecretName")) == 1
    assert not warnings_for(world, "dup-a", "DuplicateSecretName")
    secret = await world.secret("shared-tls")
    assert secret is not None
    assert secret["metadata"]["annotations"]["cert-manager.io/certificate-name"] == "dup-a"

    # The owner goes: the other one takes the Secret over and is issued.
    await world.kube.delete(r.CERTIFICATES, "dup-a", namespace=world.namespace)
    await world.wait_ready("dup-b")
    await a_minute_passes(world)
    assert len(world.issuer.signed) == 2


@pytest.mark.parametrize("type_", ["Opaque", "kubernetes.io/dockerconfigjson"])
async def test_a_secret_of_another_type_is_never_written(world: World, type_: str) -> None:
    payload = base64.b64encode(b'{"auths": {}}').decode()
    key = ".dockerconfigjson" if type_ == "kubernetes.io/dockerconfigjson" else "config"
    foreign = await world.kube.create(
        r.SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-tls", "namespace": world.namespace},
            "type": type_,
            "data": {key: payload},
        },
    )
    await world.create_certificate(
        "web", annotations={"cert-manager.io/issue-temporary-certificate": "true"}
    )
    await world.wait_condition("web", "Ready", "False")
    await a_minute_passes(world)

    after = await world.secret("web-tls")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
    assert after["data"] == {key: payload}
    assert await world.requests() == []
    assert world.issuer.signed == []
    certificate = await world.certificate("web")
    ready = condition(certificate, "Ready")
    assert ready["reason"] == "IncorrectSecretType"
    assert f'"{type_}"' in ready["message"]
    assert not condition(certificate, "Issuing")
    assert len(warnings_for(world, "web", "IncorrectSecretType")) == 1

    # Deleting the foreign Secret lets the Certificate be issued into a TLS Secret.
    await world.kube.delete(r.SECRETS, "web-tls", namespace=world.namespace)
    await world.wait_ready("web")
    issued = await world.secret("web-tls")
    assert issued is not None and issued["type"] == "kubernetes.io/tls"
