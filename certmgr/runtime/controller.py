"""The reconcile loop: N workers pull keys from a ``WorkQueue`` and call ``reconcile(key)``.

Owns the reconcile contract (controller-runtime's): ``reconcile(key) -> Result | None``.
- success: the key's backoff is forgotten; ``Result(requeue_after=s)`` adds it again in
  ``s`` seconds (expected waits, renewal times);
- ``TerminalError``: logged and forgotten, not retried (the reconciler records the cause on
  the resource itself);
- a Kubernetes ``Conflict`` (stale resourceVersion): retried with backoff, logged at debug,
  not counted as an error, because a fresher cache resolves it;
- an expected API failure (``expected_failure``: 5xx, 429, the server unreachable, an
  object or namespace gone, a namespace terminating): retried with backoff and counted,
  logged at warning (info for gone) in one line without a traceback;
- any other exception, a bug: retried with per-key exponential backoff, logged at error
  with its traceback and counted in ``certmgr_controller_reconcile_errors_total``.
Every reconcile also counts in cert-manager's ``certmanager_controller_sync_call_count``,
and every one that did not succeed (error, conflict, terminal error) in
``certmanager_controller_sync_error_count``.
Every reconcile runs with structlog context ``controller``, ``key`` and ``reconcile_id``.

It must not know what a key means or read any cache: that is the reconciler's business.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import random
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from structlog.typing import FilteringBoundLogger

from certmgr.runtime import metrics, turnstile
from certmgr.runtime.workqueue import ShutDown, WorkQueue

K = TypeVar("K", bound=Hashable)

DEFAULT_DRAIN_SECONDS = 30.0
# Reconcile ids only correlate log lines: a seeded PRNG is enough, and unlike
# ``secrets.token_hex`` it costs no system call per reconcile.
_reconcile_ids = random.Random()
# Values of the ``result`` label of certmgr_controller_reconcile_total.
OUTCOMES = ("success", "requeue_after", "error", "conflict", "terminal_error", "cancelled")
# The outcomes cert-manager would count as a sync error (its sync() returned an error).
SYNC_ERROR_OUTCOMES = frozenset({"error", "conflict", "terminal_error"})


@dataclass(frozen=True, slots=True)
class Result:
    """What a successful reconcile asks for next: nothing, or another look in N seconds."""

    requeue_after: float | None = None


class TerminalError(Exception):
    """The reconcile cannot succeed by retrying (invalid input); recorded, not retried."""


Reconciler = Callable[[K], Awaitable[Result | None]]


def is_kube_conflict(error: BaseException) -> bool:
    """True for ``certmgr.kube.errors.Conflict`` (an update with a stale resourceVersion)."""
    # Imported here so the runtime's own tests never depend on the kube package loading.
    from certmgr.kube.errors import Conflict

    return isinstance(error, Conflict)


def expected_failure(error: BaseException) -> str | None:
    """The log level for an API failure that retrying resolves and no bug causes (None:
    anything else, which is logged with its traceback).

    Warning: the server failed or shed load (5xx, 429, unreachable). Info: what the call
    was about is gone, or going (NotFound; 403 NamespaceTerminating after a namespace
    deletion), or a status merge patch from a stale cache left out a condition a CRD rule
    keeps once set (the 422 a CertificateRequest's Approved condition gets when the
    approver wrote it first): the next watch event ends it, like a Conflict. Warning too:
    a write to the CA withheld because the Lease was lost (the process is stepping down).
    """
    from certmgr.acme.errors import AcmeWriteWithheld
    from certmgr.kube.errors import (
        Forbidden,
        Invalid,
        NotFound,
        ServerError,
        TooManyRequests,
        Unreachable,
    )

    if isinstance(error, ServerError | TooManyRequests | Unreachable | AcmeWriteWithheld):
        return "warning"
    if isinstance(error, NotFound):
        return "info"
    if isinstance(error, Invalid) and _IMMUTABLE_CONDITION in str(error):
        return "info"
    if isinstance(error, Forbidden) and _namespace_terminating(error):
        return "info"
    return None


# The message of the CertificateRequest CRD's rule on Approved and Denied (cert-manager's).
_IMMUTABLE_CONDITION = "conditions may not be modified or removed once set"


def _namespace_terminating(error: BaseException) -> bool:
    causes = getattr(error, "details", {}).get("causes") or ()
    reasons = {c.get("reason") for c in causes if isinstance(c, dict)}
    return "NamespaceTerminating" in reasons or "is being terminated" in str(error)


_LogVar = contextvars.ContextVar[Any]


@functools.cache
def _log_context_vars() -> tuple[_LogVar, _LogVar, _LogVar]:
    """The context variables structlog keeps ``controller``, ``key`` and ``reconcile_id``
    in (``merge_contextvars`` and ``get_contextvars`` read them): created by binding the
    names once in a throwaway copy of the context."""
    tokens = contextvars.copy_context().run(
        structlog.contextvars.bind_contextvars, controller=None, key=None, reconcile_id=None
    )
    return tokens["controller"].var, tokens["key"].var, tokens["reconcile_id"].var


class Controller(Generic[K]):
    """Runs ``reconcile`` for every key of ``queue`` with ``workers`` concurrent workers."""

    def __init__(
        self,
        name: str,
        reconcile: Reconciler[K],
        *,
        queue: WorkQueue[K],
        workers: int = 1,
        log: FilteringBoundLogger | None = None,
        is_conflict: Callable[[BaseException], bool] = is_kube_conflict,
        drain_seconds: float = DEFAULT_DRAIN_SECONDS,
    ):
        if workers < 1:
            raise ValueError("a controller needs at least one worker")
        self.name = name
        self.queue = queue
        self._reconcile = reconcile
        self._workers = workers
        self._log = log if log is not None else structlog.get_logger("certmgr.controller")
        self._is_conflict = is_conflict
        self._drain_seconds = drain_seconds
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Read when scraped rather than set twice a reconcile.
        this = weakref.ref(self)
        metrics.ACTIVE_WORKERS.labels(controller=name).set_function(
            lambda: controller._active if (controller := this()) is not None else 0
        )
        self._errors = metrics.RECONCILE_ERRORS.labels(controller=name)
        self._sync_calls = metrics.SYNC_CALLS.labels(name)
        self._time = metrics.RECONCILE_TIME.labels(controller=name)
        self._outcomes = {
            outcome: metrics.RECONCILE_TOTAL.labels(controller=name, result=outcome)
            for outcome in OUTCOMES
        }

    async def run(self) -> None:
        """Run the workers until the queue shuts down or this task is cancelled.

        On cancellation the queue is shut down (queued keys are dropped: everything is
        level-triggered and found again on the next start), reconciles in flight get
        ``drain_seconds`` of clock time to finish, then they are cancelled too.
        """
        workers = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
            for i in range(self._workers)
        ]
        self._log.info("controller_started", controller=self.name, workers=self._workers)
        try:
            # ``wait``, not ``gather``: being cancelled must not cancel the workers mid-reconcile.
            await asyncio.wait(workers)
            for worker in workers:
                worker.result()  # surface a crash (only BaseException escapes a worker)
        except asyncio.CancelledError:
            self.queue.shutdown(drain=False)
            await self._drain(workers)
            raise
        finally:
            for worker in workers:
                worker.cancel()
            self._log.info("controller_stopped", controller=self.name)

    @property
    def busy(self) -> int:
        """Reconciles in flight right now."""
        return self._active

    async def wait_idle(self) -> None:
        """Return once no reconcile is in flight (tests: then assert the world's state)."""
        await self._idle.wait()

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        if self._active == 0:
            return
        self._log.info("controller_draining", controller=self.name, in_flight=self._active)
        waiting = asyncio.ensure_future(asyncio.wait(workers))
        timer = asyncio.ensure_future(self.queue.clock.sleep(self._drain_seconds))
        try:
            await asyncio.wait({waiting, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            waiting.cancel()
        if self._active:
            self._log.warning(
                "controller_drain_timeout", controller=self.name, in_flight=self._active
            )

    async def _worker(self) -> None:
        gate = turnstile.for_loop()
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            self._active += 1
            self._idle.clear()
            try:
                # A reconcile that finds nothing to do awaits no I/O, and ``get`` returns at
                # once while keys are queued: the turnstile is what gives the loop back
                # (Lease renewals, probes, watches) after a turn's share of reconciles, not
                # a yield after each one (a loop turn per reconcile for nothing).
                if not gate.try_pass():
                    await gate.enter()
                await self._process(key)
            finally:
                self.queue.done(key)
                self._active -= 1
                if self._active == 0:
                    self._idle.set()

    async def _process(self, key: K) -> None:
        reconcile_id = f"{_reconcile_ids.getrandbits(48):012x}"
        # structlog's own context variables, set and reset directly: what
        # ``bind_contextvars``/``reset_contextvars`` do, without looking each variable up
        # by name (a third of a no-op reconcile's CPU); resetting restores exactly what
        # was bound before.
        controller_var, key_var, id_var = _log_context_vars()
        controller_token = controller_var.set(self.name)
        key_token = key_var.set(str(key))
        id_token = id_var.set(reconcile_id)
        try:
            started = self.queue.clock.monotonic()
            self._sync_calls.inc()
            outcome = "error"
            try:
                result = await self._reconcile(key)
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except TerminalError as error:
                outcome = "terminal_error"
                self.queue.forget(key)
                self._log.error("reconcile_terminal_error", error=str(error))
            except Exception as error:
                self.queue.add_rate_limited(key)
                retries = self.queue.num_requeues(key)
                level = None if self._is_conflict(error) else expected_failure(error)
                if self._is_conflict(error):
                    outcome = "conflict"
                    self._log.debug("reconcile_conflict", error=str(error), retries=retries)
                elif level is not None:
                    self._errors.inc()
                    emit = self._log.warning if level == "warning" else self._log.info
                    emit(
                        "reconcile_retrying",
                        error=f"{type(error).__name__}: {error}",
                        retries=retries,
                    )
                else:
                    self._errors.inc()
                    self._log.error(
                        "reconcile_failed",
                        error=f"{type(error).__name__}: {error}",
                        retries=retries,
                        exc_info=error,
                    )
            else:
                self.queue.forget(key)
                if result is not None and result.requeue_after is not None:
                    outcome = "requeue_after"
                    self.queue.add_after(key, result.requeue_after)
                else:
                    outcome = "success"
            finally:
                self._time.observe(max(0.0, self.queue.clock.monotonic() - started))
                self._outcomes[outcome].inc()
                if outcome in SYNC_ERROR_OUTCOMES:
                    metrics.SYNC_ERRORS.inc(self.name)
        finally:
            id_var.reset(id_token)
            key_var.reset(key_token)
            controller_var.reset(controller_token)
