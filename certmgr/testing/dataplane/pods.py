"""The data plane's kubelet: runs solver Pods as local processes and reports their status.

Owns :class:`PodRunner`. It mirrors Pods from any API server through the ``KubeAPI``
protocol and, per Pod (one task per Pod at a time, so Pods start in parallel):

- a Pod whose first container image is a solver image runs as ``python -m solvers`` with
  the container's expanded args, bound to its own loopback address; once the port
  answers, ``status`` becomes Running with ``podIP`` and ``Ready=True``; if the process
  exits, ``Succeeded`` or ``Failed`` (no restarts);
- any other Pod is reported ``Pending`` with ``ErrImagePull``, as on a node that cannot
  pull its image;
- a deleted or terminating Pod has its process stopped (SIGTERM, then SIGKILL after a
  grace period) and the runner's finalizer, if it added one, removed.

Status goes through the status subresource as a merge patch. ``stop()`` ends every
process it started. It must not touch Pods' specs or any other resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import structlog

from certmgr.kube.errors import APIError, Conflict, NotFound
from certmgr.kube.objects import uid_of
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import PODS
from certmgr.testing.dataplane import podstatus
from certmgr.testing.dataplane.mirroring import Mirror, ObjectKey
from certmgr.testing.dataplane.podspec import (
    DEFAULT_SOLVER_IMAGES,
    LoopbackAddresses,
    ProcessSpec,
    is_solver_pod,
    process_spec,
)

DEFAULT_NODE_NAME: Final = "certmgr-dataplane"
_POLL_FIRST_SECONDS: Final = 0.01
_POLL_MAX_SECONDS: Final = 0.1
_log = structlog.get_logger("dataplane")


@dataclass(slots=True)
class RunningPod:
    """One started process and what is needed to stop and report it."""

    uid: str
    address: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    stopping: bool = False
    monitor: asyncio.Task[None] | None = field(default=None, repr=False)


class PodRunner:
    """Runs the solver Pods of any API server here: unscheduled Pods (no ``nodeName``, as
    on a cluster without nodes) and Pods bound to ``node_name``. ``finalizer`` makes
    deletion wait for the process to stop, as graceful deletion does on a real node."""

    def __init__(
        self,
        client: KubeAPI,
        *,
        solver_images: Collection[str] = DEFAULT_SOLVER_IMAGES,
        python: str = sys.executable,
        host_ip: str = "127.0.0.1",
        node_name: str = DEFAULT_NODE_NAME,
        finalizer: str | None = None,
        ready_timeout: float = 15.0,
        stop_grace: float = 5.0,
        log_dir: Path | None = None,
    ) -> None:
        self._client = client
        self._solver_images = tuple(solver_images)
        self._python = python
        self._host_ip = host_ip
        self._node_name = node_name
        self._finalizer = finalizer
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._pods = Mirror(client, PODS, on_change=self._changed)
        self._addresses = LoopbackAddresses()
        self._running: dict[ObjectKey, RunningPod] = {}
        self._dirty: set[ObjectKey] = set()
        self._workers: dict[ObjectKey, asyncio.Task[None]] = {}
        self._spawning: set[asyncio.Future[asyncio.subprocess.Process]] = set()
        # Each process's stdout and stderr ("kubectl logs"); a temporary directory is
        # removed on stop, a given one is kept for the caller to read.
        self._own_logs = log_dir is None
        self._logs = log_dir or Path(tempfile.mkdtemp(prefix="certmgr-dataplane-pods-"))

    def running(self) -> dict[ObjectKey, RunningPod]:
        """The processes alive right now, by (namespace, name)."""
        return dict(self._running)

    async def settled(self) -> None:
        """Return once every Pod change seen so far has been handled (for tests: after
        this, what the runner did not do for an already-seen Pod, it will not do)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def start(self) -> None:
        await self._pods.start()

    async def stop(self) -> None:
        await self._pods.stop()
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for spawning in list(self._spawning):
            with contextlib.suppress(Exception):
                process = await spawning
                process.kill()
                await process.wait()
        await asyncio.gather(*(self._terminate(key) for key in list(self._running)))
        if self._own_logs:
            shutil.rmtree(self._logs, ignore_errors=True)

    async def __aenter__(self) -> PodRunner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _changed(self, key: ObjectKey) -> None:
        self._dirty.add(key)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"pod-{key[1]}")

    async def _work(self, key: ObjectKey) -> None:
        # Level-triggered: however many events arrived meanwhile, sync the latest state once.
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                try:
                    await self._sync(key)
                except (APIError, OSError) as exc:
                    # Logged, not retried: the next change of the Pod syncs it again.
                    _log.warning("dataplane_pod_sync_failed", pod="/".join(key), error=str(exc))
        finally:
            self._workers.pop(key, None)

    async def _sync(self, key: ObjectKey) -> None:
        pod = self._pods.get(*key)
        running = self._running.get(key)
        if running is not None and (pod is None or uid_of(pod) != running.uid):
            await self._terminate(key)
            running = None
        if pod is None or not self._is_ours(pod):
            return
        if pod["metadata"].get("deletionTimestamp"):
            await self._terminate(key)
            await self._remove_finalizer(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if running is not None or phase in ("Succeeded", "Failed"):
            return
        if not is_solver_pod(pod, self._solver_images):
            if not podstatus.is_image_pull_error(pod):
                await self._patch_status(key, podstatus.image_pull_error(pod))
            return
        await self._run(key, pod)

    def _is_ours(self, pod: dict[str, Any]) -> bool:
        # A Pod bound to a real node belongs to that node's kubelet: never touch it, so the
        # data plane is safe to point at a cluster that has nodes.
        node = (pod.get("spec") or {}).get("nodeName")
        return not node or node == self._node_name

    async def _run(self, key: ObjectKey, pod: dict[str, Any]) -> None:
        await self._add_finalizer(pod)
        address = self._addresses.allocate()
        spec = process_spec(pod, pod_ip=address, host_ip=self._host_ip)
        log_path = self._logs / f"{key[0]}_{key[1]}.log"
        started = podstatus.now()
        # Spawning and recording the process happen as one step that a cancelled worker
        # (stop() cancels them) cannot split: a process nobody recorded would outlive us.
        spawning = asyncio.ensure_future(self._spawn(spec, log_path))
        self._spawning.add(spawning)
        try:
            process = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            raise  # still in self._spawning: stop() reaps it
        except BaseException:
            self._spawning.discard(spawning)
            self._addresses.release(address)
            raise
        self._spawning.discard(spawning)
        entry = RunningPod(uid_of(pod), address, spec.port, process, log_path)
        self._running[key] = entry
        _log.info("dataplane_pod_started", pod="/".join(key), address=address, pid=process.pid)
        if await self._wait_listening(entry):
            await self._patch_status(
                key, podstatus.running(pod, pod_ip=address, host_ip=self._host_ip, since=started)
            )
        elif process.returncode is None:
            # Alive but not listening: like a container failing its readiness, it stays
            # out of every Service; its log says why.
            _log.warning("dataplane_pod_not_listening", pod="/".join(key), log=str(log_path))
        entry.monitor = asyncio.create_task(self._monitor(key, entry, pod))

    async def _spawn(self, spec: ProcessSpec, log_path: Path) -> asyncio.subprocess.Process:
        with log_path.open("ab") as log:
            return await asyncio.create_subprocess_exec(
                self._python,
                "-m",
                "solvers",
                *spec.args,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **spec.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in the terminal must not reach the "pod"
            )

    async def _wait_listening(self, entry: RunningPod) -> bool:
        """Poll the port until it accepts, the process dies, or the deadline passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        delay = _POLL_FIRST_SECONDS
        while entry.process.returncode is None and loop.time() < deadline:
            try:
                _, writer = await asyncio.open_connection(entry.address, entry.port)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _POLL_MAX_SECONDS)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    async def _monitor(self, key: ObjectKey, entry: RunningPod, pod: dict[str, Any]) -> None:
        code = await entry.process.wait()
        if entry.stopping:
            return
        self._running.pop(key, None)
        self._addresses.release(entry.address)
        _log.info("dataplane_pod_exited", pod="/".join(key), exit_code=code)
        with contextlib.suppress(APIError):
            await self._patch_status(key, podstatus.terminated(pod, exit_code=code))

    async def _terminate(self, key: ObjectKey) -> None:
        entry = self._running.pop(key, None)
        if entry is None:
            return
        entry.stopping = True
        process = entry.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._stop_grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if entry.monitor is not None:
            await entry.monitor
        self._addresses.release(entry.address)
        _log.info("dataplane_pod_stopped", pod="/".join(key), exit_code=process.returncode)

    async def _patch_status(self, key: ObjectKey, status: dict[str, Any]) -> None:
        namespace, name = key
        with contextlib.suppress(NotFound):
            await self._client.patch(
                PODS, name, {"status": status}, namespace=namespace, subresource="status"
            )

    async def _add_finalizer(self, pod: dict[str, Any]) -> None:
        if self._finalizer is None or self._finalizer in _finalizers(pod):
            return
        await self._edit_finalizers(pod, add=True)

    async def _remove_finalizer(self, pod: dict[str, Any]) -> None:
        if self._finalizer is not None and self._finalizer in _finalizers(pod):
            await self._edit_finalizers(pod, add=False)

    async def _edit_finalizers(self, pod: dict[str, Any], *, add: bool) -> None:
        # An update with resourceVersion, retried on Conflict: a merge patch would replace
        # the whole list and could drop a finalizer someone else added meanwhile.
        assert self._finalizer is not None
        pod = copy.deepcopy(pod)  # the mirror's object must stay what the server sent
        meta = pod["metadata"]
        for _ in range(5):
            current = [f for f in _finalizers(pod) if f != self._finalizer]
            pod["metadata"]["finalizers"] = [*current, self._finalizer] if add else current
            try:
                await self._client.update(PODS, pod)
                return
            except NotFound:
                return
            except Conflict:
                pod = await self._client.get(PODS, meta["name"], namespace=meta["namespace"])
        raise RuntimeError(f"could not edit finalizers of pod {meta['name']}")


def _finalizers(pod: dict[str, Any]) -> list[str]:
    return list((pod.get("metadata") or {}).get("finalizers") or [])
