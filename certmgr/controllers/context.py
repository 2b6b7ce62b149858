"""What every reconciler is handed: the Kubernetes door, the shared caches, the clock, the
event recorder, the ACME connector and the settings.

Owns ``Settings`` (every knob of the controllers, with cert-manager's defaults and the
flag names of ``certmgr run``) and ``Context``. It must not hold state that belongs in
the API: reconcilers keep nothing between reconciles except caches of connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from certmgr import __version__
from certmgr.acme.protocol import AcmeConnector
from certmgr.kube.protocol import KubeAPI
from certmgr.runtime.clock import Clock
from certmgr.runtime.manager import Manager

SolverMode = Literal["shared", "pod"]
EventType = Literal["Normal", "Warning"]


class Events(Protocol):
    """Records a Kubernetes Event about ``obj``; never raises, never blocks a reconcile."""

    def event(self, obj: dict[str, Any], type_: EventType, reason: str, message: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Settings:
    # Where ClusterIssuer Secrets (account keys, EAB keys, CA bundles) live.
    cluster_resource_namespace: str = "certmgr"
    # cert-manager's issuance backoff: base * 2^(n-1) after n failures, capped.
    issuance_backoff_base: timedelta = timedelta(hours=1)
    issuance_backoff_cap: timedelta = timedelta(hours=32)
    # HTTP-01 solving.
    solver_mode: SolverMode = "shared"
    # Shared mode: where ingress controllers reach the solver that runs in every replica
    # (each namespace's shared solver Service is an ExternalName Service pointing here).
    shared_solver_host: str = "certmgr-solver.certmgr.svc.cluster.local"
    # Shared mode: the namespace's Service has no selector and each replica lists itself
    # in an EndpointSlice of it ("EndpointSlice": ingress-nginx, Traefik, Contour,
    # HAProxy... route it), or is an ExternalName to shared_solver_host ("ExternalName":
    # refused by default by Traefik and Contour, unsupported by GKE's ingress).
    # `certmgr run` defaults to EndpointSlice; ExternalName here is for harnesses that run
    # the controllers in-process without publishing EndpointSlices.
    shared_solver_service_type: Literal["EndpointSlice", "ExternalName"] = "ExternalName"
    shared_solver_port: int = 8089
    # Shared mode: one solver Service per namespace (not per Challenge), deleted once the
    # namespace has had no Challenge for this long (seconds).
    shared_solver_service_linger: float = 600.0
    # Pod mode: the image run by the per-challenge Pod with cert-manager's acmesolver args:
    # by default our one image (deploy/image: it runs the solver when given those args).
    solver_image: str = f"certmgr:{__version__}"
    # The self-check: fetch http://<name>:<port>/.well-known/acme-challenge/<token> itself,
    # resolving names through this DNS server when given ("host:port"), else the system's.
    self_check_port: int = 80
    self_check_nameserver: str | None = None
    # One success, as cert-manager (measured: see controllers/acme/challenges.py).
    self_check_successes: int = 1
    # Spacing of the self-checks a Challenge wants (self_check_successes > 1), and the
    # first wait after a miss; misses in a row double it, per Challenge and with jitter,
    # up to the cap (cert-manager backs a failing Challenge off to minutes too).
    self_check_interval: float = 0.2
    self_check_backoff_cap: float = 120.0
    max_concurrent_challenges: int = 60
    # DNS-01 (cert-manager's flags): the recursive nameservers ("host:port") for the
    # CNAME, SOA and NS lookups (empty: /etc/resolv.conf's); with ..._only the
    # propagation check asks them instead of the zone's authoritative nameservers.
    dns01_recursive_nameservers: tuple[str, ...] = ()
    dns01_recursive_nameservers_only: bool = False
    # Whether DNS-01 providers may use ambient credentials (the pod's cloud identity).
    cluster_issuer_ambient_credentials: bool = True
    issuer_ambient_credentials: bool = False
    # ACME polling (authorizations, finalize): short and growing (with jitter), never the
    # library's; a CA that keeps an order or a challenge waiting is asked ~1/min at most.
    acme_poll_base: float = 0.05
    acme_poll_cap: float = 60.0
    # Upper bound of the renewal jitter (it can only lower pki's own cap of min(1 % of the
    # lifetime, 10 min)). The offset itself is derived from the certificate's bytes, so
    # every reconcile and every restart computes the same one; status.renewalTime shows it.
    renewal_jitter_max: timedelta = timedelta(minutes=10)
    # Time-driven (re)issuances (renewal due, expired) started per second, and at once:
    # after downtime, overdue certificates renew at this pace instead of all together.
    renewal_rate_qps: float = 10.0
    renewal_rate_burst: int = 50
    # ACME Renewal Information (RFC 9773): follow the CA's suggested renewal window where
    # the directory offers renewalInfo (per issuer: spec.acme.renewalInformationSource
    # None turns it off). Fetches start at most this many per second, so a restart with
    # many certificates whose next check is due spreads them out.
    acme_renewal_info: bool = True
    renewal_info_fetch_qps: float = 10.0
    # ingress-shim defaults (--default-issuer-name/-kind/-group).
    default_issuer_name: str | None = None
    default_issuer_kind: str = "Issuer"
    default_issuer_group: str = "cert-manager.io"
    # Normal Events on CertificateRequests, Orders and Challenges (intermediate objects
    # whose status says the same): off by default, each is an API write.
    detailed_events: bool = False
    # cert-manager's --enable-certificate-owner-ref: the Secret is owned by its Certificate
    # (controller reference keyed by the Certificate's UID), so deleting the Certificate
    # deletes the Secret. Off: a reference to the Certificate that we set is removed.
    enable_certificate_owner_ref: bool = False
    # Workers (coroutines) per controller. The ACME controllers spend most of a reconcile
    # waiting on the CA; 16 measured 13.4-14.2 certificates/s for a batch of 200 against
    # 11.5-12.5 with 4 (docs/benchmarks.md). The work queue still never runs one key twice.
    workers: int = 16
    # cert-manager's --enable-gateway-api: the gateway-shim runs and gatewayHTTPRoute
    # solvers are presented (HTTPRoutes); off, neither touches the Gateway API.
    enable_gateway_api: bool = False
    # cert-manager's controller names turned off with --controllers ("*,-name").
    disabled_controllers: frozenset[str] = frozenset()

    def runs(self, controller: str) -> bool:
        """Whether the controller of cert-manager's name ``controller`` is on."""
        return controller not in self.disabled_controllers


@dataclass(slots=True)
class Context:
    client: KubeAPI
    manager: Manager
    clock: Clock
    events: Events
    acme: AcmeConnector
    settings: Settings = field(default_factory=Settings)
