"""No TSIG secret and no AWS secret access key reaches a log line, an Event or a
Challenge's status, at debug level, whether the provider succeeds or fails (the
SDKs' own debug logs included: they go through the process's log configuration)."""

from __future__ import annotations

import base64
import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from certmgr.controllers.context import Settings
from certmgr.dns01.providers import ProviderContext
from certmgr.dns01.registry import Selected, provider_for
from certmgr.runtime.cache import Cache
from certmgr.runtime.logging import configure_logging
from certmgr.testing.bind import BindServer
from certmgr.testing.clock import FakeClock
from certmgr.testing.route53 import REGION, Route53PeerProcess
from tests.integration.dns01.challenge_harness import (
    FakeKube,
    Harness,
    challenge,
    drive,
    harness,
    secret,
    txt_request,
)


@contextlib.contextmanager
def debug_log() -> Iterator[io.StringIO]:
    """The process's log configuration at debug level, written to a buffer (from the
    test's own set-up on, which is not what is checked)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = structlog.get_config()
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.configure(**saved)


def said(log: io.StringIO, *runs: Harness) -> str:
    """Everything written: the log, every Event's message, every Challenge's reason."""
    parts = [log.getvalue()]
    for run in runs:
        parts += [message for _, _, _, message in run.events.events]
        parts.append(str(run.status().get("reason") or ""))
    return "\n".join(parts)


def forms(secret_text: str) -> list[str]:
    """How a secret could show: as given, as the Secret's base64, as the decoded bytes."""
    found = [secret_text, base64.b64encode(secret_text.encode()).decode()]
    with contextlib.suppress(ValueError):
        found.append(repr(base64.b64decode(secret_text, validate=True))[2:-1])
    return found


async def present_and_clean_up(
    dns01: dict[str, Any], *, secrets: dict[str, dict[str, Any]], fqdn: str
) -> None:
    """The provider of a ``dns01`` block presents one value at ``fqdn`` (in example.test)
    until done, then cleans it up."""
    context = ProviderContext(client=FakeKube(Cache(), secrets), clock=FakeClock())  # type: ignore[arg-type]
    selected = provider_for(dns01, context)
    assert isinstance(selected, Selected)
    request = txt_request(fqdn, "v")
    for _ in range(60):
        if await selected.provider.present(request) is None:
            break
    else:
        raise AssertionError("present never finished")
    await selected.provider.clean_up(request)


async def test_a_tsig_secret_is_never_logged_nor_in_an_event(bind: BindServer) -> None:
    settings = Settings(
        dns01_recursive_nameservers=(bind.address,), dns01_recursive_nameservers_only=True
    )
    secrets = {"tsig": secret("tsig", secret=bind.key.secret)}
    config = bind.rfc2136_solver()
    other = "HMACSHA512" if bind.key.algorithm != "HMACSHA512" else "HMACSHA256"
    with debug_log() as log:
        runs = [
            # Signed with the key, refused by the zone's policy.
            harness(
                challenge("www.refused.test", {"rfc2136": config}),
                settings=settings,
                secrets=secrets,
            ),
            # The key signed with another algorithm: BIND rejects the signature.
            harness(
                challenge("badsig.example.test", {"rfc2136": {**config, "tsigAlgorithm": other}}),
                settings=settings,
                secrets=secrets,
            ),
        ]
        for run in runs:
            await drive(run, minutes=2)
            assert run.events.warnings()
        # And one that works: presented and cleaned up.
        await present_and_clean_up(
            {"rfc2136": config}, secrets=secrets, fqdn="_acme-challenge.logged.example.test."
        )

    text = said(log, *runs)
    assert "tsig" in text.lower()  # the log did record these calls
    for form in forms(bind.key.secret):
        assert form not in text


@pytest.mark.usefixtures("aws_at_route53_peer")
async def test_an_aws_secret_access_key_is_never_logged_nor_in_an_event(
    route53_peer: Route53PeerProcess,
) -> None:
    world = route53_peer.seed()
    host, port = route53_peer.dns_address
    settings = Settings(
        dns01_recursive_nameservers=(f"{host}:{port}",), dns01_recursive_nameservers_only=True
    )
    secrets = {
        "aws": secret(
            "aws",
            assumer=world.assumer.secret_access_key,
            admin=world.dns_admin.secret_access_key,
            wrong="not-the-secret-access-key",
        )
    }

    def route53(key_id: str, secret_key: str, **fields: Any) -> dict[str, Any]:
        return {
            "route53": {
                "region": REGION,
                "accessKeyID": key_id,
                "secretAccessKeySecretRef": {"name": "aws", "key": secret_key},
                **fields,
            }
        }

    with debug_log() as log:
        runs = [
            # A real key without Route 53 permissions: AccessDenied.
            harness(
                challenge("example.test", route53(world.assumer.access_key_id, "assumer")),
                settings=settings,
                secrets=secrets,
            ),
            # The wrong secret for a real key: SignatureDoesNotMatch.
            harness(
                challenge("example.test", route53(world.dns_admin.access_key_id, "wrong")),
                settings=settings,
                secrets=secrets,
            ),
        ]
        for run in runs:
            await drive(run, minutes=2)
            assert run.events.warnings()
        # And one that works through an assumed role (STS answers with a temporary secret
        # access key and a session token): presented and cleaned up.
        config = route53(world.assumer.access_key_id, "assumer", role=world.role_arn)
        await present_and_clean_up(config, secrets=secrets, fqdn="_acme-challenge.example.test.")
        assert ("AssumeRole", 200) in route53_peer.calls()

    text = said(log, *runs)
    assert "route53_change_submitted" in text  # the log did record these calls
    for key in (world.assumer, world.dns_admin):
        for form in forms(key.secret_access_key):
            assert form not in text
    # The assumed role's temporary credentials, whatever their values.
    assert "SecretAccessKey" not in text
    assert "x-amz-security-token" not in text.lower()
