"""The reliability suite's view of a cluster: two `certmgr run` replicas under deploy/'s
RBAC against the simulator, the data plane and Pebble, and the figures the suite asserts
and prints (issue 14): ACME orders per revision, failed orders, API and ACME requests
per minute, leftovers.

Everything is observed from outside, as an operator would: the simulator's store and
request accounting, Pebble's log, the controllers' logs. Real time is unavoidable here
(real processes, a real CA); every wait is a bounded poll on a condition.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from certmgr.testing.localenv import (
    CONTROLLER_USER,
    ControllerProcess,
    LocalEnvironment,
    pointed_at,
)

NAMESPACE = "default"
ISSUER = "pebble"
DEADLINE = 180.0
LEASE = ("coordination.k8s.io/v1", "Lease", "certmgr-controller", "certmgr")
FAST_ELECTION = (
    "--leader-election-lease-duration=4",
    "--leader-election-renew-deadline=3",
    "--leader-election-retry-period=0.5",
)
_IDENTITY = re.compile(r'"identity": "([^"]+)", "event": "leader_election_started"')


@dataclass
class Figures:
    """What one scenario measured; printed as one line and asserted on."""

    scenario: str
    values: dict[str, float] = field(default_factory=dict)

    def __setitem__(self, key: str, value: float) -> None:
        self.values[key] = value

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def print(self) -> None:
        shown = " ".join(f"{k}={v:g}" for k, v in self.values.items())
        print(f"\nRELIABILITY {self.scenario} {shown}")


@dataclass
class Cluster:
    env: LocalEnvironment
    started: float = field(default_factory=time.monotonic)
    pebble_offset: int = 0
    replica_restarts: int = 0

    def __post_init__(self) -> None:
        self.pebble_offset = len(self._pebble_lines(0))

    # -- setting up ----------------------------------------------------------------

    def issuer(self, *, ingress_class: str = "nginx", name: str = ISSUER) -> None:
        issuer = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "acme": {
                    "server": "https://acme.invalid/directory",
                    "privateKeySecretRef": {"name": f"{name}-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
                }
            },
        }
        self.env.apply([pointed_at(issuer, self.env.pebble)])

    def certificates(
        self, names: list[str], *, issuer: str = ISSUER, secret: str | None = None
    ) -> None:
        self.env.apply(
            [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "Certificate",
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {
                        "secretName": secret or f"{name}-tls",
                        "issuerRef": {"name": issuer, "kind": "Issuer"},
                        "dnsNames": [f"{name}.example.com"],
                        "privateKey": {"algorithm": "ECDSA"},
                    },
                }
                for name in names
            ]
        )

    def replicas(self, count: int = 2, *extra: str) -> list[ControllerProcess]:
        for _ in range(count):
            self.env.start_controller(*FAST_ELECTION, *extra)
        return self.env.controllers

    # -- observing -------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        return self.env.simulator.get(api_version, kind, name, NAMESPACE)

    def listed(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        return [
            o
            for o in self.env.list(api_version, kind)
            if o["metadata"].get("namespace") in (NAMESPACE, None, "")
        ]

    def certificate(self, name: str) -> dict[str, Any] | None:
        return self.get("cert-manager.io/v1", "Certificate", name)

    def ready(self, name: str) -> bool:
        return condition(self.certificate(name), "Ready").get("status") == "True"

    def revisions(self) -> int:
        return sum(
            int((c.get("status") or {}).get("revision") or 0)
            for c in self.listed("cert-manager.io/v1", "Certificate")
        )

    def acme_new_orders(self) -> int:
        # Orders the CA created (a new-order POST refused for a bad nonce is not one).
        return sum(line.split(" ", 3)[-1].startswith("Added order") for line in self._pebble())

    def acme_requests(self) -> int:
        return sum("-> calling handler()" in line for line in self._pebble())

    def api_requests(self) -> int:
        return self.env.simulator.requests.count(user=CONTROLLER_USER)

    def failed_orders(self) -> int:
        """Orders that ended invalid or errored (each a failed issuance at the CA)."""
        return sum(
            (o.get("status") or {}).get("state") in ("invalid", "errored")
            for o in self.listed("acme.cert-manager.io/v1", "Order")
        ) + sum(
            1
            for e in self.listed("v1", "Event")
            if e.get("type") == "Warning"
            and e.get("reason") == "Failed"
            and (e.get("involvedObject") or {}).get("kind") == "Order"
        )

    def leftovers(self) -> dict[str, int]:
        """What must be gone once everything is issued."""
        solver_ingresses = [
            i
            for i in self.listed("networking.k8s.io/v1", "Ingress")
            if (i["metadata"].get("labels") or {}).get("acme.cert-manager.io/http01-solver")
        ]
        next_keys = [
            s
            for s in self.listed("v1", "Secret")
            if (s["metadata"].get("labels") or {}).get("cert-manager.io/next-private-key") == "true"
        ]
        pods = [
            p
            for p in self.listed("v1", "Pod")
            if (p["metadata"].get("labels") or {}).get("acme.cert-manager.io/http01-solver")
        ]
        return {
            "challenges": len(self.listed("acme.cert-manager.io/v1", "Challenge")),
            "solver_ingresses": len(solver_ingresses),
            "solver_pods": len(pods),
            "next_private_keys": len(next_keys),
        }

    def leader(self) -> ControllerProcess:
        holder = ((self.env.simulator.get(*LEASE) or {}).get("spec") or {}).get("holderIdentity")
        for process in self.env.controllers:
            found = _IDENTITY.search(process.log_path.read_text(errors="replace"))
            if process.running and found and found.group(1) == holder:
                return process
        raise AssertionError(f"no running replica holds the lease ({holder!r})")

    def every_replica_synced(self) -> bool:
        """Every running replica has its caches synced (ready, as a Deployment's rollout
        waits for), so each publishes its solver endpoint as soon as a Service exists."""
        return all(
            '"event": "caches_synced"' in process.log_path.read_text(errors="replace")
            for process in self.env.controllers
            if process.running
        )

    def holder(self) -> str:
        return str(
            ((self.env.simulator.get(*LEASE) or {}).get("spec") or {}).get("holderIdentity") or ""
        )

    async def until(
        self,
        probe: Callable[[], Any],
        what: str,
        within: float = DEADLINE,
        *,
        why: Callable[[], str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.restart_exited()
            value = probe()
            if value:
                return value
            await asyncio.sleep(0.2)
        said = why() if why is not None else ""
        pytest.fail(f"{what} not reached within {within} s\n{said}\n{self.env.controller_logs()}")

    def restart_exited(self) -> None:
        """What the kubelet does for a Deployment's Pod: a replica that exited on its own
        (certmgr exits when it loses its lease, as cert-manager does) is started again."""
        for process in self.env.controllers:
            if process.process is not None and process.process.poll() is not None:
                self.replica_restarts += 1
                process.start()

    def _pebble(self) -> list[str]:
        return self._pebble_lines(self.pebble_offset)

    def _pebble_lines(self, offset: int) -> list[str]:
        text = self.env.pebble.log_path.read_text(errors="replace")
        return text.splitlines()[offset:]


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return dict(c)
    return {}
