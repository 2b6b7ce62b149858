"""The ``certmgr`` command line: parses arguments and hands off to one command module.

Each command lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; this module only knows their names. It must not hold any
command logic itself. Errors a user can fix end in one clear line on stderr and
a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol

from certmgr import __version__
from certmgr.errors import UsageError


class CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


__all__ = ["COMMANDS", "UsageError", "main"]


# (command path, module, one-line help). Add a line when a command is built.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("run",), "certmgr.app", "run the controller"),
    (("renew",), "certmgr.commands.renew", "mark Certificates for manual renewal, as cmctl renew"),
    (("approve",), "certmgr.commands.approve", "approve a CertificateRequest, as cmctl approve"),
    (("deny",), "certmgr.commands.deny", "deny a CertificateRequest, as cmctl deny"),
    (
        ("create", "certificaterequest"),
        "certmgr.commands.createrequest",
        "create a CertificateRequest from a Certificate manifest with a key made here, "
        "as cmctl create certificaterequest",
    ),
    (
        ("status", "certificate"),
        "certmgr.commands.status",
        "show a Certificate's state and its issuance chain, as cmctl status certificate",
    ),
    (
        ("inspect", "secret"),
        "certmgr.commands.inspect_command",
        "show a TLS Secret's certificate, chain, key match and trust, as cmctl inspect secret",
    ),
    (
        ("check",),
        "certmgr.commands.check",
        "check a cluster is ready for certmgr (CRDs, cert-manager leftovers, RBAC)",
    ),
    (
        ("check", "api"),
        "certmgr.commands.check_api",
        "check that cert-manager's API is usable (a dry-run Certificate), as cmctl check api",
    ),
    (
        ("manifests",),
        "certmgr.commands.manifests",
        "print the install manifests of this version (CRDs, RBAC, Deployment) as YAML",
    ),
    (
        ("dev", "demo"),
        "certmgr.testing.dev_demo",
        "issue certificates end to end on a local setup (simulator, Pebble, certmgr run)",
    ),
    (
        ("dev", "pebble"),
        "certmgr.testing.dev_pebble",
        "run Pebble and challtestsrv on free ports until interrupted",
    ),
    (
        ("dev", "cluster"),
        "certmgr.testing.dev_cluster",
        "run the Kubernetes API simulator and write its kubeconfig",
    ),
    (
        ("dev", "dataplane"),
        "certmgr.testing.dev_dataplane",
        "route Ingresses and run solver Pods for an API server until interrupted",
    ),
]

# Modules the local tools need beyond the controller's dependencies, and their extra.
EXTRA_MODULES: dict[str, str] = {"celpy": "demo"}

GROUPS: dict[str, str] = {
    "dev": "local development tools: Pebble, the API simulator, the demo",
    "status": "show the state of cert-manager resources",
    "create": "create cert-manager resources",
    "inspect": "show the contents of Kubernetes resources",
}


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit 2 (argparse would print the whole
    usage first, dozens of lines for ``certmgr run``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command named in ``argv`` has its module imported (and its
    options configured), so ``certmgr run`` never loads the simulator or its CEL engine."""
    words = [word for word in argv if not word.startswith("-")]
    parser = OneLineParser(
        prog="certmgr",
        description="A cert-manager compatible ACME certificate controller for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"certmgr {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction[OneLineParser]] = {}
    commands: dict[str, OneLineParser] = {}
    for path, module_name, help_text in COMMANDS:
        container = top
        if len(path) == 2:
            group = path[0]
            if group not in groups and group in commands:
                # A command that has subcommands too (``check`` / ``check api``): without
                # one it runs itself, so the subcommand is optional.
                groups[group] = commands[group].add_subparsers(
                    dest=f"{group}_command", metavar="[COMMAND]", required=False
                )
            elif group not in groups:
                group_parser = top.add_parser(group, help=GROUPS[group])
                groups[group] = group_parser.add_subparsers(
                    dest=f"{group}_command", metavar="COMMAND", required=True
                )
            container = groups[group]
        sub = container.add_parser(path[-1], help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if len(path) == 1:
            commands[path[0]] = sub
        if list(path) == words[: len(path)]:
            _load(module_name).configure(sub)
    return parser


def _load(module_name: str) -> CommandModule:
    module: CommandModule = importlib.import_module(module_name)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        parser = build_parser(argv)
    except ModuleNotFoundError as exc:
        if exc.name not in EXTRA_MODULES:
            raise
        print(
            f"certmgr: error: this command needs {exc.name}, from the {EXTRA_MODULES[exc.name]!r} "
            f"extra: pip install 'certmgr[{EXTRA_MODULES[exc.name]}]'",
            file=sys.stderr,
        )
        return 1
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = " ".join(
            str(value)
            for key, value in vars(args).items()
            if (key == "command" or key.endswith("_command")) and value
        )
        flags = [word for word in unknown if word.startswith("-")] or unknown
        parser.exit(
            2,
            f"certmgr {command}: error: unknown flag {flags[0].partition('=')[0]} "
            f"(see certmgr {command} --help)\n",
        )
    try:
        return _load(args._module).run(args)
    except UsageError as exc:
        print(f"certmgr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
