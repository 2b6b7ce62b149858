"""Child processes of the Pebble harness: start, stop by PID, and account for leftovers.

Owns the registry of every ``pebble`` / ``pebble-challtestsrv`` process this Python
process started, the ``atexit`` hook that kills whatever is still alive at interpreter
exit, and the scan that tells the test suite whether anything escaped. It must not know
about Pebble's configuration; :mod:`certmgr.testing.pebble` decides what to run.

Three layers keep processes from outliving us:

1. :meth:`ManagedProcess.stop` (the normal path, called by ``PebbleServer.stop``);
2. an ``atexit`` hook (an uncaught exception, ``sys.exit``, ``KeyboardInterrupt``);
3. the kernel's parent-death signal via ``setpriv --pdeathsig KILL`` when we start from
   the main thread (``SIGKILL`` of the test runner). It is not used from other threads
   because the signal fires when the *thread* that forked exits, and executor threads
   come and go.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

HARNESS_BINARIES = frozenset({"pebble", "pebble-challtestsrv"})
# /proc/<pid>/stat shows the command name cut to 15 bytes (TASK_COMM_LEN - 1).
_HARNESS_COMMS = frozenset(binary[:15] for binary in HARNESS_BINARIES)

_registry_lock = threading.Lock()
_registry: dict[int, ManagedProcess] = {}


class ManagedProcess:
    """One child process with its log file; stopped by PID, never by name."""

    def __init__(self, popen: subprocess.Popen[bytes], *, name: str, log_path: Path) -> None:
        self.popen = popen
        self.name = name
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, *, grace_seconds: float = 3.0) -> None:
        """SIGTERM, wait up to ``grace_seconds``, then SIGKILL; always reaps the child."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        with _registry_lock:
            _registry.pop(self.pid, None)

    def log_tail(self, *, max_lines: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-max_lines:])


def spawn(
    argv: Sequence[str],
    *,
    name: str,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
) -> ManagedProcess:
    """Start ``argv`` with stdout+stderr appended to ``log_path`` and register it."""
    command = list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is not None and threading.current_thread() is threading.main_thread():
        command = [setpriv, "--pdeathsig", "KILL", "--", *command]
    log: IO[bytes]
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
        )
    process = ManagedProcess(popen, name=name, log_path=log_path)
    with _registry_lock:
        _registry[process.pid] = process
    return process


def stop_all() -> None:
    """Stop every process still registered (the ``atexit`` path)."""
    with _registry_lock:
        processes = list(_registry.values())
    for process in processes:
        process.stop(grace_seconds=1.0)


def registered_alive() -> list[ManagedProcess]:
    with _registry_lock:
        processes = list(_registry.values())
    return [process for process in processes if process.alive()]


def stray_children() -> list[tuple[int, str]]:
    """Live harness binaries whose parent is this process, however they were started.

    Reads ``/proc`` so it also catches a ``pebble`` that some test started without the
    harness. Zombies are ignored: they are already dead and are reaped by their Popen.
    """
    found: list[tuple[int, str]] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == me and state != "Z" and name in _HARNESS_COMMS:
            found.append((int(entry.name), name))
    return found


atexit.register(stop_all)
