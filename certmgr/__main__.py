"""``python -m certmgr``: the same entry point as the ``certmgr`` console script."""

from certmgr.cli import main

raise SystemExit(main())
