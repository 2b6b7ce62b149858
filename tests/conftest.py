"""Suite-wide pytest configuration. Fixture plugins shipped in certmgr.testing are listed here."""

pytest_plugins: list[str] = [
    "certmgr.testing.cluster_fixtures",
    "certmgr.testing.pebble_fixtures",
    "certmgr.testing.bind_fixtures",
    "certmgr.testing.apiserver.fixtures",
    "certmgr.testing.dataplane.fixtures",
    "certmgr.testing.route53",
    "certmgr.testing.cached_objects",
]
