"""The RFC 2136 provider: TXT values added and removed by DNS UPDATE, signed with TSIG.

Owns the ``rfc2136`` solver block (``nameserver``, ``tsigKeyName``, ``tsigAlgorithm``,
``tsigSecretSecretRef``, ``protocol``) as cert-manager reads it, and the UPDATE messages
(dnspython's ``dns.update`` and ``dns.tsig``: no hand-written wire format). Must not
retry or wait: a failure is a :class:`DNS01Error` and the controller backs off.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Final

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.tsig
import dns.update

from certmgr.dns01.nameservers import Nameserver, parse_nameserver
from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.dns01.secrets import secret_key_value

# cert-manager's names -> dnspython's; HMACMD5 is cert-manager's default.
ALGORITHMS: Final = {
    "HMACMD5": dns.tsig.HMAC_MD5,
    "HMACSHA1": dns.tsig.HMAC_SHA1,
    "HMACSHA256": dns.tsig.HMAC_SHA256,
    "HMACSHA512": dns.tsig.HMAC_SHA512,
}
TTL: Final = 60  # cert-manager's
TIMEOUT_SECONDS: Final = 10.0  # cert-manager's DNSTimeout


def _nameserver(text: str) -> Nameserver:
    """cert-manager's ``nameserver``: an IP address with an optional port (53)."""
    if not text.strip():
        raise DNS01Error("rfc2136 nameserver must be set")
    try:
        server = parse_nameserver(text)
        ipaddress.ip_address(server.host)
    except ValueError:
        raise DNS01Error(
            f"nameserver {text!r} must be an IP address with an optional port"
        ) from None
    return server


class RFC2136Provider:
    """Presents and cleans up by UPDATE to one nameserver (the zone's primary)."""

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        self._nameserver = _nameserver(str(config.get("nameserver") or ""))
        algorithm = str(config.get("tsigAlgorithm") or "HMACMD5").upper()
        if algorithm not in ALGORITHMS:
            raise DNS01Error(f"algorithm '{config.get('tsigAlgorithm')}' is not supported")
        self._algorithm = ALGORITHMS[algorithm]
        self._key_name = str(config.get("tsigKeyName") or "")
        self._secret_ref = config.get("tsigSecretSecretRef")
        protocol = str(config.get("protocol") or "UDP").upper()
        if protocol not in ("UDP", "TCP"):
            raise DNS01Error(f"protocol {config.get('protocol')!r} is not supported (UDP or TCP)")
        self._tcp = protocol == "TCP"
        self._context = context

    async def present(self, request: ChallengeRequest) -> float | None:
        update = await self._update(request)
        update.add(request.resolved_fqdn, TTL, "TXT", _quoted(request.key))
        await self._send(update, request)
        return None

    async def clean_up(self, request: ChallengeRequest) -> None:
        update = await self._update(request)
        update.delete(request.resolved_fqdn, "TXT", _quoted(request.key))
        await self._send(update, request)

    async def _update(self, request: ChallengeRequest) -> dns.update.UpdateMessage:
        if not self._key_name or not (self._secret_ref or {}).get("name"):
            # cert-manager sends an unsigned update when either is missing.
            return dns.update.UpdateMessage(request.resolved_zone)
        secret = await secret_key_value(
            self._context.client,
            self._secret_ref,
            namespace=request.resource_namespace,
            field="tsigSecretSecretRef",
        )
        key_name = dns.name.from_text(self._key_name)
        try:
            key = dns.tsig.Key(key_name, secret.decode().strip(), self._algorithm)
        except (ValueError, UnicodeDecodeError):
            raise DNS01Error("the TSIG secret in tsigSecretSecretRef is not valid base64") from None
        return dns.update.UpdateMessage(request.resolved_zone, keyring=key)

    async def _send(self, update: dns.update.UpdateMessage, request: ChallengeRequest) -> None:
        where = str(self._nameserver)
        send = dns.asyncquery.tcp if self._tcp else dns.asyncquery.udp
        try:
            reply = await send(
                update, self._nameserver.host, port=self._nameserver.port, timeout=TIMEOUT_SECONDS
            )
        except dns.tsig.PeerError as exc:
            raise DNS01Error(
                f"DNS update failed: {where} rejected the TSIG signature of key "
                f"{self._key_name!r} ({type(exc).__name__}): check tsigKeyName, "
                "tsigAlgorithm and the secret"
            ) from None
        except dns.exception.Timeout:
            raise DNS01Error(f"DNS update failed: no answer from {where}") from None
        except (dns.exception.DNSException, OSError) as exc:
            raise DNS01Error(f"DNS update failed: {where}: {exc}") from None
        rcode = reply.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DNS01Error(
                f"DNS update failed. Server replied: {dns.rcode.to_text(rcode)} "
                f"({_rcode_hint(rcode, zone=request.resolved_zone)})"
            )


def build(config: Mapping[str, Any], context: ProviderContext) -> RFC2136Provider:
    return RFC2136Provider(config, context)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rcode_hint(rcode: dns.rcode.Rcode, *, zone: str) -> str:
    hints = {
        dns.rcode.NOTAUTH: f"the server is not authoritative for {zone} or the TSIG key is wrong",
        dns.rcode.REFUSED: f"the server refused the update of {zone}: check its update policy",
        dns.rcode.NOTZONE: f"the name is not in zone {zone}",
        dns.rcode.SERVFAIL: "the server failed",
    }
    return hints.get(rcode, f"for zone {zone}")
