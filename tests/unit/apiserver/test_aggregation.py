"""kube-aggregator's pure rules: request attributes of proxied paths, discovery order."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.apiserver.aggregation import (
    aggregated_groups,
    claimed,
    request_attributes,
)
from certmgr.testing.apiserver.auth import RequestAttributes


@pytest.mark.parametrize(
    ("method", "path", "query_watch", "expected"),
    [
        pytest.param("GET", "/apis/g.io/v1", False, None, id="discovery"),
        pytest.param(
            "POST",
            "/apis/g.io/v1alpha1/solver",
            False,
            RequestAttributes("create", "g.io", "solver", "", "", ""),
            id="create",
        ),
        pytest.param(
            "GET",
            "/apis/g.io/v1/namespaces/ns/things/a/status",
            False,
            RequestAttributes("get", "g.io", "things", "status", "ns", "a"),
            id="namespaced-subresource",
        ),
        pytest.param(
            "GET",
            "/apis/g.io/v1/watch/things",
            False,
            RequestAttributes("watch", "g.io", "things", "", "", ""),
            id="watch-prefix",
        ),
        pytest.param(
            "GET",
            "/apis/g.io/v1/things",
            True,
            RequestAttributes("watch", "g.io", "things", "", "", ""),
            id="watch-param",
        ),
        pytest.param(
            "DELETE",
            "/apis/g.io/v1/namespaces/ns/things",
            False,
            RequestAttributes("deletecollection", "g.io", "things", "", "ns", ""),
            id="deletecollection",
        ),
        pytest.param(
            "GET",
            "/apis/g.io/v1/namespaces/ns",
            False,
            RequestAttributes("get", "g.io", "namespaces", "", "", "ns"),
            id="namespace-itself",
        ),
    ],
)
def test_request_attributes_as_kube_apiserver_parses_them(
    method: str, path: str, query_watch: bool, expected: RequestAttributes | None
) -> None:
    claim = claimed(path)
    assert claim is not None
    group, _, rest = claim
    assert request_attributes(method, group, rest=rest, watch=query_watch) == expected


@pytest.mark.parametrize("path", ["/apis", "/apis/g.io", "/api/v1/pods", "/healthz"])
def test_paths_outside_a_group_version_are_not_claimed(path: str) -> None:
    assert claimed(path) is None


def apiservice(group: str, version: str, group_priority: int, version_priority: int) -> Any:
    return {
        "metadata": {"name": f"{version}.{group}"},
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": group_priority,
            "versionPriority": version_priority,
            "service": {"namespace": "ns", "name": "svc", "port": 443},
        },
    }


def test_groups_and_versions_come_in_kube_aggregators_order() -> None:
    listed = aggregated_groups(
        [
            apiservice("b.io", "v1alpha1", 1000, 15),
            apiservice("a.io", "v1", 1000, 15),
            apiservice("a.io", "v2beta1", 1000, 15),
            apiservice("a.io", "v1beta1", 1000, 20),
            apiservice("c.io", "v1", 2000, 15),
            {"metadata": {"name": "v1.local.io"}, "spec": {"group": "local.io", "version": "v1"}},
        ]
    )
    assert listed == [
        ("c.io", ["v1"]),
        ("a.io", ["v1beta1", "v1", "v2beta1"]),
        ("b.io", ["v1alpha1"]),
    ]
