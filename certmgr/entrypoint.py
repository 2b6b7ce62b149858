"""The container image's ENTRYPOINT: one image for the controller and the pod-mode solver.

A cert-manager solver Pod sets only ``args`` (acmesolver's ``--listen-port``, ``--domain``,
``--token``, ``--key``), never ``command``; so arguments that start with one of those flags
run the solver (``solvers.__main__``), and anything else is the ``certmgr`` command line
(``certmgr run ...``). It must not hold logic of either.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

SOLVER_FLAGS = ("--listen-port", "--listen-host", "--domain", "--token", "--key")


def is_solver(argv: Sequence[str]) -> bool:
    return bool(argv) and argv[0].split("=", 1)[0] in SOLVER_FLAGS


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if is_solver(argv):
        from solvers.__main__ import main as solver_main

        return solver_main(argv)
    from certmgr.cli import main as certmgr_main

    return certmgr_main(argv)


if __name__ == "__main__":
    sys.exit(main())
