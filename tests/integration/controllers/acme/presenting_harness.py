"""What the Challenge controller's presenting tests share: the namespace, a Challenge
manifest for a given solver, an Events double that records what was emitted, and the
Challenge controller running on fake time (:func:`running`). Must not speak to a CA
itself: each test brings the accounts it means."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from certmgr.controllers.acme import challenges as challenge_controller
from certmgr.controllers.context import Context, Settings
from certmgr.kube.client import KubeClient
from certmgr.kube.resources import CHALLENGES
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock
from certmgr.testing.dataplane.waiting import eventually

NS = "default"


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


def challenge(solver: dict[str, Any]) -> dict[str, Any]:
    """Challenge ``c1`` in :data:`NS` for www.example.com, token ``t1``, Issuer ``ca``."""
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "metadata": {"name": "c1", "namespace": NS},
        "spec": {
            "url": "https://ca/chall/t1",
            "authorizationURL": "https://ca/authz/t1",
            "dnsName": "www.example.com",
            "type": "HTTP-01",
            "token": "t1",
            "key": "t1.thumb",
            "solver": solver,
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
    }


@dataclass(frozen=True, slots=True)
class Running:
    kube: KubeClient
    manager: Manager
    clock: FakeClock
    events: Events

    async def status(self) -> dict[str, Any]:
        """Challenge ``c1``'s status."""
        challenge = await self.kube.get(CHALLENGES, "c1", namespace=NS)
        return challenge.get("status") or {}

    async def reason(self) -> dict[str, Any]:
        """Challenge ``c1``'s status, once it has a reason."""
        return await eventually(self.status, lambda s: bool(s.get("reason")))


@contextlib.asynccontextmanager
async def running(
    kube: KubeClient, *, settings: Settings, accounts: object
) -> AsyncIterator[Running]:
    """The Challenge controller alone under a Manager on a fake clock, synced."""
    clock = FakeClock()
    manager = Manager(kube, clock=clock)
    events = Events()
    ctx = Context(kube, manager, clock, events, None, settings)  # type: ignore[arg-type]
    challenge_controller.setup(ctx, accounts=accounts)  # type: ignore[arg-type]
    task = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(manager.wait_synced(), 10)
        yield Running(kube, manager, clock, events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
