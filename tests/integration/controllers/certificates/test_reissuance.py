"""What makes a Certificate reissue, and what must not: the triggers, the backoff after
a failure, renewal at renewalTime on the fake clock, revision history, key rotation."""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api.codec import parse_rfc3339, rfc3339
from certmgr.kube import resources as r
from certmgr.pki.certificates import parse_chain
from certmgr.pki.keys import encode_private_key, parse_private_key, public_keys_equal
from certmgr.pki.summary import SecretSummary
from certmgr.runtime.informer_secrets import secret_summary
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, condition, data, is_ready


def serial(secret: dict[str, Any]) -> int:
    return parse_chain(data(secret)["tls.crt"])[0].serial_number


def revisions(requests: list[dict[str, Any]]) -> list[str]:
    return sorted(
        r["metadata"]["annotations"]["cert-manager.io/certificate-revision"] for r in requests
    )


async def test_up_to_date_certificate_issues_nothing_on_resyncs_and_restarts(world: World) -> None:
    await world.create_certificate("web")
    await world.wait_ready("web")
    await world.quiesce()
    before = await world.requests()
    # A metadata-only change wakes every controller; restarts re-derive everything.
    await world.kube.patch(
        r.CERTIFICATES, "web", {"metadata": {"labels": {"poke": "1"}}}, namespace=world.namespace
    )
    await world.quiesce()
    for _ in range(3):
        await world.restart()
        await world.quiesce()
    certificate = await world.certificate("web")
    assert is_ready(certificate, revision=1)
    assert await world.requests() == before
    assert len(world.issuer.signed) == 1


async def test_deleting_the_secret_reissues(world: World) -> None:
    await world.create_certificate("web")
    await world.wait_ready("web")
    await world.kube.delete(r.SECRETS, "web-tls", namespace=world.namespace)
    await world.wait_ready("web", revision=2)
    secret = await world.secret("web-tls")
    assert secret is not None and "tls.crt" in data(secret)
    assert len(world.issuer.signed) == 2


async def test_tampered_private_key_reissues_as_invalid_key_pair(world: World) -> None:
    await world.create_certificate("web")
    await world.wait_ready("web")
    secret = await world.secret("web-tls")
    assert secret is not None
    foreign = encode_private_key(ec.generate_private_key(ec.SECP256R1()))
    secret["data"]["tls.key"] = base64.b64encode(foreign).decode()
    await world.kube.update(r.SECRETS, secret)
    await world.wait_ready("web", revision=2)
    messages = [m for _, _, reason, m in world.events.items if reason == "Issuing"]
    assert any("does not match the certificate" in m for m in messages)
    values = data(await world.secret("web-tls") or {})
    assert values["tls.key"] != foreign
    assert public_keys_equal(
        parse_chain(values["tls.crt"])[0].public_key(),  # type: ignore[arg-type]
        parse_private_key(values["tls.key"]),
    )


