"""``certmgr check api``'s pieces without a server: cmctl's reasons for the failures it
recognises, and the ``--wait`` loop on fake time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from certmgr.commands.check_api import (
    CRDS_NOT_FOUND,
    Outcome,
    probe,
    reason_for,
    wait_until_ready,
)
from certmgr.kube.errors import APIError, Forbidden, Invalid, NotFound, ServerError
from certmgr.kube.resources import Resource


def status(reason: str, message: str, code: int, **details: Any) -> dict[str, Any]:
    return {"kind": "Status", "reason": reason, "message": message, "code": code, **details}


WEBHOOK = (
    'Internal error occurred: failed calling webhook "webhook.cert-manager.io": '
    'Post "https://cert-manager-webhook.cert-manager.svc:443/mutate?timeout=10s": '
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(
            NotFound(status("NotFound", "the server could not find the requested resource", 404)),
            f"{CRDS_NOT_FOUND} (NotFound: the server could not find the requested resource)",
            id="crds-missing",
        ),
        pytest.param(
            ServerError(
                status("InternalError", WEBHOOK + 'service "cert-manager-webhook" not found', 500)
            ),
            "the cert-manager webhook service is not created yet (InternalError: ",
            id="webhook-service-missing",
        ),
        pytest.param(
            ServerError(
                status(
                    "InternalError",
                    WEBHOOK + "dial tcp 10.96.38.90:443: connect: connection refused",
                    500,
                )
            ),
            "the cert-manager webhook deployment is not ready yet (InternalError: ",
            id="webhook-not-running",
        ),
        pytest.param(
            ServerError(
                status(
                    "InternalError", WEBHOOK + "x509: certificate signed by unknown authority", 500
                )
            ),
            "the cert-manager webhook CA bundle is not injected yet (InternalError: ",
            id="webhook-ca-not-injected",
        ),
        pytest.param(
            Forbidden(status("Forbidden", "certificates.cert-manager.io is forbidden", 403)),
            "Forbidden: certificates.cert-manager.io is forbidden",
            id="rbac-as-the-server-says",
        ),
        pytest.param(
            Invalid(status("Invalid", "spec.issuerRef.kind: Unsupported value", 422)),
            "Invalid: spec.issuerRef.kind: Unsupported value",
            id="rejected-by-admission",
        ),
    ],
)
def test_reason_for(error: APIError, reason: str) -> None:
    assert reason_for(error).startswith(reason)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("ready_after", "wait", "interval", "ready", "checks"),
    [
        pytest.param(0, 0.0, 5.0, True, 1, id="ready-at-once"),
        pytest.param(None, 0.0, 5.0, False, 1, id="no-wait-checks-once"),
        pytest.param(3, 60.0, 5.0, True, 4, id="ready-while-waiting"),
        pytest.param(None, 12.0, 5.0, False, 4, id="gives-up-after-wait"),
    ],
)
def test_wait_until_ready(
    ready_after: int | None, wait: float, interval: float, ready: bool, checks: int
) -> None:
    fake = FakeTime()
    calls = 0

    async def check() -> Outcome:
        nonlocal calls
        calls += 1
        if ready_after is not None and calls > ready_after:
            return Outcome(ready=True)
        return Outcome(ready=False, reason=f"not yet ({calls})")

    outcome = asyncio.run(
        wait_until_ready(
            check, wait=wait, interval=interval, monotonic=fake.monotonic, sleep=fake.sleep
        )
    )
    assert (outcome.ready, calls) == (ready, checks)
    assert fake.sleeps == [interval] * (checks - 1)
    if not ready:
        assert outcome.reason == f"not yet ({checks})"  # the last reason


def test_probe_is_a_dry_run_certificate() -> None:
    seen: list[tuple[str, dict[str, Any], str | None, bool]] = []

    class Client:
        async def create(
            self,
            resource: Resource,
            obj: dict[str, Any],
            *,
            namespace: str | None = None,
            dry_run: bool = False,
        ) -> dict[str, Any]:
            seen.append((resource.kind, obj, namespace, dry_run))
            return obj

    assert asyncio.run(probe(Client(), namespace="ns")) == Outcome(ready=True)
    [(kind, obj, namespace, dry_run)] = seen
    assert (kind, namespace, dry_run) == ("Certificate", "ns", True)
    assert obj["metadata"] == {"generateName": "cmapichecker-"}
