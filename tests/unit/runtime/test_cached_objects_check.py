"""The suite-wide check that cached objects are not changed in place sees such a change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.runtime.informer import compact
from certmgr.testing.cached_objects import Recorder

CERTIFICATE = {
    "metadata": {"name": "web", "namespace": "apps", "resourceVersion": "1"},
    "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"]},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


@pytest.mark.parametrize(
    ("change", "seen"),
    [
        pytest.param(lambda o: o["metadata"].__setitem__("name", "x"), True, id="a-value-set"),
        pytest.param(lambda o: o["spec"]["dnsNames"].append("b"), True, id="a-list-appended"),
        pytest.param(lambda o: o["status"].pop("conditions"), True, id="a-key-popped"),
        pytest.param(
            lambda o: o["status"]["conditions"][0].update(status="False"), True, id="nested-update"
        ),
        pytest.param(
            lambda o: copy.deepcopy(o)["spec"].__setitem__("secretName", "y"),
            False,
            id="a-deep-copy-changed",
        ),
        pytest.param(lambda o: dict(o).pop("spec"), False, id="a-shallow-copy-popped"),
    ],
)
def test_a_change_in_place_to_a_stored_object_is_seen(change: Any, seen: bool) -> None:
    recorder = Recorder()
    stored = recorder.recording(compact)(copy.deepcopy(CERTIFICATE))
    assert recorder.changed() == []
    change(stored)
    assert bool(recorder.changed()) is seen
