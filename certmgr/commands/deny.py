"""``certmgr deny``: mark a CertificateRequest Denied, so it is never signed, as
``cmctl deny`` does (the logic is ``approval``'s). It must not sign anything."""

from __future__ import annotations

import argparse

from certmgr.commands.approval import DENY, configure_decision, run_decision


def configure(parser: argparse.ArgumentParser) -> None:
    configure_decision(parser, DENY)


def run(args: argparse.Namespace) -> int:
    return run_decision(args, DENY)
