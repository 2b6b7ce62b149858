"""pytest plugin: the ``pebble`` fixtures and the end-of-run check for leftover processes.

Registered through ``pytest_plugins`` in ``tests/conftest.py``. Owns:

- ``pebble``: one session-wide Pebble with its default misbehaviour (5 % nonce
  rejection, 50 % authorization reuse) but no random validation sleeps;
- ``pebble_factory``: starts a differently configured Pebble for one test and stops it
  at the end of that test;
- a ``SIGTERM`` handler (only if nobody installed one) that turns the signal into
  ``KeyboardInterrupt`` so fixture teardown still runs;
- failure reports that end with the tail of Pebble's log;
- ``pytest_sessionfinish``: fails the run if a ``pebble`` or ``pebble-challtestsrv``
  started by this process is still alive, after killing it.

It must not configure anything else about the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from types import FrameType

import pytest

from certmgr.testing.pebble import PebbleConfig, PebbleServer
from certmgr.testing.pebble_processes import registered_alive, stray_children

PebbleFactory = Callable[[PebbleConfig], PebbleServer]
_STARTED_FOR_TEST = pytest.StashKey[list[PebbleServer]]()


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PebbleServer]:
    with PebbleServer(PebbleConfig(), workdir=tmp_path_factory.mktemp("pebble")) as server:
        yield server


@pytest.fixture
def pebble_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PebbleFactory]:
    started: list[PebbleServer] = []
    request.node.stash[_STARTED_FOR_TEST] = started

    def start(config: PebbleConfig) -> PebbleServer:
        server = PebbleServer(config, workdir=tmp_path_factory.mktemp("pebble"))
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A failed validation is usually explained by Pebble's log, not by the traceback.
    if report.failed:
        servers = list(item.stash.get(_STARTED_FOR_TEST, None) or ())
        session_server = getattr(item, "funcargs", {}).get("pebble")
        if isinstance(session_server, PebbleServer):
            servers.append(session_server)
        for index, server in enumerate(servers):
            report.sections.append((f"pebble log {index} (tail)", server.log_tail(max_lines=30)))
    return report


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    alive = registered_alive()
    registered = {process.pid for process in alive}
    strays = [(pid, name) for pid, name in stray_children() if pid not in registered]
    leftovers = [f"{p.name} (pid {p.pid})" for p in alive]
    leftovers += [f"{name} (pid {pid})" for pid, name in strays]
    if not leftovers:
        return
    for process in alive:
        process.stop(grace_seconds=1.0)
    for pid, _ in strays:
        # Our own child by parent PID, so killing it by PID touches nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "Pebble harness processes left running by the suite: " + ", ".join(leftovers)
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
