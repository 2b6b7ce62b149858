"""What every kubectl-style command shares: the connection flags, the client, error lines.

Owns ``--kubeconfig`` / ``--context`` / ``--namespace`` / ``--log-level``, turning them
into a connected ``KubeClient`` and the namespace to work in (the flag, else the
kubeconfig context's), and ``run_command``, which keeps logs on stderr, maps a bad
kubeconfig to a usage error (exit 2) and an API failure nobody handled to one line on
stderr (exit 1). It must not know any command.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import structlog

from certmgr.errors import UsageError
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import APIError, ConfigError
from certmgr.runtime.logging import LEVELS, configure_logging

# Commands read little and exit: a few retries, not the controller's patience.
MAX_RETRIES = 2


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        help="path to a kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)",
    )
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument(
        "-n",
        "--namespace",
        help="namespace of the Certificates (default: the kubeconfig context's)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=LEVELS,
        help="logs go to stderr (default: warning)",
    )


@asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[KubeClient]:
    """A client for the flags in ``args``; closed on exit."""
    client = await KubeClient.connect(
        kubeconfig=args.kubeconfig, context=args.context, max_retries=MAX_RETRIES
    )
    async with client:
        yield client


def target_namespace(args: argparse.Namespace, client: KubeClient) -> str:
    """The ``--namespace`` flag, else the kubeconfig context's namespace (as kubectl does)."""
    return str(args.namespace or client.namespace or "default")


def run_command(main: Callable[[], Coroutine[Any, Any, int]], *, log_level: str) -> int:
    """Run an async command; a bad kubeconfig is a usage error, an API failure one line."""
    try:
        with command_logging(log_level):
            return asyncio.run(main())
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    except APIError as exc:
        print(f"certmgr: error: {describe_error(exc)}", file=sys.stderr)
        return 1


def describe_error(exc: APIError) -> str:
    """One line for a failed API call: the server's reason and message (as kubectl prints)."""
    return f"{exc.reason or type(exc).__name__}: {exc.message}"


def object_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


@contextmanager
def command_logging(level: str) -> Iterator[None]:
    """Logs at ``level`` and up on stderr while the command runs (stdout is the command's
    output, and unconfigured structlog would print there), then the previous
    configuration back, so in-process callers such as tests keep theirs."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    configure_logging(level, json=False, stream=sys.stderr)
    try:
        yield
    finally:
        structlog.configure(**saved)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
