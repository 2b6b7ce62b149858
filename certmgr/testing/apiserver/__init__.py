"""In-process Kubernetes API simulator: the server, its storage and the pure checks it runs.

``Simulator`` is the entry point (see ``server.py``); the pure checks (schema,
patching, selectors, names) are separate modules the handlers call. Nothing in the
product imports this package.
"""

from certmgr.testing.apiserver.server import Simulator

__all__ = ["Simulator"]
