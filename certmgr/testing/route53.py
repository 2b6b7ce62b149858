"""The local Route 53 for tests: start the peer process, seed its accounts and zones, steer it.

Owns ``Route53PeerProcess`` (``python -m certmgr.testing.route53_peer`` on loopback ports,
stopped by PID), ``Route53World`` (the IAM users, role and hosted zones every test starts
from, with authentication switched on afterwards) and the pytest fixtures (the peer,
a Pebble that resolves with the peer's name server, this process's AWS SDK pointed at the
peer and at nothing else of the machine). The seed and
the control calls are blocking: call them from fixtures or ``asyncio.to_thread``. It must
not be imported by certmgr itself.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
import pytest

from certmgr.dns01.route53 import forget_in_flight
from certmgr.dns01.route53_clients import forget_clients
from certmgr.testing.pebble import PebbleConfig, PebbleServer
from certmgr.testing.pebble_processes import ManagedProcess, spawn

ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"
ROLE_NAME: Final = "certmgr-dns"
START_TIMEOUT: Final = 60.0
# Moto accepts anything while its authentication is off; the seed uses these.
_SEED_KEYS: Final = {"aws_access_key_id": "seed", "aws_secret_access_key": "seed"}
_ROUTE53_ALL: Final = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["route53:*"], "Resource": "*"}],
}
_ASSUME_ONLY: Final = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"}],
}
# moto checks a trust policy's principal only when it names the caller's ARN exactly.
_TRUST_ASSUMER: Final = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/assumer"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True, slots=True)
class Route53World:
    """What a test starts from: zone names -> hosted zone ids, and three identities."""

    zones: dict[str, str]
    private_zones: dict[str, str]
    # Allowed route53:*.
    dns_admin: AccessKey
    # Allowed sts:AssumeRole only: Route 53 works for it through ``role_arn``.
    assumer: AccessKey
    role_arn: str


class Route53PeerProcess:
    """One running peer: moto behind the corrections and fault layer, plus its DNS."""

    def __init__(self, process: ManagedProcess, *, http_port: int, dns_port: int) -> None:
        self.process = process
        self.endpoint_url = f"http://127.0.0.1:{http_port}"
        self.dns_address = ("127.0.0.1", dns_port)

    @classmethod
    def start(cls, workdir: Path) -> Route53PeerProcess:
        ready = workdir / "route53-peer.json"
        process = spawn(
            [sys.executable, "-m", "certmgr.testing.route53_peer", "--ready-file", str(ready)],
            name="route53-peer",
            log_path=workdir / "route53-peer.log",
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
            cwd=workdir,
        )
        # Waiting on a condition (the file appears) with a generous bound, not a margin.
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if not process.alive() or time.monotonic() > deadline:
                process.stop()
                raise RuntimeError(f"route53 peer did not start:\n{process.log_tail()}")
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
        return cls(process, http_port=ports["http_port"], dns_port=ports["dns_port"])

    def stop(self) -> None:
        self.process.stop()

    # -- steering -------------------------------------------------------------------

    def _post(self, path: str, body: bytes, content_type: str = "application/json") -> Any:
        request = urllib.request.Request(
            self.endpoint_url + path,
            data=body,
            method="POST",
            headers={"Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def reset(self) -> None:
        """Empty moto, clear the faults and the call log, authentication off; the
        provider's cached clients (credentials of the last seed) and changes in flight
        are forgotten."""
        forget_clients()
        forget_in_flight()
        self._post("/moto-api/reset-auth", b"inf", "text/plain")
        self._post("/_peer/reset", b"{}")

    def require_authentication(self) -> None:
        """From now on every request is signature-checked and authorized by IAM policy."""
        self._post("/moto-api/reset-auth", b"0", "text/plain")

    def throttle(self, operation: str, *, times: int) -> None:
        """The next ``times`` requests of ``operation`` get Route 53's 400 Throttling."""
        self._post("/_peer/throttle", json.dumps({"operation": operation, "times": times}).encode())

    def pending_polls(self, polls: int) -> None:
        """Changes made from now on answer PENDING to ``polls`` GetChange calls first."""
        self._post("/_peer/pending", json.dumps({"polls": polls}).encode())

    def calls(self) -> list[tuple[str, int]]:
        """(operation, HTTP status) of every request since the last reset, in order."""
        with urllib.request.urlopen(self.endpoint_url + "/_peer/calls", timeout=30) as answer:
            return [(call["operation"], call["status"]) for call in json.loads(answer.read())]

    def client(self, service: str, key: AccessKey | None = None) -> Any:
        keys = (
            {"aws_access_key_id": key.access_key_id, "aws_secret_access_key": key.secret_access_key}
            if key is not None
            else _SEED_KEYS
        )
        # Any service by name: the stubs type boto3.client per literal service name only.
        make_client: Any = boto3.client
        return make_client(service, endpoint_url=self.endpoint_url, region_name=REGION, **keys)

    def seed(
        self,
        *,
        zones: tuple[str, ...] = ("example.test",),
        private_zones: tuple[str, ...] = (),
    ) -> Route53World:
        """Reset, then create the identities and zones, then require authentication."""
        self.reset()
        iam = self.client("iam")
        route53 = self.client("route53")
        dns_admin = _user(iam, "dns-admin", _ROUTE53_ALL)
        assumer = _user(iam, "assumer", _ASSUME_ONLY)
        role = iam.create_role(
            RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST_ASSUMER)
        )["Role"]
        iam.put_role_policy(
            RoleName=ROLE_NAME, PolicyName="route53", PolicyDocument=json.dumps(_ROUTE53_ALL)
        )
        public = {
            name: _zone_id(route53.create_hosted_zone(Name=name, CallerReference=name))
            for name in zones
        }
        private = {
            name: _zone_id(
                route53.create_hosted_zone(
                    Name=name,
                    CallerReference=f"private-{name}",
                    HostedZoneConfig={"PrivateZone": True},
                    VPC={"VPCRegion": REGION, "VPCId": "vpc-12345678"},
                )
            )
            for name in private_zones
        }
        self.require_authentication()
        return Route53World(
            zones=public,
            private_zones=private,
            dns_admin=dns_admin,
            assumer=assumer,
            role_arn=role["Arn"],
        )

    def txt_values(self, world: Route53World, *, zone: str, name: str) -> set[str]:
        """The TXT values moto holds at ``name`` (every multivalue record set), unquoted."""
        route53 = self.client("route53", world.dns_admin)
        record_sets = route53.list_resource_record_sets(HostedZoneId=world.zones[zone])
        wanted = name if name.endswith(".") else name + "."
        return {
            record["Value"].strip('"')
            for record_set in record_sets["ResourceRecordSets"]
            if record_set["Type"] == "TXT" and record_set["Name"] == wanted
            for record in record_set.get("ResourceRecords", [])
        }


