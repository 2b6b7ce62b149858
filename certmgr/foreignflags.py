"""cert-manager controller flags certmgr has no counterpart for, and what ``certmgr run``
does with each: accepted with a warning (no effect here) or refused with the reason
(docs/flags.md has the table). It must not parse the flags certmgr has.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from certmgr.flagvalues import FALSE, TRUE


@dataclass(frozen=True, slots=True)
class ForeignFlag:
    """A cert-manager flag certmgr has no counterpart for."""

    name: str
    # "ignore": accepted with a warning at start (harmless here); "refuse": a usage error.
    # "refuse-unless" refuses only values other than ``harmless``.
    handling: str
    why: str
    harmless: frozenset[str] = frozenset()


FOREIGN_FLAGS: Final = (
    ForeignFlag("config", "refuse", "pass the settings as flags"),
    ForeignFlag("master", "refuse", "give the server in a kubeconfig (--kubeconfig)"),
    ForeignFlag(
        "enable-gateway-api-listenerset",
        "refuse-unless",
        "certmgr has no ListenerSet shim",
        FALSE,
    ),
    ForeignFlag(
        "gateway-api-extra-protocols",
        "refuse",
        "gateway-shim reads HTTPS and TLS listeners only",
    ),
    ForeignFlag(
        "extra-certificate-annotations",
        "refuse",
        "ingress-shim copies no extra annotations",
    ),
    ForeignFlag(
        "copied-annotation-prefixes",
        "ignore",
        "annotations are copied with cert-manager's default prefixes",
    ),
    ForeignFlag(
        "acme-http01-solver-resource-request-cpu", "ignore", "solver Pods set no resources"
    ),
    ForeignFlag(
        "acme-http01-solver-resource-request-memory", "ignore", "solver Pods set no resources"
    ),
    ForeignFlag("acme-http01-solver-resource-limits-cpu", "ignore", "solver Pods set no resources"),
    ForeignFlag(
        "acme-http01-solver-resource-limits-memory", "ignore", "solver Pods set no resources"
    ),
    ForeignFlag(
        "acme-http01-solver-run-as-non-root",
        "refuse-unless",
        "solver Pods always run as non-root",
        TRUE,
    ),
    ForeignFlag(
        "acme-http01-solver-runtime-class-name",
        "refuse",
        "use the Issuer's podTemplate.spec instead",
    ),
    ForeignFlag(
        "acme-http01-solver-extra-labels",
        "refuse",
        "use the Issuer's podTemplate / ingressTemplate labels instead",
    ),
    ForeignFlag("enable-profiling", "refuse-unless", "certmgr has no profiler", FALSE),
    ForeignFlag("profiler-address", "ignore", "certmgr has no profiler"),
    ForeignFlag("metrics-tls-cert-file", "refuse", "/metrics is served over plain HTTP"),
    ForeignFlag("metrics-tls-private-key-file", "refuse", "/metrics is served over plain HTTP"),
    ForeignFlag(
        "metrics-dynamic-serving-ca-secret-namespace",
        "refuse",
        "/metrics is served over plain HTTP",
    ),
    ForeignFlag(
        "metrics-dynamic-serving-ca-secret-name", "refuse", "/metrics is served over plain HTTP"
    ),
    ForeignFlag(
        "metrics-dynamic-serving-dns-names", "refuse", "/metrics is served over plain HTTP"
    ),
    ForeignFlag(
        "metrics-dynamic-serving-leaf-duration", "refuse", "/metrics is served over plain HTTP"
    ),
    ForeignFlag("metrics-tls-cipher-suites", "refuse", "/metrics is served over plain HTTP"),
    ForeignFlag("metrics-tls-min-version", "refuse", "/metrics is served over plain HTTP"),
    ForeignFlag(
        "internal-healthz-leader-election-timeout",
        "ignore",
        "/livez does not depend on the Lease",
    ),
    ForeignFlag("max-certificate-size", "ignore", "PEM sizes are not limited by flag"),
    ForeignFlag("max-private-key-size", "ignore", "PEM sizes are not limited by flag"),
    ForeignFlag("max-certificate-chain-length", "ignore", "PEM sizes are not limited by flag"),
    ForeignFlag("max-certificate-bundle-size", "ignore", "PEM sizes are not limited by flag"),
    ForeignFlag("vmodule", "ignore", "log levels are per process"),
    ForeignFlag("log-flush-frequency", "ignore", "logs are written unbuffered"),
    ForeignFlag("log-json-split-stream", "ignore", "logs go to stderr"),
    ForeignFlag("log-json-info-buffer-size", "ignore", "logs are written unbuffered"),
    ForeignFlag("log-text-split-stream", "ignore", "logs go to stderr"),
    ForeignFlag("log-text-info-buffer-size", "ignore", "logs are written unbuffered"),
)


class _Foreign(argparse.Action):
    def __init__(
        self, option_strings: Sequence[str], dest: str, *, flag: ForeignFlag, **kwargs: Any
    ) -> None:
        self.flag = flag
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        flag = self.flag
        value = "true" if values is None else str(values)
        if flag.handling == "refuse" or (
            flag.handling == "refuse-unless" and value not in flag.harmless
        ):
            parser.error(
                f"--{flag.name} is a cert-manager flag certmgr does not implement: {flag.why}"
            )
        if flag.handling == "ignore":
            ignored: list[str] = list(getattr(namespace, "ignored_flags", []))
            ignored.append(f"--{flag.name}: {flag.why}")
            namespace.ignored_flags = ignored


def _foreign_help(flag: ForeignFlag) -> str:
    if flag.handling == "ignore":
        return f"ignored: {flag.why}"
    if flag.handling == "refuse":
        return f"refused: {flag.why}"
    accepted = "true" if "true" in flag.harmless else "false"
    return f"only {accepted} accepted: {flag.why}"


def add_foreign_flags(parser: argparse.ArgumentParser) -> None:
    foreign = parser.add_argument_group(
        "cert-manager flags without a counterpart",
        "accepted with a warning (no effect here) or refused with the reason; see docs/flags.md",
    )
    for flag in FOREIGN_FLAGS:
        foreign.add_argument(
            f"--{flag.name}",
            action=_Foreign,
            flag=flag,
            metavar="VALUE",
            help=_foreign_help(flag),
        )
