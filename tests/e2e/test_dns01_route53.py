"""DNS-01 end to end through Route 53: an Issuer with a route53 solver, the local Route 53
(moto's server behind certmgr's peer) holding the hosted zone, and Pebble validating the
TXT records the peer's name server answers from that zone."""

from __future__ import annotations

import pytest

from certmgr.kube.resources import SECRETS
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.pebble import PebbleServer
from certmgr.testing.route53 import REGION, Route53PeerProcess
from tests.e2e.dns01_issuance import issue_wildcard_and_apex, secret
from tests.e2e.test_acme_controllers import running_world

FQDN = "_acme-challenge.example.test."


@pytest.mark.usefixtures("aws_at_route53_peer")
@pytest.mark.parametrize(
    ("throttled", "pending_polls"),
    [
        pytest.param(0, 0, id="steady"),
        # Route 53 on a busy day: the first change throttled, every change PENDING for
        # two GetChange polls.
        pytest.param(1, 2, id="throttled-and-pending"),
    ],
)
async def test_a_wildcard_and_apex_certificate_is_issued_through_route53(
    kube_cluster: KubeCluster,
    route53_peer: Route53PeerProcess,
    route53_pebble: PebbleServer,
    throttled: int,
    pending_polls: int,
) -> None:
    world53 = route53_peer.seed()
    route53_peer.throttle("ChangeResourceRecordSets", times=throttled)
    route53_peer.pending_polls(pending_polls)
    host, port = route53_peer.dns_address
    async with running_world(
        kube_cluster,
        route53_pebble,
        with_certificates=True,
        dns01_recursive_nameservers=(f"{host}:{port}",),
        dns01_recursive_nameservers_only=True,
    ) as world:
        aws = secret(
            "aws",
            namespace=world.namespace,
            id=world53.assumer.access_key_id,
            secret=world53.assumer.secret_access_key,
        )
        await world.kube.create(SECRETS, aws, namespace=world.namespace)
        solver = {
            "dns01": {
                "route53": {
                    "region": REGION,
                    "role": world53.role_arn,
                    "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
                    "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
                }
            }
        }
        await world.issuer(solvers=[solver])
        await issue_wildcard_and_apex(
            world,
            through=f"Route 53 ({throttled} throttled, {pending_polls} PENDING polls per change)",
        )
        assert route53_peer.txt_values(world53, zone="example.test", name=FQDN) == set()

        calls = route53_peer.calls()
        changes = [status for op, status in calls if op == "ChangeResourceRecordSets"]
        # The throttled ones, then two UPSERTs and two DELETEs.
        assert changes.count(400) == throttled and changes.count(200) == 4
        assert ("AssumeRole", 200) in calls
        # The throttled call was asked again without a Warning: it is not an error yet.
        events = world.controllers.events.events
        assert not [e for e in events if e[1] == "Warning"], events
