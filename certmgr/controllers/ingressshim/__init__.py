"""ingress-shim: Certificates for annotated Ingresses, as cert-manager's certificate-shim.

An Ingress annotated ``cert-manager.io/issuer``, ``cert-manager.io/cluster-issuer`` or
``kubernetes.io/tls-acme: "true"`` (with a default issuer) gets one Certificate per
``spec.tls`` entry, owned by it. ``values`` parses Go's value syntax, ``annotations``
gives the annotations their meaning, ``desired`` builds the wanted Certificates,
``merging`` compares them with existing ones, ``sync`` writes. See docs/ingress-shim.md.
This package must not touch a Certificate the Ingress does not control.
"""

from certmgr.controllers.ingressshim.sync import NAME, IngressShim, setup

__all__ = ["NAME", "IngressShim", "setup"]
