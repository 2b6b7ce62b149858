"""certmgr: a cert-manager compatible ACME certificate controller for Kubernetes.

The package is layered (see docs/architecture.md): pure data and decisions at the
bottom (``api``, ``pki``, ``policies``), the Kubernetes and ACME doors above them,
the generic controller runtime, the reconcilers, and the composition root on top.
"""

__version__ = "0.1.0"
