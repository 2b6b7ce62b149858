"""``certmgr approve``: mark a CertificateRequest Approved, as ``cmctl approve`` does
(the logic is ``approval``'s). It must not sign anything."""

from __future__ import annotations

import argparse

from certmgr.commands.approval import APPROVE, configure_decision, run_decision


def configure(parser: argparse.ArgumentParser) -> None:
    configure_decision(parser, APPROVE)


def run(args: argparse.Namespace) -> int:
    return run_decision(args, APPROVE)
