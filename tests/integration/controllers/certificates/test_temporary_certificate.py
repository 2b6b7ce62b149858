"""``cert-manager.io/issue-temporary-certificate: "true"``: while the request is pending
the target Secret holds a placeholder for the next private key (so an ingress controller
that needs a certificate can program the Ingress the HTTP-01 challenge is served from),
the Certificate is not Ready on it, and the real issuance replaces it with the same key.
Without the annotation nothing is written before the certificate is issued."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from certmgr.api import labels
from certmgr.kube import resources as r
from certmgr.pki.certificates import parse_leaf
from certmgr.pki.keys import parse_private_key, public_keys_equal
from certmgr.pki.temporary import is_temporary_certificate
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, condition, data

TEMPORARY = {labels.ISSUE_TEMPORARY_CERTIFICATE: "true"}


async def pending_request(world: World) -> dict[str, Any]:
    """The one CertificateRequest, approved and held back by the test CA."""

    async def probe() -> list[dict[str, Any]]:
        return await world.requests()

    requests = await eventually(probe, lambda found: len(found) == 1)
    return requests[0]


async def secret_holding_a_placeholder(world: World, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        return await world.secret(name)

    def temporary(secret: dict[str, Any] | None) -> bool:
        crt = data(secret).get("tls.crt") if secret is not None else None
        return crt is not None and is_temporary_certificate(parse_leaf(crt))

    secret = await eventually(probe, temporary)
    assert secret is not None
    return secret


async def next_private_key_pem(world: World, certificate: dict[str, Any]) -> bytes:
    key_secret = await world.secret(certificate["status"]["nextPrivateKeySecretName"])
    assert key_secret is not None
    return data(key_secret)["tls.key"]


async def test_a_placeholder_for_the_next_key_until_the_real_certificate(world: World) -> None:
    world.issuer.held = True
    await world.create_certificate("web", annotations=TEMPORARY)
    request = await pending_request(world)

    secret = await secret_holding_a_placeholder(world, "web-tls")
    values = data(secret)
    placeholder = parse_leaf(values["tls.crt"])
    issuing = await world.wait_condition("web", "Issuing", "True")
    next_key = parse_private_key(await next_private_key_pem(world, issuing))
    assert public_keys_equal(parse_private_key(values["tls.key"]), next_key)
    assert public_keys_equal(placeholder.public_key(), next_key)  # type: ignore[arg-type]
    assert values["tls.key"].startswith(b"-----BEGIN RSA PRIVATE KEY-----")  # spec's encoding
    assert "ca.crt" not in values
    annotations = secret["metadata"]["annotations"]
    assert annotations["cert-manager.io/certificate-name"] == "web"
    assert annotations["cert-manager.io/alt-names"] == "web.example.com"
    assert ("web", "Normal", "Issuing", "Issued temporary certificate") in world.events.items

    not_ready = await world.wait_condition("web", "Ready", "False")
    assert condition(not_ready, "Ready")["reason"] == "TemporaryCertificate"
    await world.quiesce()
    certificate = await world.certificate("web")
    assert condition(certificate, "Ready")["status"] == "False"
    assert condition(certificate, "Issuing")["status"] == "True"
    assert "revision" not in certificate["status"]
    assert [r["metadata"]["name"] for r in await world.requests()] == [request["metadata"]["name"]]
    assert world.issuer.signed == []

    world.issuer.release()
    certificate = await world.wait_ready("web", revision=1)
    secret = await world.secret("web-tls")
    assert secret is not None
    values = data(secret)
    leaf = parse_leaf(values["tls.crt"])
    assert not is_temporary_certificate(leaf)
    assert leaf.issuer == world.issuer.ca_certificate.subject
    assert public_keys_equal(parse_private_key(values["tls.key"]), next_key)  # the same key
    assert public_keys_equal(leaf.public_key(), next_key)  # type: ignore[arg-type]
    assert values["ca.crt"] == world.issuer.ca_pem
    assert condition(certificate, "Ready")["reason"] == "Ready"

    await world.quiesce()
    assert world.issuer.signed == [request["metadata"]["name"]]
    assert len(await world.requests()) == 1
    assert (await world.certificate("web"))["status"]["revision"] == 1
    temporaries = [e for e in world.events.items if e[3] == "Issued temporary certificate"]
    assert len(temporaries) == 1
    assert world.events.reasons("Warning") == []


async def test_without_the_annotation_nothing_is_written_before_issuance(world: World) -> None:
    world.issuer.held = True
    await world.create_certificate("web")
    await pending_request(world)
    await world.wait_condition("web", "Issuing", "True")
    await world.quiesce()
    assert await world.secret("web-tls") is None
    assert condition(await world.certificate("web"), "Ready")["reason"] == "DoesNotExist"

    world.issuer.release()
    await world.wait_ready("web", revision=1)


async def test_a_renewal_keeps_the_issued_certificate_in_place(world: World) -> None:
    await world.create_certificate("web", annotations=TEMPORARY)
    await world.wait_ready("web", revision=1)
    issued = data(await world.secret("web-tls") or {})

    world.issuer.held = True
    await world.kube.patch(
        r.CERTIFICATES,
        "web",
        {"spec": {"dnsNames": ["web.example.com", "www.example.com"]}},
        namespace=world.namespace,
    )
    await world.wait_condition("web", "Issuing", "True")
    await world.quiesce()
    assert data(await world.secret("web-tls") or {}) == issued  # cert-manager: no placeholder

    world.issuer.release()
    await world.wait_ready("web", revision=2)


async def test_a_failed_attempt_leaves_the_placeholder_until_the_retry(world: World) -> None:
    world.issuer.held = True
    await world.create_certificate("web", annotations=TEMPORARY)
    await pending_request(world)
    await secret_holding_a_placeholder(world, "web-tls")

    world.issuer.fail_with = "the CA is having a bad day"
    world.issuer.release()
    await world.wait_condition("web", "Issuing", "False")
    await world.quiesce()
    assert len(await world.requests()) == 1  # the placeholder starts no second attempt
    assert condition(await world.certificate("web"), "Ready")["status"] == "False"

    world.issuer.fail_with = None
    await world.clock.run_for(timedelta(hours=1, minutes=1).total_seconds())
    await world.wait_ready("web", revision=1)
    secret = await world.secret("web-tls")
    assert secret is not None
    assert not is_temporary_certificate(parse_leaf(data(secret)["tls.crt"]))
