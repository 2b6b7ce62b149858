"""Certificate cache benchmark: bytes and CPU per cached Certificate, as its informer keeps it.

Seeds issued Certificates as ``bench/scale.py`` does (``IssuedSeeder``: each with its
issued status, conditions, revision, ``managedFields``), takes them as an API server's
JSON decodes them, and fills a ``Cache`` with them as the Certificate informer's first
list does (its transform, its pack if any, the indexes the controllers add: by Secret
name, by issuer). Prints (it is not a timed test): bytes per Certificate held by the
cache (tracemalloc, the decoded objects dropped), the CPU of the transform + store per
Certificate and of a read back (collections off), and the load average.
``PYTHONPATH=<checkout>`` measures another checkout's code with this script.

    .venv/bin/python bench/certificates_cache.py [--certificates 5000]
"""

from __future__ import annotations

import argparse
import asyncio

from cache_bench import filled_cache, report, seeded

from certmgr.controllers.acme.issuer_refs import ISSUER_INDEX, issuer_ref_index
from certmgr.controllers.certificates.gather import BY_SECRET, _secret_name_index
from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime import manager
from certmgr.runtime.cache import Cache


def filled(encoded: list[bytes]) -> tuple[Cache, float]:
    """The Certificate informer's cache: its transform and pack, the controllers' indexes."""
    return filled_cache(
        encoded,
        transform=manager._TRANSFORMS.get(CERTIFICATES, manager.compact),
        pack=manager._PACKS.get(CERTIFICATES),
        indexes=[(BY_SECRET, _secret_name_index, True), (ISSUER_INDEX, issuer_ref_index, True)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=5000)
    args = parser.parse_args()
    report("issued Certificate", asyncio.run(seeded(CERTIFICATES, args.certificates)), filled)


if __name__ == "__main__":
    main()
