"""cert-manager's ``--feature-gates`` on ``certmgr run``: a gate certmgr has a setting for
sets that setting; every other gate is reported ignored.

Owns parsing the flag as Go's ``map[string]bool`` flag does (``Name=true,Other=false``,
values as ``strconv.ParseBool`` reads them) and the mapping: ``ACMEUseARI`` (cert-manager
1.21's alpha gate for RFC 9773 renewal information) is ``--acme-renewal-info``, later
flags winning as usual. It must not parse any other flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Final

from certmgr.flagvalues import go_bool

# gate -> the ``certmgr run`` destination it sets (a boolean flag of ours)
GATE_SETTINGS: Final = {"ACMEUseARI": "acme_renewal_info"}
IGNORED_WHY: Final = "certmgr has no such feature gate"


def parse_gates(text: str) -> dict[str, bool]:
    """``A=true,B=false`` -> {"A": True, "B": False}; ValueError names what is wrong."""
    gates: dict[str, bool] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        name = name.strip()
        if not name:
            continue
        if not sep:
            raise ValueError(f"missing bool value for {name}")
        try:
            gates[name] = go_bool(value.strip())
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"invalid value of {name}={value.strip()}: {exc}") from None
    return gates


class FeatureGates(argparse.Action):
    """``--feature-gates``: known gates set their flag, the others land in ``ignored_flags``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        try:
            gates = parse_gates(str(values or ""))
        except ValueError as exc:
            parser.error(f"argument {option_string}: {exc}")
        ignored: list[str] = list(getattr(namespace, "ignored_flags", []))
        for name, enabled in gates.items():
            setting = GATE_SETTINGS.get(name)
            if setting is None:
                ignored.append(f"{option_string}: {name}: {IGNORED_WHY}")
            else:
                setattr(namespace, setting, enabled)
        namespace.ignored_flags = ignored


def add_feature_gates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feature-gates",
        action=FeatureGates,
        metavar="NAME=BOOL,...",
        help="cert-manager's feature gates: ACMEUseARI=true|false is --acme-renewal-info; "
        "any other gate is accepted with a warning and changes nothing",
    )
