"""APF classification and seats, without a server."""

from __future__ import annotations

import pytest

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.auth import ANONYMOUS, UserInfo
from certmgr.testing.apiserver.flowcontrol import (
    EXEMPT,
    FLOW_SCHEMA_HEADER,
    GLOBAL_DEFAULT,
    PRIORITY_LEVEL_HEADER,
    PROBES,
    SERVICE_ACCOUNT_FLOW,
    Flow,
    FlowControl,
    classify,
)

ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))
ACCOUNT = UserInfo(
    "system:serviceaccount:certmgr:certmgr",
    ("system:serviceaccounts", "system:serviceaccounts:certmgr", "system:authenticated"),
)
ALICE = UserInfo("alice", ("system:authenticated",))


@pytest.mark.parametrize(
    ("user", "path", "flow"),
    [
        (ADMIN, "/api/v1/secrets", EXEMPT),
        (ACCOUNT, "/api/v1/secrets", SERVICE_ACCOUNT_FLOW),
        (ALICE, "/api/v1/secrets", GLOBAL_DEFAULT),
        (ANONYMOUS, "/version", GLOBAL_DEFAULT),
        (ACCOUNT, "/livez/ping", PROBES),
        (ALICE, "/readyz", PROBES),
        (ALICE, "/healthz/etcd", PROBES),
        (ALICE, "/livezz", GLOBAL_DEFAULT),
    ],
    ids=[
        "masters-exempt", "service-account", "user", "anonymous", "ping-probe", "readyz-probe",
        "healthz-check", "not-a-probe",
    ],
)  # fmt: skip
def test_classify(user: UserInfo, path: str, flow: Flow) -> None:
    assert classify(user, path) == flow


def test_headers_are_stable_uids_per_schema_and_level() -> None:
    assert EXEMPT.headers()[PRIORITY_LEVEL_HEADER] == PROBES.headers()[PRIORITY_LEVEL_HEADER]
    assert EXEMPT.headers()[FLOW_SCHEMA_HEADER] != PROBES.headers()[FLOW_SCHEMA_HEADER]
    assert GLOBAL_DEFAULT.headers() == Flow("global-default", "global-default").headers()


def test_seats_refuse_beyond_the_cap_and_come_back() -> None:
    control = FlowControl(max_in_flight=2)
    with control.seat(GLOBAL_DEFAULT), control.seat(SERVICE_ACCOUNT_FLOW):
        with pytest.raises(errors.StatusError) as refused, control.seat(GLOBAL_DEFAULT):
            pass  # pragma: no cover - the seat is refused before the body runs
        with control.seat(EXEMPT), control.seat(PROBES):
            assert control.in_flight == 2  # exempt requests take no seat
    assert refused.value.code == 429
    assert refused.value.headers == {"Retry-After": "1"}
    assert (control.in_flight, control.peak_in_flight, control.rejected) == (0, 2, 1)
    with control.seat(GLOBAL_DEFAULT):
        assert control.in_flight == 1


@pytest.mark.parametrize(("enabled", "cap"), [(True, None), (False, 1)], ids=["no-cap", "apf-off"])
def test_no_seats_without_a_cap_or_without_apf(enabled: bool, cap: int | None) -> None:
    control = FlowControl(enabled=enabled, max_in_flight=cap)
    with control.seat(GLOBAL_DEFAULT), control.seat(GLOBAL_DEFAULT):
        assert control.rejected == 0