def _user(iam: Any, name: str, policy: dict[str, Any]) -> AccessKey:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return AccessKey(key["AccessKeyId"], key["SecretAccessKey"])


def _zone_id(answer: dict[str, Any]) -> str:
    return str(answer["HostedZone"]["Id"]).removeprefix("/hostedzone/")


def isolate_aws_sdk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, endpoint_url: str | None = None
) -> None:
    """No credentials, config or instance metadata of this machine reach the AWS SDK; with
    ``endpoint_url``, the SDK's own endpoint variable points it at the peer (cert-manager
    has no endpoint field either)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    if endpoint_url is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_at_route53_peer(
    route53_peer: Route53PeerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The AWS SDK of this process pointed at the (emptied) peer, nothing else of the
    machine's AWS setup used."""
    isolate_aws_sdk(monkeypatch, tmp_path, endpoint_url=route53_peer.endpoint_url)


@pytest.fixture(scope="session")
def route53_peer_process() -> Iterator[Route53PeerProcess]:
    with tempfile.TemporaryDirectory(prefix="route53-peer-") as workdir:
        peer = Route53PeerProcess.start(Path(workdir))
        try:
            yield peer
        finally:
            peer.stop()


@pytest.fixture
def route53_peer(route53_peer_process: Route53PeerProcess) -> Route53PeerProcess:
    """The session's peer, emptied: faults cleared, authentication off until ``seed``."""
    route53_peer_process.reset()
    return route53_peer_process


@pytest.fixture(scope="session")
def route53_pebble(
    route53_peer_process: Route53PeerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PebbleServer]:
    """A Pebble whose validation authority looks TXT records up in the local Route 53."""
    host, port = route53_peer_process.dns_address
    config = PebbleConfig(dns_server=f"{host}:{port}")
    with PebbleServer(config, workdir=tmp_path_factory.mktemp("route53-pebble")) as server:
        yield server
