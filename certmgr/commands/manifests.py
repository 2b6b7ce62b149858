"""``certmgr manifests``: print the install manifests shipped with this version, as one
YAML stream for ``kubectl apply -f -``.

``crds`` prints the six CRDs, ``deploy`` the namespace, service account, RBAC and
Deployment (images tagged with the installed version), ``all`` (the default) both in
``kubectl apply -k deploy/`` order, ``examples`` the example issuers and Certificate.
``--enable-gateway-api`` applies deploy/gateway-api (what the kustomize component does:
its RBAC added, the flag in the controller's args). It must not talk to a cluster.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

import yaml

from certmgr import __version__, bundled

# The repositories of our image(s) as deploy/ names them; their tags become the version.
OUR_IMAGES: Final = frozenset({"certmgr", "certmgr-solver"})
SOLVER_IMAGE_FLAGS: Final = ("--http01-solver-image=", "--acme-http01-solver-image=")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what",
        nargs="?",
        choices=("all", "crds", "deploy", "examples"),
        default="all",
        help="which manifests (default: all = crds + deploy)",
    )
    parser.add_argument(
        "--enable-gateway-api",
        action="store_true",
        help="with the deploy/gateway-api component: Gateway API RBAC and the controller's "
        "--enable-gateway-api (docs/gateway.md)",
    )
    parser.add_argument(
        "--image",
        default=None,
        metavar="REPOSITORY",
        help="the repository our images are pulled from, e.g. registry.example/certmgr "
        f"(default: certmgr); the tag is always this version, {__version__}",
    )


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(render(args.what, image=args.image, gateway_api=args.enable_gateway_api))
    return 0


def render(what: str, *, image: str | None = None, gateway_api: bool = False) -> str:
    docs: list[dict[str, Any]] = []
    if what in ("all", "crds"):
        docs += bundled.documents(bundled.kustomization_files("crds"))
    if what in ("all", "deploy"):
        docs += [
            tagged(doc, repository=image)
            for doc in bundled.documents(bundled.kustomization_files("deploy"))
        ]
        if gateway_api:
            docs = with_gateway_api(docs)
    if what == "examples":
        docs += bundled.documents(bundled.kustomization_files("examples"))
    return yaml.safe_dump_all(docs, sort_keys=False)


def with_gateway_api(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``docs`` as deploy/gateway-api makes them: its resources added and its patches (JSON
    patch ``add`` operations on the Deployment's list fields, the only kind it has)
    applied."""
    component = bundled.folder("deploy") / bundled.GATEWAY_API_COMPONENT
    index = yaml.safe_load((component / "kustomization.yaml").read_text())
    for patch in index.get("patches") or ():
        target = patch["target"]
        for operation in yaml.safe_load((component / patch["path"]).read_text()):
            for doc in docs:
                if (doc["kind"], doc["metadata"]["name"]) == (target["kind"], target["name"]):
                    _append(doc, operation)
    return docs + bundled.documents([component / name for name in index["resources"]])


def _append(doc: dict[str, Any], operation: dict[str, Any]) -> None:
    """A JSON patch ``add`` to the end of a list (a path ending in ``/-``)."""
    if operation["op"] != "add" or not operation["path"].endswith("/-"):
        raise ValueError(f"unsupported patch operation: {operation}")
    node: Any = doc
    for step in operation["path"].strip("/").split("/")[:-1]:
        node = node[int(step)] if isinstance(node, list) else node[step]
    node.append(operation["value"])


def tagged(doc: dict[str, Any], *, repository: str | None) -> dict[str, Any]:
    """``doc`` with each of our images (containers and the solver image flag) tagged with
    this version, pulled from ``repository`` when given."""
    spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        if "image" in container:
            container["image"] = _retag(container["image"], repository)
        args = [_retag_flag(arg, repository) for arg in container.get("args", [])]
        if (
            repository is not None
            and args[:1] == ["run"]
            and not any(arg.startswith(SOLVER_IMAGE_FLAGS) for arg in args)
        ):
            # Pod mode's solver is the same image: pulled from the same repository.
            args.append(f"{SOLVER_IMAGE_FLAGS[0]}{repository}:{__version__}")
        container["args"] = args
    return doc


def _retag_flag(arg: str, repository: str | None) -> str:
    for flag in SOLVER_IMAGE_FLAGS:
        if arg.startswith(flag):
            return flag + _retag(arg[len(flag) :], repository)
    return arg


def _retag(image: str, repository: str | None) -> str:
    name = image.rsplit("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    base = name[:colon] if colon > slash else name
    if base.rsplit("/", 1)[-1] not in OUR_IMAGES:
        return image
    if repository is not None and base.rsplit("/", 1)[-1] == "certmgr":
        base = repository
    return f"{base}:{__version__}"
