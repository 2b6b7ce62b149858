"""A stuck issuance says why on the Certificate: the pending request's Ready message (what
the issuer waits on: an Order's state and its cause) reaches the Issuing condition and,
while not Ready, the Ready message that `kubectl get certificate -o wide` shows, in one
hop (issue 14 item 6). Healthy issuances write nothing extra."""

from __future__ import annotations

from certmgr.api.conditions import READY, Status, set_condition
from certmgr.kube import resources as r
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, condition

STUCK = (
    'Waiting on certificate issuance from order default/web-1-123: "pending": Failed to '
    "determine a valid solver configuration for the set of domains on the Order: no "
    'configured challenge solvers can be used for "*.example.com"'
)


async def say_pending(world: World, request_name: str, message: str) -> None:
    request = await world.kube.get(r.CERTIFICATEREQUESTS, request_name, namespace=world.namespace)
    status = request.setdefault("status", {})
    status["conditions"] = set_condition(
        status.get("conditions"),
        type_=READY,
        status=Status.FALSE,
        reason="Pending",
        message=message,
        observed_generation=None,
        now=world.clock.now(),
    )
    await world.kube.update_status(r.CERTIFICATEREQUESTS, request)


async def test_the_requests_waiting_cause_reaches_issuing_and_ready(world: World) -> None:
    world.issuer.held = True
    await world.create_certificate("web")
    (request,) = await eventually(world.requests, lambda found: len(found) == 1)
    name = request["metadata"]["name"]
    await eventually(
        lambda: world.kube.get(r.CERTIFICATEREQUESTS, name, namespace=world.namespace),
        lambda cr: condition(cr, "Approved").get("status") == "True",
    )
    await say_pending(world, name, STUCK)

    async def issuing_says() -> str:
        return str(condition(await world.certificate("web"), "Issuing").get("message"))

    expected = (
        "Issuing certificate as Secret does not exist. "
        f'Waiting on CertificateRequest "{name}": {STUCK}'
    )
    await eventually(issuing_says, lambda message: message == expected)
    certificate = await world.certificate("web")
    assert condition(certificate, "Issuing")["reason"] == "DoesNotExist"
    ready = condition(certificate, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "DoesNotExist",
        expected,
    )

    # The cause goes away: the Certificate says what it waits on now, then is issued.
    waiting = 'Waiting on certificate issuance from order default/web-1-123: "pending"'
    await say_pending(world, name, waiting)
    await eventually(issuing_says, lambda message: message.endswith(f'"{name}": {waiting}'))
    world.issuer.release()
    ready = await world.wait_ready("web")
    assert condition(ready, "Ready")["message"] == "Certificate is up to date and has not expired"
