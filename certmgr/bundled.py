"""The manifests certmgr ships: crds/, deploy/ (with deploy/gateway-api/, the kustomize
component for --enable-gateway-api) and examples/, found in the installed
package (``certmgr/data/``, copied there when the wheel is built) or, in a checkout, at
the repository's top. One copy is maintained by hand: the repository's.

Owns finding those folders and reading them in their kustomization order. It must not
change what it reads (``certmgr.commands.manifests`` renders image tags).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

# The folders copied into the wheel (setup.py) and where they live in a checkout.
FOLDERS: Final = ("crds", "deploy", "examples")
# deploy/'s kustomize component for --enable-gateway-api (copied too).
GATEWAY_API_COMPONENT: Final = "gateway-api"
PACKAGED: Final = Path(__file__).resolve().parent / "data"
CHECKOUT: Final = Path(__file__).resolve().parents[1]


def folder(name: str) -> Path:
    """``crds``, ``deploy`` or ``examples``: the packaged copy, else the checkout's."""
    if name not in FOLDERS:
        raise ValueError(f"not a bundled folder: {name!r}")
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def kustomization_files(name: str) -> list[Path]:
    """The folder's manifests in its kustomization.yaml's ``resources`` order (a resource
    naming another folder, ``../crds``, is left to the caller), else sorted by name."""
    base = folder(name)
    index = base / "kustomization.yaml"
    if not index.is_file():
        return sorted(p for p in base.glob("*.yaml"))
    resources = yaml.safe_load(index.read_text()).get("resources") or []
    return [base / entry for entry in resources if not entry.startswith("../")]


def documents(paths: list[Path]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        with path.open() as stream:
            docs.extend(doc for doc in yaml.safe_load_all(stream) if doc)
    return docs
