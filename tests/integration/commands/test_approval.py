"""``certmgr approve`` / ``certmgr deny`` against the simulator, as cmctl's: the condition
written, the line printed, and the refusals (already decided, missing, bad usage)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Cluster


def request(name: str, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
    }
    if conditions is not None:
        obj["status"] = {"conditions": conditions}
    return obj


def decided(cluster: Cluster, name: str, type_: str) -> dict[str, Any] | None:
    stored = cluster.get(request(name))
    conditions = (stored.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


APPROVED = {"type": "Approved", "status": "True", "reason": "cert-manager.io", "message": "m"}


@pytest.mark.parametrize(
    ("command", "type_", "extra", "reason", "message", "printed"),
    [
        pytest.param(
            "approve",
            "Approved",
            [],
            "KubectlCertManager",
            'manually approved by "certmgr"',
            "Approved CertificateRequest 'default/cr'\n",
            id="approve-defaults",
        ),
        pytest.param(
            "deny",
            "Denied",
            ["--reason", "ManualDenial", "--message", "by the PKI team"],
            "ManualDenial",
            "by the PKI team",
            "Denied CertificateRequest 'default/cr'\n",
            id="deny-reason-message",
        ),
    ],
)
def test_a_decision_is_written(
    cluster: Cluster,
    command: str,
    type_: str,
    extra: list[str],
    reason: str,
    message: str,
    printed: str,
) -> None:
    cluster.create(request("cr"))
    result = cluster.cli(command, "cr", *extra)
    assert (result.code, result.out) == (0, printed)
    condition = decided(cluster, "cr", type_)
    assert condition is not None
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "True",
        reason,
        message,
    )


@pytest.mark.parametrize("command", ["approve", "deny"])
def test_a_decided_request_is_refused(cluster: Cluster, command: str) -> None:
    cluster.create(request("cr", [APPROVED]))
    result = cluster.cli(command, "cr")
    assert result.code == 1
    assert "CertificateRequest is already approved" in result.err
    assert decided(cluster, "cr", "Denied") is None


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        pytest.param(["approve"], 2, "the name of the CertificateRequest to approve", id="no-name"),
        pytest.param(["deny", "a", "b"], 2, "only one argument can be passed", id="two-names"),
        pytest.param(["deny", "cr", "--reason="], 2, "a reason must be given", id="empty-reason"),
        pytest.param(["approve", "missing"], 1, "not found", id="missing"),
    ],
)
def test_refusals(cluster: Cluster, args: list[str], code: int, said: str) -> None:
    result = cluster.cli(*args)
    assert result.code == code
    assert said in result.err
