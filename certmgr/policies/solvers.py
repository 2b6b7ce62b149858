"""Which ACME solver of an issuer answers a given identifier (cert-manager's solver picker).

Owns: `select_solver`, with cert-manager's precedence: a matching `selector.dnsNames` entry
beats any `dnsZones` match; among zone matches the most specific zone (most labels) wins;
then the most `matchLabels` (all of which must match); then list order. A solver without a
selector matches everything with the lowest priority. Solvers whose type the ACME server
did not offer for the authorization are skipped.
Must not: know about Kubernetes objects or do I/O: callers pass small views.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

# "none": a solver certmgr cannot serve (no type it solves): never offered, never selected.
ChallengeType: TypeAlias = Literal["http-01", "dns-01", "none"]


@dataclass(frozen=True, slots=True)
class SolverSelector:
    """A solver's `selector`; an empty selector matches everything, like an absent one."""

    dns_names: tuple[str, ...] = ()
    dns_zones: tuple[str, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class SolverSelectorView:
    """One entry of `spec.acme.solvers`: its type and its selector (None when omitted)."""

    challenge_type: ChallengeType
    selector: SolverSelector | None = None


@dataclass(frozen=True, slots=True)
class _Score:
    dns_names: int
    dns_zones: int
    labels: int


def select_solver(
    solvers: Sequence[SolverSelectorView],
    *,
    dns_name: str,
    certificate_labels: Mapping[str, str],
    offered_challenge_types: Collection[str] | None = None,
) -> int | None:
    """The index of the solver to use for `dns_name`, or None when none matches.

    `dns_name` is the identifier as cert-manager matches it: `*.example.com` for a
    wildcard authorization. `offered_challenge_types` (None means "any") are the challenge
    types the ACME authorization offers.
    """
    selected: int | None = None
    best = _Score(0, 0, 0)
    for index, solver in enumerate(solvers):
        if (
            offered_challenge_types is not None
            and solver.challenge_type not in offered_challenge_types
        ):
            continue
        if solver.selector is None:
            if selected is None:  # match-all: only if nothing matched before it
                selected, best = index, _Score(0, 0, 0)
            continue
        score = _score(solver.selector, dns_name=dns_name, labels=certificate_labels)
        if score is None:
            continue
        if selected is None or _better(score, than=best):
            selected, best = index, score
    return selected


def _better(candidate: _Score, *, than: _Score) -> bool:
    """cert-manager's comparison; a tie keeps the earlier solver (list order)."""
    if (candidate.dns_names > 0) != (than.dns_names > 0):
        return candidate.dns_names > 0
    if candidate.dns_zones != than.dns_zones:
        # Zones compare by specificity both when both matched dnsNames and when neither did
        # (a zone match of 0 labels means "no zone selector").
        return candidate.dns_zones > than.dns_zones
    return candidate.labels > than.labels


def _score(selector: SolverSelector, *, dns_name: str, labels: Mapping[str, str]) -> _Score | None:
    """How specifically `selector` matches, or None if any of its parts does not match."""
    label_matches = 0
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return None
        label_matches += 1
    name_matches = 0
    if selector.dns_names:
        if dns_name not in selector.dns_names:
            return None
        name_matches = 1  # several equal entries add no weight
    zone_matches = 0
    if selector.dns_zones:
        zone_matches = max(
            (_zone_labels_matched(z, dns_name) for z in selector.dns_zones), default=0
        )
        if zone_matches == 0:
            return None
    return _Score(dns_names=name_matches, dns_zones=zone_matches, labels=label_matches)


def _zone_labels_matched(zone: str, dns_name: str) -> int:
    """The zone's label count if `dns_name` is the zone or inside it, else 0 (case-insensitive)."""
    zone_labels = _labels(zone)
    name_labels = _labels(dns_name)
    if not zone_labels or len(zone_labels) > len(name_labels):
        return 0
    if name_labels[len(name_labels) - len(zone_labels) :] != zone_labels:
        return 0
    return len(zone_labels)


def _labels(name: str) -> list[str]:
    stripped = name.strip().rstrip(".").lower()
    return stripped.split(".") if stripped else []
