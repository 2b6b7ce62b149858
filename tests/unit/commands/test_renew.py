"""``certmgr renew`` without a server: argument rules, and the trigger's conflict handling
against an in-memory fake whose status writes can be made to conflict."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from certmgr import cli
from certmgr.commands.renew import MAX_ATTEMPTS, Outcome, Selection, renew, trigger
from certmgr.kube.errors import Conflict, Forbidden, NotFound
from certmgr.kube.objects import ObjectList
from certmgr.kube.resources import Resource

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CONFLICT = {"kind": "Status", "code": 409, "reason": "Conflict", "message": "modified"}


def cert(name: str, *, generation: int | None = 1, conditions: list[Any] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "resourceVersion": "1"}
    if generation is not None:
        meta["generation"] = generation
    return {"metadata": meta, "status": {"conditions": conditions or []}}


@dataclass
class FakeCertificates:
    """Certificates by name; ``conflicts`` status writes fail first, and ``on_conflict``
    (if set) changes the stored object as the writer who won the race would."""

    stored: dict[str, dict[str, Any]]
    conflicts: int = 0
    on_conflict: Any = None
    forbidden: set[str] = field(default_factory=set)
    writes: int = 0

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> dict:
        if name not in self.stored:
            raise NotFound({"kind": "Status", "code": 404, "reason": "NotFound", "message": name})
        return self.stored[name]

    async def list(
        self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None
    ) -> ObjectList:
        return ObjectList(items=list(self.stored.values()), resource_version="1")

    async def update_status(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        self.writes += 1
        name = obj["metadata"]["name"]
        if name in self.forbidden:
            raise Forbidden({"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"})
        if self.conflicts:
            self.conflicts -= 1
            if self.on_conflict is not None:
                self.stored[name] = self.on_conflict(self.stored[name])
            raise Conflict(CONFLICT)
        self.stored[name] = obj
        return obj


def issuing_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in obj["status"]["conditions"] if c["type"] == "Issuing"), None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["a", "--all"], "names in conjunction with --all flag", id="name-and-all"),
        pytest.param(
            ["a", "-l", "x=y"], "names in conjunction with label selectors", id="name-sel"
        ),
        pytest.param(
            ["--all", "-l", "x=y"], "label selectors in conjunction with --all", id="all-sel"
        ),
        pytest.param(["-A", "a"], "cannot be retrieved by name across all namespaces", id="name-A"),
        pytest.param([], "please either supply one or more Certificate", id="nothing"),
        pytest.param(["-A"], "please either supply one or more Certificate", id="only-A"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Checked before any connection: no kubeconfig is needed to be told off.
    code = cli.main(["renew", *args, "--kubeconfig", "/nonexistent"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("certmgr: error: ") and message in err
    assert err.count("\n") == 1


def test_bad_kubeconfig_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["renew", "a", "--kubeconfig", "/nonexistent/kubeconfig"])

    assert code == 2
    assert capsys.readouterr().err == (
        "certmgr: error: kubeconfig /nonexistent/kubeconfig does not exist\n"
    )


async def test_trigger_sets_the_condition() -> None:
    fake = FakeCertificates({"a": cert("a", generation=3)})

    outcome = await trigger(fake, fake.stored["a"], now=lambda: NOW)

    assert outcome is Outcome.TRIGGERED
    assert issuing_of(fake.stored["a"]) == {
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": "2026-03-01T12:00:00Z",
        "observedGeneration": 3,
    }


async def test_trigger_without_generation_omits_observed_generation() -> None:
    fake = FakeCertificates({"a": cert("a", generation=None)})

    await trigger(fake, fake.stored["a"], now=lambda: NOW)

    condition = issuing_of(fake.stored["a"])
    assert condition is not None and "observedGeneration" not in condition


@pytest.mark.parametrize(
    ("conflicts", "outcome", "writes"),
    [
        pytest.param(0, Outcome.TRIGGERED, 1, id="no-conflict"),
        pytest.param(1, Outcome.TRIGGERED, 2, id="one-conflict"),
        pytest.param(MAX_ATTEMPTS - 1, Outcome.TRIGGERED, MAX_ATTEMPTS, id="just-enough"),
    ],
)
async def test_trigger_retries_conflicts(conflicts: int, outcome: Outcome, writes: int) -> None:
    fake = FakeCertificates({"a": cert("a")}, conflicts=conflicts)

    assert await trigger(fake, fake.stored["a"], now=lambda: NOW) is outcome

    assert fake.writes == writes
    assert issuing_of(fake.stored["a"]) is not None


async def test_trigger_gives_up_after_max_attempts() -> None:
    fake = FakeCertificates({"a": cert("a")}, conflicts=MAX_ATTEMPTS)

    with pytest.raises(Conflict):
        await trigger(fake, fake.stored["a"], now=lambda: NOW)

    assert fake.writes == MAX_ATTEMPTS
    assert issuing_of(fake.stored["a"]) is None


async def test_conflict_with_a_writer_who_started_issuance_skips() -> None:
    # The trigger controller won the race and set Issuing itself: re-read, don't overwrite.
    def controller_triggers(obj: dict[str, Any]) -> dict[str, Any]:
        renewing = {"type": "Issuing", "status": "True", "reason": "Renewing", "message": "m"}
        return {**obj, "status": {"conditions": [renewing]}}

    fake = FakeCertificates({"a": cert("a")}, conflicts=1, on_conflict=controller_triggers)

    outcome = await trigger(fake, fake.stored["a"], now=lambda: NOW)

    assert outcome is Outcome.ALREADY_ISSUING
    condition = issuing_of(fake.stored["a"])
    assert condition is not None and condition["reason"] == "Renewing"


async def test_an_api_error_on_one_certificate_does_not_stop_the_others() -> None:
    fake = FakeCertificates({"a": cert("a"), "b": cert("b"), "c": cert("c")}, forbidden={"b"})
    out, err = io.StringIO(), io.StringIO()

    code = await renew(fake, Selection(every=True), now=lambda: NOW, out=out, err=err)

    assert code == 1
    assert out.getvalue().splitlines() == [
        "Manually triggered issuance of Certificate default/a",
        "Manually triggered issuance of Certificate default/c",
    ]
    assert err.getvalue() == (
        "certmgr: error: failed to trigger issuance of Certificate default/b: Forbidden: no\n"
    )
