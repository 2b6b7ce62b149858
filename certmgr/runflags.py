"""The flags of ``certmgr run``: ours with their defaults, cert-manager's spellings of the
ones we share as aliases (``certmgr.foreignflags`` has its others), and every range check,
so a bad value is an argparse usage error (one line, exit 2) before anything starts. It
must not start anything or build Settings.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from certmgr import featuregates, foreignflags
from certmgr.controllerflags import controllers_value
from certmgr.controllers.context import Settings
from certmgr.flagvalues import (
    GoBool,
    checked,
    duration_seconds,
    logging_format,
    port_number,
    positive_duration,
    positive_int,
    verbosity,
)
from certmgr.kube.flowcontrol import burst_setting, qps_setting
from certmgr.runtime.logging import LEVELS

_DEFAULTS: Final = Settings()


def auto_certificate_annotations(text: str) -> str:
    if [entry.strip() for entry in text.split(",")] != ["kubernetes.io/tls-acme"]:
        raise argparse.ArgumentTypeError(
            f"ingress-shim reads kubernetes.io/tls-acme only, got {text!r}"
        )
    return text


def nameserver_list(text: str) -> list[str]:
    """cert-manager's comma-separated ``--dns01-recursive-nameservers`` (``HOST:PORT``)."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    for entry in entries:
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise argparse.ArgumentTypeError(f"expected HOST:PORT entries, got {text!r}")
    return entries


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
        type=checked(qps_setting, "qps"),
        default="auto",
        help="client-side limit on API requests per second; -1: none; auto: none "
        "when the API server has API Priority and Fairness, else 50",
    )
    add(
        "--kube-api-burst",
        type=checked(burst_setting, "burst"),
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
        help="shared mode with --http01-solver-service-type=ExternalName: the host each "
        "namespace's solver Service points at",
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
        "--log-slow-loop-turns",
        type=positive_duration,
        default=None,
        help="debugging stalls: log each turn of the event loop that holds it this long "
        "(50ms) with the callbacks it ran, the longest first, and the stack of the loop "
        "thread while held (event_loop_turn_slow, event_loop_held; warning level); off by "
        "default, 1-2 us a callback when on",
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
        "--dns01-recursive-nameservers",
        type=nameserver_list,
        default=[],
        help="comma-separated HOST:PORT of the DNS servers DNS-01 looks up CNAMEs, zones "
        "(SOA) and nameservers with (default: the system's)",
    )
    add(
        "--dns01-recursive-nameservers-only",
        action=GoBool,
        default=False,
        help="check DNS-01 propagation with --dns01-recursive-nameservers instead of the "
        "zone's authoritative nameservers",
    )
    add(
        "--cluster-issuer-ambient-credentials",
        action=GoBool,
        default=True,
        help="DNS-01 providers of ClusterIssuers may use ambient credentials",
    )
    add(
        "--issuer-ambient-credentials",
        action=GoBool,
        default=False,
        help="DNS-01 providers of Issuers may use ambient credentials",
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
        help="the controllers to run, with cert-manager's syntax and names: '*' (all), "
        "'-name' turns one off ('*,-certificaterequests-approver' for approver-policy), "
        "'name' runs only those named",
    )
    add(
        "--acme-renewal-info",
        action=GoBool,
        default=True,
        help="follow the renewal window ACME CAs suggest (RFC 9773 renewalInfo) where they "
        "offer it; =false turns it off for every issuer (per issuer: "
        "spec.acme.renewalInformationSource: None)",
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
        "--enable-gateway-api",
        action=GoBool,
        default=False,
        help="Gateway API support (cert-manager's flag): the gateway-shim makes Certificates "
        "for annotated Gateways and gatewayHTTPRoute solvers get an HTTPRoute; needs the "
        "Gateway API CRDs and deploy/gateway-api's RBAC",
    )
    add(
        "--workers",
        "--concurrent-workers",
        dest="workers",
        type=positive_int,
        default=_DEFAULTS.workers,
        help="workers per controller",
    )
    featuregates.add_feature_gates(parser)
    foreignflags.add_foreign_flags(parser)
    parser.set_defaults(ignored_flags=[])


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


def leader_election_problem(args: argparse.Namespace) -> str | None:
    """The leader election timings must nest as client-go's require; None when they do."""
    if not args.leader_elect:
        return None
    lease = args.leader_election_lease_duration
    renew = args.leader_election_renew_deadline
    retry = args.leader_election_retry_period
    if not retry < renew < lease:
        return (
            "need --leader-election-retry-period < --leader-election-renew-deadline < "
            f"--leader-election-lease-duration, got {retry:g}s, {renew:g}s, {lease:g}s"
        )
    if lease != int(lease):
        return f"--leader-election-lease-duration must be whole seconds, got {lease:g}s"
    return None
