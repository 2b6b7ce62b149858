"""The flags of ``certmgr run``: ours, cert-manager's spellings of the ones we share, and
what happens to cert-manager's flags we do not implement (docs/flags.md has the table).

Owns value parsing as cert-manager's pflag does it (``--flag=value`` and ``--flag value``;
booleans bare, ``=true`` / ``=false``; Go durations such as ``90s`` or ``1h30m``) and
every range check, so a bad value is an argparse usage error (one line, exit 2) before
anything starts. It must not start anything or build Settings.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from certmgr.controllers.context import Settings
from certmgr.kube.flowcontrol import burst_setting, qps_setting
from certmgr.runtime.logging import LEVELS

_DEFAULTS: Final = Settings()

# strconv.ParseBool's spellings.
_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DURATION_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def go_bool(text: str) -> bool:
    """A boolean as Go's ``strconv.ParseBool`` reads it."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def duration_seconds(text: str) -> float:
    """Seconds from a Go duration (``90s``, ``1h30m``, ``250ms``) or a plain number of
    seconds (our own spelling); negative or non-finite values are refused."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _go_duration(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"expected a duration >= 0, got {text!r}")
    return seconds


def _go_duration(value: str) -> float:
    sign = -1.0 if value.startswith("-") else 1.0
    rest = value.lstrip("+-")
    if not rest or _DURATION_PART.sub("", rest):
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90s, 10m or 1h30m, got {value!r}"
        )
    total = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(rest)
    )
    return sign * total


def positive_duration(text: str) -> float:
    seconds = duration_seconds(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0, got {text!r}")
    return seconds


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def verbosity(text: str) -> str:
    """cert-manager's ``-v`` (klog verbosity: 0 errors, 1 warnings, 2 info, 4+ debug) as
    one of our log levels."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return "error" if value == 0 else "warning" if value == 1 else "info" if value < 4 else "debug"


def logging_format(text: str) -> str:
    """cert-manager's ``--logging-format`` (text|json) as our ``--log-format``."""
    formats = {"text": "console", "json": "json"}
    if text not in formats:
        raise argparse.ArgumentTypeError(f"expected text or json, got {text!r}")
    return formats[text]