async def test_changed_dns_names_reissue_and_old_request_is_pruned(world: World) -> None:
    await world.create_certificate("web")
    await world.wait_ready("web")
    await world.patch_spec("web", {"dnsNames": ["web.example.com", "www.example.com"]})
    await world.wait_ready("web", revision=2)
    await world.quiesce()
    secret = await world.secret("web-tls")
    assert secret is not None
    leaf = parse_chain(data(secret)["tls.crt"])[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == ["web.example.com", "www.example.com"]
    assert revisions(await world.requests()) == ["2"]  # revisionHistoryLimit defaults to 1


async def test_revision_history_limit_keeps_that_many(world: World) -> None:
    await world.create_certificate("web", revisionHistoryLimit=2)
    await world.wait_ready("web")
    for revision, names in ((2, ["a.example.com"]), (3, ["b.example.com"])):
        await world.patch_spec("web", {"dnsNames": names})
        await world.wait_ready("web", revision=revision)
    await world.quiesce()
    assert revisions(await world.requests()) == ["2", "3"]


async def test_rotation_policy_never_reuses_the_key_and_always_rotates(world: World) -> None:
    await world.create_certificate("keep", privateKey={"rotationPolicy": "Never"})
    await world.create_certificate("rotate", privateKey={"rotationPolicy": "Always"})
    for name in ("keep", "rotate"):
        await world.wait_ready(name)
    keys = {n: data(await world.secret(f"{n}-tls") or {})["tls.key"] for n in ("keep", "rotate")}
    for name in ("keep", "rotate"):
        await world.patch_spec(name, {"dnsNames": [f"{name}2.example.com"]})
        await world.wait_ready(name, revision=2)
    assert data(await world.secret("keep-tls") or {})["tls.key"] == keys["keep"]
    assert data(await world.secret("rotate-tls") or {})["tls.key"] != keys["rotate"]
    assert "Reused" in world.events.reasons("Normal")


async def test_failed_issuance_backs_off_and_success_resets(world: World) -> None:
    world.issuer.fail_with = "the CA is having a bad day"
    await world.create_certificate("web")
    failed = await world.wait_condition("web", "Issuing", "False")
    status = failed["status"]
    assert status["failedIssuanceAttempts"] == 1
    assert status["lastFailureTime"] == rfc3339(world.clock.now())
    issuing = condition(failed, "Issuing")
    assert issuing["reason"] == "Failed"
    assert issuing["message"].endswith("the CA is having a bad day")
    ready = await world.wait_condition("web", "Ready", "False")
    assert condition(ready, "Ready")["reason"] == "Failed"
    assert "Failed" in world.events.reasons("Warning")
    await world.quiesce()
    attempts = len(await world.requests())

    world.issuer.fail_with = None
    await world.clock.run_for(timedelta(minutes=59).total_seconds())
    await world.quiesce()
    assert len(await world.requests()) == attempts  # still backing off
    assert condition(await world.certificate("web"), "Issuing")["status"] == "False"

    await world.clock.run_for(timedelta(minutes=2).total_seconds())
    certificate = await world.wait_ready("web")
    assert "failedIssuanceAttempts" not in certificate["status"]
    assert "lastFailureTime" not in certificate["status"]


async def test_spec_change_retries_at_once_despite_backoff(world: World) -> None:
    world.issuer.fail_with = "no"
    await world.create_certificate("web")
    await world.wait_condition("web", "Issuing", "False")
    world.issuer.fail_with = None
    await world.patch_spec("web", {"dnsNames": ["other.example.com"]})
    await world.wait_ready("web")


async def test_manual_renew_reissues(world: World) -> None:
    await world.create_certificate("web")
    certificate = await world.wait_ready("web")
    before = serial(await world.secret("web-tls") or {})
    certificate["status"]["conditions"].append(
        {
            "type": "Issuing",
            "status": "True",
            "reason": "ManuallyTriggered",
            "message": "Certificate re-issuance manually triggered",
            "lastTransitionTime": rfc3339(world.clock.now()),
        }
    )
    await world.kube.update_status(r.CERTIFICATES, certificate)
    await world.wait_ready("web", revision=2)
    assert serial(await world.secret("web-tls") or {}) != before


async def test_renewal_at_renewal_time_never_leaves_the_secret_empty(world: World) -> None:
    assert world.manager is not None
    seen: list[SecretSummary] = []

    def record(_: str, old: Any, new: Any) -> None:
        # The cache holds a certificate's Secret as its summary (tls.crt and tls.key are
        # not kept): a usable key pair is a parsed leaf and key with the same public key.
        if new is not None and new["metadata"]["name"] == "web-tls":
            seen.append(secret_summary(new))

    world.manager.secrets.add_handler(record)
    await world.create_certificate("web", duration="3h", renewBefore="1h")
    certificate = await world.wait_ready("web")
    first = serial(await world.secret("web-tls") or {})
    renewal = parse_rfc3339(certificate["status"]["renewalTime"])
    not_after = parse_rfc3339(certificate["status"]["notAfter"])
    assert not_after - timedelta(hours=1, seconds=108) <= renewal <= not_after - timedelta(hours=1)
    await world.quiesce()

    await world.clock.advance_to(renewal - timedelta(seconds=1))
    await world.quiesce()
    assert len(world.issuer.signed) == 1  # not a second early

    await world.clock.run_for(1)
    await world.wait_ready("web", revision=2)
    assert serial(await world.secret("web-tls") or {}) != first
    await eventually(  # readiness moves renewalTime to the new certificate's
        lambda: world.certificate("web"),
        lambda c: parse_rfc3339(c["status"]["renewalTime"]) > renewal,
    )
    await world.quiesce()
    assert revisions(await world.requests()) == ["2"]
    assert seen and all(
        v.leaf is not None and v.key is not None and v.leaf.public_key == v.key.public_key
        for v in seen
    )


async def test_overdue_renewals_after_downtime_are_paced(world: World) -> None:
    names = ("a", "b", "c")
    for name in names:
        await world.create_certificate(name, duration="3h", renewBefore="1h")
    for name in names:
        await world.wait_ready(name)
    await world.stop()
    world.clock.advance(timedelta(hours=2, minutes=30).total_seconds())  # all overdue
    world.settings = dataclasses.replace(
        world.settings, renewal_rate_qps=1 / 60, renewal_rate_burst=1
    )
    await world.start()

    async def renewed() -> list[str]:
        found = []
        for name in names:
            if (await world.certificate(name))["status"].get("revision") == 2:
                found.append(name)
        return found

    assert len(await eventually(renewed, lambda r: len(r) == 1)) == 1
    await world.quiesce()
    assert len(await renewed()) == 1  # the others wait for their turn
    await world.clock.run_for(60)
    await eventually(renewed, lambda r: len(r) == 2)
    await world.clock.run_for(60)
    await eventually(renewed, lambda r: len(r) == 3)


async def test_renewal_policy_disabled_never_renews_and_says_expired(world: World) -> None:
    """cert-manager v1.21's spec.renewal.policy: Disabled: issued once, no renewalTime, not
    renewed at two thirds nor once expired; Ready turns False (Expired) at expiry."""
    await world.create_certificate("web", duration="3h", renewal={"policy": "Disabled"})
    certificate = await world.wait_ready("web")
    assert "renewalTime" not in certificate["status"]
    not_after = parse_rfc3339(certificate["status"]["notAfter"])
    await world.quiesce()

    await world.clock.advance_to(not_after + timedelta(seconds=2))
    await world.wait_condition("web", "Ready", "False")
    await world.quiesce()
    certificate = await world.certificate("web")
    assert condition(certificate, "Ready")["reason"] == "Expired"
    assert len(world.issuer.signed) == 1
    assert revisions(await world.requests()) == ["1"]


async def test_renewal_windows_move_the_renewal_into_a_window(world: World) -> None:
    """cert-manager v1.21's spec.renewal.windows: renewal waits for the next window (here
    opening at minute 15 of every hour for a minute) after the renewBefore time."""
    await world.create_certificate(
        "web",
        duration="3h",
        renewBefore="1h",
        renewal={
            "policy": "RenewBefore",
            "windows": [{"cron": "15 * * * *", "windowDuration": "1m"}],
        },
    )
    certificate = await world.wait_ready("web")
    renewal = parse_rfc3339(certificate["status"]["renewalTime"])
    desired = parse_rfc3339(certificate["status"]["notAfter"]) - timedelta(hours=1)
    assert (renewal.minute, renewal.second) == (15, 0)
    assert timedelta(0) <= renewal - desired < timedelta(hours=1)
    assert condition(certificate, "FieldsNotActedOn") == {}
    await world.quiesce()

    await world.clock.advance_to(renewal - timedelta(seconds=1))
    await world.quiesce()
    assert len(world.issuer.signed) == 1
    await world.clock.run_for(1)
    await world.wait_ready("web", revision=2)
