"""``certmgr manifests``: print the install manifests shipped with this version, as one
YAML stream for ``kubectl apply -f -``.

``crds`` prints the six CRDs, ``deploy`` the namespace, service account, RBAC and
Deployment (images tagged with the installed version), ``all`` (the default) both in
``kubectl apply -k deploy/`` order, ``examples`` the example issuers and Certificate. It
must not talk to a cluster.
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
        "--image",
        default=None,
        metavar="REPOSITORY",
        help="the repository our images are pulled from, e.g. registry.example/certmgr "
        f"(default: certmgr); the tag is always this version, {__version__}",
    )


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(render(args.what, image=args.image))
    return 0


def render(what: str, *, image: str | None = None) -> str:
    docs: list[dict[str, Any]] = []
    if what in ("all", "crds"):
        docs += bundled.documents(bundled.kustomization_files("crds"))
    if what in ("all", "deploy"):
        docs += [
            tagged(doc, repository=image)
            for doc in bundled.documents(bundled.kustomization_files("deploy"))
        ]
    if what == "examples":
        docs += bundled.documents(bundled.kustomization_files("examples"))
    return yaml.safe_dump_all(docs, sort_keys=False)


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