def _checked(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """``parse`` with a name argparse shows in "invalid <name> value"."""

    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapped.__name__ = name
    return wrapped


class GoBool(argparse.Action):
    """A boolean as pflag takes it: ``--x``, ``--x=true``, ``--x=false``, ``--x false``;
    also ``--no-x`` (our spelling until now)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        names = list(option_strings)
        names += [f"--no-{o[2:]}" for o in option_strings if o.startswith("--")]
        super().__init__(names, dest, nargs="?", metavar="true|false", **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        negated = bool(option_string and option_string.startswith("--no-"))
        if values is None:
            value = True
        elif negated:
            parser.error(f"{option_string} takes no value")
        else:
            try:
                value = go_bool(str(values))
            except argparse.ArgumentTypeError as exc:
                parser.error(f"argument {option_string}: {exc}")
        setattr(namespace, self.dest, value != negated)


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
    ForeignFlag("feature-gates", "ignore", "certmgr has no feature gates"),
    ForeignFlag("enable-gateway-api", "refuse-unless", "certmgr has no Gateway API shim", _FALSE),
    ForeignFlag(
        "enable-gateway-api-listenerset",
        "refuse-unless",
        "certmgr has no Gateway API shim",
        _FALSE,
    ),
    ForeignFlag("gateway-api-extra-protocols", "refuse", "certmgr has no Gateway API shim"),
    ForeignFlag("cluster-issuer-ambient-credentials", "ignore", "certmgr has no DNS-01 providers"),
    ForeignFlag("issuer-ambient-credentials", "ignore", "certmgr has no DNS-01 providers"),
    ForeignFlag("dns01-recursive-nameservers", "ignore", "certmgr solves HTTP-01 only"),
    ForeignFlag("dns01-recursive-nameservers-only", "ignore", "certmgr solves HTTP-01 only"),
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
        _TRUE,
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
    ForeignFlag("enable-profiling", "refuse-unless", "certmgr has no profiler", _FALSE),
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

# cert-manager's controllers certmgr does not run: --controllers may disable them.
ABSENT_CONTROLLERS: Final = frozenset(
    {
        "gateway-shim",
        "certificatesigningrequests-issuer-acme",
        "certificatesigningrequests-issuer-ca",
        "certificatesigningrequests-issuer-selfsigned",
        "certificatesigningrequests-issuer-vault",
        "certificatesigningrequests-issuer-venafi",
        "certificaterequests-issuer-vault",
        "certificaterequests-issuer-venafi",
    }
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


def controllers_value(text: str) -> str:
    """``--controllers``: certmgr runs all its controllers; only ``*`` and disabling
    controllers it does not have are accepted."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    disabled = [entry for entry in entries if entry != "*"]
    if "*" not in entries or any(
        not entry.startswith("-") or entry[1:] not in ABSENT_CONTROLLERS for entry in disabled
    ):
        raise argparse.ArgumentTypeError(
            f"certmgr runs all its controllers; only '*' (optionally disabling ones it does "
            f"not have) is accepted, got {text!r}"
        )
    return text


def auto_certificate_annotations(text: str) -> str:
    if [entry.strip() for entry in text.split(",")] != ["kubernetes.io/tls-acme"]:
        raise argparse.ArgumentTypeError(
            f"ingress-shim reads kubernetes.io/tls-acme only, got {text!r}"
        )
    return text


def first_nameserver(text: str) -> str:
    """cert-manager's comma-separated ``--acme-http01-solver-nameservers``: one is used."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if len(entries) != 1 or ":" not in entries[0]:
        raise argparse.ArgumentTypeError(f"expected one HOST:PORT, got {text!r}")
    return entries[0]


_METAVARS: Final[dict[object, str]] = {
    positive_duration: "DURATION",
    duration_seconds: "DURATION",
    positive_int: "N",
    port_number: "PORT",
    int: "N",
    float: "NUMBER",
}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Every flag of ``certmgr run``; cert-manager's spelling is listed second."""
    parser.formatter_class = HelpFormatter

    def add(*names: str, **kwargs: Any) -> None:
        if "choices" not in kwargs and "action" not in kwargs and "metavar" not in kwargs:
            kwargs["metavar"] = _METAVARS.get(kwargs.get("type"), "VALUE")
        parser.add_argument(*names, **kwargs)

    add(
        "--kubeconfig",
        help="path to a kubeconfig (default: in-cluster, then $KUBECONFIG, ~/.kube/config)",
    )
    add("--context", help="kubeconfig context to use")
    add("--namespace", help="watch only this namespace (default: all)")
    add("--log-level", choices=LEVELS, help="default: info")
    add(
        "-v",
        "--v",
        dest="verbosity",
        type=verbosity,
        metavar="N",
        help="cert-manager's verbosity: 0 error, 1 warning, 2-3 info, 4+ debug "
        "(--log-level wins when both are given)",
    )
    add(
        "--log-format",
        "--logging-format",
        dest="log_format",
        type=_log_format,
        metavar="{json,console,text}",
        help="default: console on a terminal, else json (text = console)",
    )
    add(
        "--cluster-resource-namespace",
        default="certmgr",
        help="where ClusterIssuers' Secrets live",
    )
    add(
        "--leader-elect",
        action=GoBool,
        default=True,
        help="elect one leader among replicas through a Lease",
    )
    add(
        "--leader-election-namespace",
        default=None,
        help="namespace of the Lease (default: --cluster-resource-namespace)",
    )
    add("--leader-election-name", default="certmgr-controller", help="name of the Lease")
    add(
        "--leader-election-lease-duration",
        type=positive_duration,
        default=15.0,
        help="seconds or a Go duration (60s)",
    )
    add(
        "--leader-election-renew-deadline",
        type=positive_duration,
        default=10.0,
        help="seconds or a Go duration",
    )
    add(
        "--leader-election-retry-period",
        type=positive_duration,
        default=2.0,
        help="seconds or a Go duration",
    )
    # cert-manager's ports: probes on 9403 (http-healthz), metrics on 9402 (http-metrics).
    add(
        "--health-address",
        "--healthz-listen-address",
        "--internal-healthz-listen-address",
        dest="health_address",
        default="0.0.0.0:9403",
        metavar="HOST:PORT",
        help="serves /livez, /readyz and /healthz",
    )
    add(
        "--metrics-address",
        "--metrics-listen-address",
        dest="metrics_address",
        default="0.0.0.0:9402",
        metavar="HOST:PORT",
        help="serves /metrics; 0 turns it off",
    )
    add(
        "--kube-api-qps",
        type=_checked(qps_setting, "qps"),
        default="auto",
        help="client-side limit on API requests per second; -1: none; auto: none "
        "when the API server has API Priority and Fairness, else 50",
    )
    add(
        "--kube-api-burst",
        type=_checked(burst_setting, "burst"),
        default="auto",
        help="requests allowed at once above --kube-api-qps; auto: none with "
        "APF, else 100 (an explicit value keeps a client-side limit)",
    )
    add(
        "--http01-solver-mode",
        choices=("shared", "pod"),
        default="shared",
        help="shared: every replica serves all challenges; pod: one solver Pod per challenge",
    )
    add("--http01-solver-address", default="0.0.0.0:8089", help="shared solver listener")
    add(
        "--http01-solver-service-host",
        default=_DEFAULTS.shared_solver_host,
        help="shared mode: the host each namespace's solver Service points at",
    )
    add(
        "--http01-solver-service-type",
        choices=("EndpointSlice", "ExternalName"),
        default="EndpointSlice",
        help="shared mode: each namespace's solver Service has no selector and every "
        "replica lists its POD_IP in an EndpointSlice of it (works with endpoint-based "
        "ingress controllers: ingress-nginx, Traefik, Contour, HAProxy), or is an "
        "ExternalName to --http01-solver-service-host",
    )
    add(
        "--shutdown-drain-timeout",
        type=duration_seconds,
        default=60.0,
        help="on SIGTERM, how long the process keeps answering challenges the CA was "
        "asked to validate before it exits (stay below terminationGracePeriodSeconds)",
    )
    add(
        "--http01-solver-image",
        "--acme-http01-solver-image",
        dest="http01_solver_image",
        default=_DEFAULTS.solver_image,
        help="pod mode: the solver image (cert-manager's acmesolver image works too)",
    )
    add(
        "--http01-solver-service-linger",
        type=duration_seconds,
        default=600.0,
        help="seconds a namespace's shared solver Service outlives its last Challenge",
    )
    add(
        "--http01-self-check-port",
        type=port_number,
        default=80,
        help="port the HTTP-01 self-check fetches",
    )
    add(
        "--http01-self-check-nameserver",
        "--acme-http01-solver-nameservers",
        dest="http01_self_check_nameserver",
        type=first_nameserver,
        default=None,
        help="HOST:PORT of the DNS server the self-check resolves names with (default: "
        "the system's)",
    )
    add(
        "--http01-self-check-successes",
        type=positive_int,
        default=_DEFAULTS.self_check_successes,
        help="consecutive successful self-checks before the CA is asked to validate",
    )
    add(
        "--http01-self-check-interval",
        "--dns01-check-retry-period",
        dest="http01_self_check_interval",
        type=positive_duration,
        default=_DEFAULTS.self_check_interval,
        help="seconds (or a Go duration) between self-checks",
    )
    add(
        "--max-concurrent-challenges",
        type=positive_int,
        default=_DEFAULTS.max_concurrent_challenges,
        help="Challenges processed at once",
    )
    add(
        "--issuance-backoff-base",
        "--certificate-request-minimum-backoff-duration",
        dest="issuance_backoff_base",
        type=positive_duration,
        default=_DEFAULTS.issuance_backoff_base.total_seconds(),
        help="seconds (or a Go duration) of the first backoff after a failed issuance",
    )
    add(
        "--issuance-backoff-cap",
        "--certificate-request-maximum-backoff-duration",
        dest="issuance_backoff_cap",
        type=positive_duration,
        default=_DEFAULTS.issuance_backoff_cap.total_seconds(),
        help="seconds (or a Go duration) the backoff never exceeds",
    )
    add(
        "--renewal-rate-qps",
        type=float,
        default=_DEFAULTS.renewal_rate_qps,
        help="time-driven (re)issuances started per second, e.g. overdue after downtime",
    )
    add(
        "--renewal-rate-burst",
        type=int,
        default=_DEFAULTS.renewal_rate_burst,
        help="time-driven (re)issuances started at once",
    )
    add(
        "--default-issuer-name",
        default=None,
        help="ingress-shim: issuer of kubernetes.io/tls-acme Ingresses",
    )
    add("--default-issuer-kind", default="Issuer", help="ingress-shim: its kind")
    add("--default-issuer-group", default="cert-manager.io", help="ingress-shim: its group")
    add(
        "--auto-certificate-annotations",
        type=auto_certificate_annotations,
        default="kubernetes.io/tls-acme",
        help="ingress-shim's trigger annotation (only the default is supported)",
    )
    add(
        "--controllers",
        type=controllers_value,
        default="*",
        help="certmgr runs all its controllers: '*' (or '*,-X' for a cert-manager "
        "controller X that certmgr does not have)",
    )
    add(
        "--detailed-events",
        action=GoBool,
        default=False,
        help="also record Normal Events on CertificateRequests, Orders and Challenges",
    )
    add(
        "--enable-certificate-owner-ref",
        action=GoBool,
        default=False,
        help="make each Certificate the owner of its Secret, so the Secret is deleted with it "
        "(cert-manager's flag); when off, such an owner reference is removed",
    )
    add(
        "--workers",
        "--concurrent-workers",
        dest="workers",
        type=positive_int,
        default=_DEFAULTS.workers,
        help="workers per controller",
    )
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
    parser.set_defaults(ignored_flags=[])


def _foreign_help(flag: ForeignFlag) -> str:
    if flag.handling == "ignore":
        return f"ignored: {flag.why}"
    if flag.handling == "refuse":
        return f"refused: {flag.why}"
    accepted = "true" if "true" in flag.harmless else "false"
    return f"only {accepted} accepted: {flag.why}"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _log_format(text: str) -> str:
    if text in ("json", "console"):
        return text
    return logging_format(text)


def log_level(args: argparse.Namespace) -> str:
    """``--log-level``, else ``-v``'s level, else info."""
    level: str = args.log_level or args.verbosity or "info"
    return level
