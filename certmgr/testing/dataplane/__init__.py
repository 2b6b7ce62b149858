"""The data plane for tests and the demo: what kubelet, kube-proxy and ingress-nginx do.

Works against any API server through the project's own Kubernetes client (never the
simulator's internals): :class:`IngressRouter` routes HTTP(S) by Ingress to Services and
their Pods or external names, :class:`PodRunner` runs solver Pods as local processes,
:class:`DataPlane` bundles both. See ``docs/dataplane.md`` for how this maps onto a real
cluster. Nothing in the product may import it.
"""

from certmgr.testing.dataplane.plane import DataPlane
from certmgr.testing.dataplane.pods import PodRunner
from certmgr.testing.dataplane.router import IngressRouter

__all__ = ["DataPlane", "IngressRouter", "PodRunner"]
