"""Controller: the reconcile contract (retry with backoff, terminal, conflict, requeue_after),
one worker per key, per-reconcile log context and graceful drain, all on a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from certmgr.kube.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    Unreachable,
)
from certmgr.runtime import turnstile
from certmgr.runtime.controller import Controller, Result, TerminalError
from certmgr.runtime.workqueue import ExponentialBackoff, WorkQueue
from certmgr.testing.clock import FakeClock, settle


@dataclass
class Script:
    """A reconciler that returns or raises what the test scripted, per call, and records when."""

    clock: FakeClock
    outcomes: list[Result | BaseException | None]
    calls: list[tuple[str, float]] = field(default_factory=list)
    context: list[dict[str, object]] = field(default_factory=list)

    async def __call__(self, key: str) -> Result | None:
        self.calls.append((key, self.clock.monotonic() - 1000.0))
        self.context.append(structlog.contextvars.get_contextvars())
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic_start=1000.0)


async def start(
    name: str, reconcile: Callable[[str], object], clock: FakeClock, **kwargs: object
) -> tuple[Controller[str], asyncio.Task[None]]:
    queue = WorkQueue[str](name, clock=clock, rate_limiter=ExponentialBackoff(base=1, cap=60))
    controller = Controller[str](name, reconcile, queue=queue, **kwargs)  # type: ignore[arg-type]
    task = asyncio.create_task(controller.run())
    await settle()
    return controller, task


@pytest.fixture
async def cleanup() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def errors_total(name: str) -> float:
    return (
        REGISTRY.get_sample_value("certmgr_controller_reconcile_errors_total", {"controller": name})
        or 0.0
    )


def outcomes_total(name: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "certmgr_controller_reconcile_total", {"controller": name, "result": result}
        )
        or 0.0
    )


async def test_errors_are_retried_with_exponential_backoff_then_forgotten(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    boom = RuntimeError("boom")
    script = Script(clock, [boom, boom, boom, None])
    controller, task = await start("retry", script, clock)
    cleanup.append(task)
    with capture_logs() as logs:
        controller.queue.add("ns/a")
        await clock.run_for(100)
    assert script.calls == [("ns/a", 0), ("ns/a", 1), ("ns/a", 3), ("ns/a", 7)]
    assert controller.queue.num_requeues("ns/a") == 0, "success forgets the failures"
    assert errors_total("retry") == 3
    failed = [entry for entry in logs if entry["event"] == "reconcile_failed"]
    assert [entry["retries"] for entry in failed] == [1, 2, 3]
    assert all(entry["log_level"] == "error" and "boom" in entry["error"] for entry in failed)


async def test_terminal_error_is_recorded_and_not_retried(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    script = Script(clock, [RuntimeError("transient"), TerminalError("spec.dnsNames is empty")])
    controller, task = await start("terminal", script, clock)
    cleanup.append(task)
    with capture_logs() as logs:
        controller.queue.add("ns/a")
        await clock.run_for(1000)
    assert len(script.calls) == 2
    assert controller.queue.num_requeues("ns/a") == 0
    assert outcomes_total("terminal", "terminal_error") == 1
    assert errors_total("terminal") == 1, "only the transient error counts"
    assert any(e["event"] == "reconcile_terminal_error" and "dnsNames" in e["error"] for e in logs)


@pytest.mark.parametrize(
    ("error", "is_conflict"),
    [
        pytest.param(
            Conflict({"kind": "Status", "reason": "Conflict", "code": 409}),
            None,
            id="kube-conflict",
        ),
        pytest.param(KeyError("stale"), lambda e: isinstance(e, KeyError), id="custom-predicate"),
    ],
)
async def test_conflict_requeues_quietly(
    clock: FakeClock,
    cleanup: list[asyncio.Task[None]],
    error: Exception,
    is_conflict: Callable[[BaseException], bool] | None,
) -> None:
    name = f"conflict-{type(error).__name__}"
    script = Script(clock, [error, None])
    extra = {"is_conflict": is_conflict} if is_conflict else {}
    controller, task = await start(name, script, clock, **extra)
    cleanup.append(task)
    with capture_logs() as logs:
        controller.queue.add("ns/a")
        await clock.run_for(10)
    assert [t for _, t in script.calls] == [0, 1], "retried after the backoff"
    assert errors_total(name) == 0
    assert outcomes_total(name, "conflict") == 1
    levels = {e["log_level"] for e in logs if e["event"].startswith("reconcile")}
    assert levels == {"debug"}


async def test_cert_manager_sync_counters_count_every_reconcile_and_each_failure(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    conflict = Conflict({"kind": "Status", "reason": "Conflict", "code": 409})
    script = Script(
        clock, [RuntimeError("boom"), conflict, Result(requeue_after=5), TerminalError("bad")]
    )
    controller, task = await start("sync-counts", script, clock)
    cleanup.append(task)
    controller.queue.add("ns/a")
    await clock.run_for(100)
    assert len(script.calls) == 4
    labels = {"controller": "sync-counts"}
    # cert-manager's exact names: no _total suffix.
    assert REGISTRY.get_sample_value("certmanager_controller_sync_call_count", labels) == 4
    assert REGISTRY.get_sample_value("certmanager_controller_sync_error_count", labels) == 3, (
        "error, conflict and terminal error count; the requeue_after does not"
    )
    assert REGISTRY.get_sample_value("certmanager_controller_sync_call_count_total", labels) is None


async def test_requeue_after_reconciles_again_at_that_time(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    script = Script(clock, [Result(requeue_after=30), Result(), None])
    controller, task = await start("requeue", script, clock)
    cleanup.append(task)
    controller.queue.add("ns/a")
    await clock.run_for(29)
    assert len(script.calls) == 1
    await clock.run_for(500)
    assert [t for _, t in script.calls] == [0, 30]


async def test_one_key_is_never_reconciled_by_two_workers(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    release = asyncio.Event()
    running: dict[str, int] = {}
    overlaps: list[str] = []
    calls: list[str] = []

    async def slow(key: str) -> None:
        running[key] = running.get(key, 0) + 1
        if running[key] > 1:
            overlaps.append(key)
        calls.append(key)
        await release.wait()
        running[key] -= 1

    controller, task = await start("exclusive", slow, clock, workers=4)
    cleanup.append(task)
    controller.queue.add("a")
    controller.queue.add("b")
    await settle()
    controller.queue.add("a")  # while "a" is being reconciled
    await settle()
    assert sorted(calls) == ["a", "b"] and controller.busy == 2
    release.set()
    await settle()
    await controller.wait_idle()
    assert sorted(calls) == ["a", "a", "b"]
    assert overlaps == []


async def test_each_reconcile_has_its_own_log_context(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    script = Script(clock, [])
    controller, task = await start("context", script, clock)
    cleanup.append(task)
    controller.queue.add("ns/a")
    controller.queue.add("ns/b")
    await settle()
    assert [(c["controller"], c["key"]) for c in script.context] == [
        ("context", "ns/a"),
        ("context", "ns/b"),
    ]
    ids = [c["reconcile_id"] for c in script.context]
    assert len(set(ids)) == 2
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids), "12 hex digits, as before"
    assert structlog.contextvars.get_contextvars() == {}, "context does not leak"


async def test_cancel_drains_in_flight_reconciles(clock: FakeClock) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(key: str) -> None:
        await release.wait()
        finished.append(key)

    controller, task = await start("drain", slow, clock, workers=2)
    controller.queue.add("a")
    controller.queue.add("b")
    controller.queue.add("queued-not-started")
    await settle()
    task.cancel()
    await settle()
    assert not task.done(), "run waits for the reconciles in flight"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert sorted(finished) == ["a", "b"]


async def test_drain_gives_up_after_its_deadline(clock: FakeClock) -> None:
    cancelled: list[str] = []

    async def stuck(key: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    controller, task = await start("drain-timeout", stuck, clock, drain_seconds=5)
    controller.queue.add("a")
    await settle()
    task.cancel()
    await clock.run_for(4)
    assert not task.done()
    await clock.run_for(1)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert cancelled == ["a"]


async def test_run_returns_when_the_queue_shuts_down(clock: FakeClock) -> None:
    controller, task = await start("shutdown", Script(clock, []), clock, workers=3)
    controller.queue.shutdown()
    await asyncio.wait_for(task, 5)


async def test_reconcile_context_is_restored_afterwards(clock: FakeClock) -> None:
    script = Script(clock, [None, RuntimeError("boom")])
    queue = WorkQueue[str]("restore", clock=clock)
    controller = Controller[str]("restore", script, queue=queue)
    tokens = structlog.contextvars.bind_contextvars(controller="outer", tenant="t")
    try:
        await controller._process("ns/a")
        await controller._process("ns/b")
        assert [(c["controller"], c["key"], c["tenant"]) for c in script.context] == [
            ("restore", "ns/a", "t"),
            ("restore", "ns/b", "t"),
        ]
        assert structlog.contextvars.get_contextvars() == {"controller": "outer", "tenant": "t"}
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    assert structlog.contextvars.get_contextvars() == {}


async def test_workers_yield_the_loop_between_keys(clock: FakeClock, cleanup: list) -> None:
    # Reconciles that await nothing (an up-to-date object) must still let other tasks
    # run between keys, or a start-up pass over 10k objects holds the loop for seconds.
    order: list[str] = []

    async def reconcile(key: str) -> None:
        order.append(key)

    controller, task = await start("yield-test", reconcile, clock)
    cleanup.append(task)

    async def bystander() -> None:
        order.append("bystander")

    for i in range(50):
        controller.queue.add(f"k{i:02d}")
    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(bystander()))
    await controller.wait_idle()
    await settle()
    assert len(order) == 51
    # The bystander ran long before the queue ran dry.
    assert order.index("bystander") < 10


async def test_reconciles_that_await_nothing_start_a_turns_share_per_turn(
    clock: FakeClock, cleanup: list
) -> None:
    # The turnstile alone bounds a turn of the loop: workers whose reconciles await
    # nothing start no more than its share of them before the loop looks at timers and
    # I/O again, whatever the number of workers and controllers.
    done: list[str] = []

    async def reconcile(key: str) -> None:
        done.append(key)

    controllers = []
    for name in ("turns-a", "turns-b"):
        controller, task = await start(name, reconcile, clock, workers=4)
        cleanup.append(task)
        controllers.append(controller)
    for controller in controllers:
        for i in range(60):
            controller.queue.add(f"k{i:02d}")
    per_turn: list[int] = []
    while len(done) < 120:
        before = len(done)
        await asyncio.sleep(0)  # one turn of the loop
        per_turn.append(len(done) - before)
    assert max(per_turn) <= turnstile.PER_TURN
    assert sorted(done) == sorted([f"k{i:02d}" for i in range(60)] * 2)


def _status(code: int, reason: str, **extra: object) -> dict[str, object]:
    return {"kind": "Status", "code": code, "reason": reason, "message": reason} | extra


@pytest.mark.parametrize(
    ("error", "level"),
    [
        pytest.param(ServerError(_status(500, "InternalError")), "warning", id="5xx"),
        pytest.param(ServerError(_status(503, "ServiceUnavailable")), "warning", id="503"),
        pytest.param(TooManyRequests(_status(429, "TooManyRequests")), "warning", id="429"),
        pytest.param(Unreachable("connection refused"), "warning", id="unreachable"),
        pytest.param(NotFound(_status(404, "NotFound")), "info", id="gone-after-ns-delete"),
        pytest.param(
            Forbidden(
                _status(
                    403,
                    "Forbidden",
                    details={"causes": [{"reason": "NamespaceTerminating"}]},
                )
            ),
            "info",
            id="namespace-terminating",
        ),
        pytest.param(
            Invalid(
                _status(
                    422,
                    "Invalid",
                    message='CertificateRequest.cert-manager.io "web-1" is invalid: '
                    "status.conditions: Invalid value: \"array\": 'Approved' and 'Denied' "
                    "conditions may not be modified or removed once set",
                )
            ),
            "info",
            id="approved-condition-race",
        ),
    ],
)
async def test_expected_api_failures_are_retried_without_a_traceback(
    clock: FakeClock, cleanup: list[asyncio.Task[None]], error: Exception, level: str
) -> None:
    name = f"expected-{level}-{type(error).__name__}-{error}"
    script = Script(clock, [error, None])
    controller, task = await start(name, script, clock)
    cleanup.append(task)
    with capture_logs() as logs:
        controller.queue.add("ns/a")
        await clock.run_for(10)
    assert len(script.calls) == 2, "retried after the backoff"
    assert errors_total(name) == 1
    retried = [e for e in logs if e["event"].startswith("reconcile")]
    assert [(e["event"], e["log_level"]) for e in retried] == [("reconcile_retrying", level)]
    assert all("exc_info" not in e for e in logs)


async def test_a_bug_keeps_its_traceback(
    clock: FakeClock, cleanup: list[asyncio.Task[None]]
) -> None:
    forbidden = Forbidden(_status(403, "Forbidden"))  # RBAC missing a grant: a real problem
    script = Script(clock, [forbidden, None])
    controller, task = await start("bug-traceback", script, clock)
    cleanup.append(task)
    with capture_logs() as logs:
        controller.queue.add("ns/a")
        await clock.run_for(10)
    failed = [e for e in logs if e["event"] == "reconcile_failed"]
    assert len(failed) == 1 and failed[0]["log_level"] == "error"
    assert failed[0]["exc_info"] is forbidden
