"""Builders for the objects data plane tests create: solver Pods, Services, Ingresses,
TLS Secrets.

Owns the JSON shapes (as at the client's edge) of what cert-manager creates to present
an HTTP-01 challenge, so tests here and end to end tests describe them the same way.
It must not do I/O.
"""

from __future__ import annotations

import base64
from typing import Any

NAMESPACE = "default"


def solver_pod(
    name: str, *, domain: str, token: str, key: str, image: str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    """The Pod cert-manager creates for an HTTP-01 challenge (its acmesolver's args)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"solver": name}},
        "spec": {
            "restartPolicy": "OnFailure",
            "containers": [
                {
                    "name": "acmesolver",
                    "image": image,
                    "args": [
                        "--listen-port=8089",
                        f"--domain={domain}",
                        f"--token={token}",
                        f"--key={key}",
                    ],
                    "ports": [{"name": "http", "containerPort": 8089}],
                }
            ],
        },
    }


def selector_service(
    name: str, *, selector: dict[str, str], target: int | str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "NodePort",
            "selector": selector,
            "ports": [{"name": "http", "port": 8089, "targetPort": target}],
        },
    }


def external_service(
    name: str, *, address: str, port: int, namespace: str = NAMESPACE
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "ExternalName",
            "externalName": address,
            "ports": [{"name": "http", "port": port}],
        },
    }


def tls_secret(name: str, *, chain: bytes, key: bytes, namespace: str) -> dict[str, Any]:
    """A ``kubernetes.io/tls`` Secret holding PEM ``chain`` (leaf first) and ``key``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(chain).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }


def ingress(
    name: str,
    *,
    host: str | None,
    paths: list[tuple[str, str, str, int]],
    ingress_class: str | None = "nginx",
    annotation_class: str | None = None,
    tls: list[dict[str, Any]] | None = None,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """``paths``: (path, pathType, service name, service port number)."""
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": path,
                    "pathType": path_type,
                    "backend": {"service": {"name": service, "port": {"number": port}}},
                }
                for path, path_type, service, port in paths
            ]
        }
    }
    if host is not None:
        rule["host"] = host
    spec: dict[str, Any] = {"rules": [rule]}
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    if tls is not None:
        spec["tls"] = tls
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotation_class is not None:
        meta["annotations"] = {"kubernetes.io/ingress.class": annotation_class}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}
