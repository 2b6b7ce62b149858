"""What the Challenge controller's presenting tests share: the namespace, a Challenge
manifest for a given solver, and an Events double that records what was emitted. Must not
run a controller or speak to a CA itself."""

from __future__ import annotations

from typing import Any

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
