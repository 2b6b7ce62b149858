"""Suite-wide pytest configuration. Fixture plugins shipped in certmgr.testing are listed here."""

from collections.abc import Iterator

import pytest

from certmgr.runtime.cache import Cache

pytest_plugins: list[str] = [
    "certmgr.testing.cluster_fixtures",
    "certmgr.testing.pebble_fixtures",
    "certmgr.testing.bind_fixtures",
    "certmgr.testing.apiserver.fixtures",
    "certmgr.testing.dataplane.fixtures",
    "certmgr.testing.route53",
    "certmgr.testing.cached_objects",
]


@pytest.fixture(autouse=True)
def index_functions_pure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every cache a test makes checks, whenever it unfiles an object, that its index
    functions give the values the object was filed under (the cache runs them again
    instead of keeping those values: ``Cache.impure_indexes``)."""
    impure: list[str] = []
    monkeypatch.setattr(Cache, "impure_indexes", impure)
    yield
    assert not impure, f"{len(impure)} unfiling(s) by an impure index function: {impure[:3]}"
