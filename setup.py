"""Build hook: the wheel carries crds/, deploy/ and examples/ as certmgr/data/ (package
data read by certmgr.bundled), copied from the repository at build time so there is no
second copy to maintain. Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
FOLDERS = ("crds", "deploy", "examples")
# Kustomize components shipped too (their YAML; they patch what FOLDERS hold).
COMPONENTS = ("deploy/gateway-api",)


class BuildWithManifests(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "certmgr" / "data"
        for name in (*FOLDERS, *COMPONENTS):
            destination = target / name
            shutil.rmtree(destination, ignore_errors=True)
            destination.mkdir(parents=True)
            # The YAML at each folder's top only: deploy/image/ (the image build) is not data.
            for source in sorted((HERE / name).glob("*.yaml")):
                shutil.copyfile(source, destination / source.name)


setup(cmdclass={"build_py": BuildWithManifests})
