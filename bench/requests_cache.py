"""CertificateRequest cache benchmark: bytes and CPU per cached issued request, as the
request informer keeps it.

Seeds issued Certificates with their requests as ``bench/scale.py`` does
(``IssuedSeeder``: each request issued, approved, its CSR and one-certificate chain,
``managedFields``), takes the requests as an API server's JSON decodes them, and fills a
``Cache`` with them as the request informer's first list does (its transform and pack,
the indexes the controllers add: by Certificate name, by issuer, by private-key Secret).
Prints (it is not a timed test): bytes per request held by the cache (tracemalloc, the
decoded objects dropped), the CPU of the transform + store per request and of a read
back (collections off), and the load average. ``PYTHONPATH=<checkout>`` measures
another checkout's code with this script.

    .venv/bin/python bench/requests_cache.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio

from cache_bench import filled_cache, report, seeded

from certmgr.controllers.acme.issuer_refs import ISSUER_INDEX, request_issuer_ref_index
from certmgr.controllers.certificates.gather import BY_CERTIFICATE, _certificate_name_index
from certmgr.controllers.issuers.signing import KEY_SECRET_INDEX, key_secret_index
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.runtime import manager
from certmgr.runtime.cache import Cache


def filled(encoded: list[bytes]) -> tuple[Cache, float]:
    """The request informer's cache: its transform and pack, the controllers' indexes."""
    return filled_cache(
        encoded,
        transform=manager._TRANSFORMS[CERTIFICATEREQUESTS],
        pack=manager._PACKS.get(CERTIFICATEREQUESTS),
        indexes=[
            (BY_CERTIFICATE, _certificate_name_index, True),
            (ISSUER_INDEX, request_issuer_ref_index, True),
            (KEY_SECRET_INDEX, key_secret_index, True),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    # Seeded with their Orders: the seeder makes requests only beside them.
    encoded = asyncio.run(seeded(CERTIFICATEREQUESTS, args.requests, orders=True))
    report("issued request", encoded, filled)


if __name__ == "__main__":
    main()
