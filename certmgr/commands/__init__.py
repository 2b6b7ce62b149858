"""User-facing kubectl-style commands (the cmctl equivalents): ``renew``, ``status``.

Each command module has ``configure(parser)`` and ``run(args) -> int`` for
``certmgr.cli``; the helpers they share (connection flags, error lines) live in
``connecting``. These commands talk to the API server once and exit: they must not
start controllers, informers or anything that keeps running.
"""
