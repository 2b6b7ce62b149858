"""The text of ``certmgr status certificate``: an ``IssuanceChain`` rendered for a person.

Owns the layout, which follows cmctl's (``Name:``, ``Conditions:``, ``Issuer:``,
``Secret:``, ``CertificateRequest:``, ``Order:``, ``Challenges:``) and adds what helps
debugging: each condition's transition time and observed generation, the revision and
failed attempts, the Secret's type, keys and cert-manager annotations, and a kubectl
describe style Events table under every object. Pure: ``now`` is an argument (for event
ages). It must never print a Secret's values: key names only, and facts parsed from
``tls.crt``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from certmgr.api.codec import parse_rfc3339, rfc3339
from certmgr.commands.chain import JSON, IssuanceChain, event_time, events_about
from certmgr.kube.objects import metadata, name_of
from certmgr.pki.certificates import CertificateInfo, parse_leaf
from certmgr.pki.errors import PKIError

# Only the newest Events per object: the report is for "what is happening now".
EVENTS_PER_OBJECT = 10
ANNOTATION_PREFIXES = ("cert-manager.io/", "acme.cert-manager.io/")


def render(chain: IssuanceChain, *, now: datetime) -> str:
    crt = chain.certificate
    meta = metadata(crt)
    spec, status = crt.get("spec") or {}, crt.get("status") or {}
    lines = [
        f"Name: {name_of(crt)}",
        f"Namespace: {meta.get('namespace', '')}",
        f"Created at: {meta.get('creationTimestamp') or '<none>'}",
        f"Generation: {meta.get('generation', '<none>')}",
        "Conditions:",
        *_conditions(status.get("conditions"), indent="  "),
    ]
    for title, key in (
        ("Common Name", "commonName"),
        ("DNS Names", "dnsNames"),
        ("IP Addresses", "ipAddresses"),
        ("URIs", "uris"),
        ("Email Addresses", "emailAddresses"),
    ):
        value = spec.get(key)
        if value:
            values = [value] if isinstance(value, str) else list(value)
            lines += [f"{title}:", *(f"- {v}" for v in values)]
    lines += _events(chain, crt, now=now, indent="")
    lines += _issuer(chain, now=now)
    lines += _secret(chain, spec.get("secretName", ""), now=now)
    lines += [
        f"Not Before: {status.get('notBefore') or '<none>'}",
        f"Not After: {status.get('notAfter') or '<none>'}",
        f"Renewal Time: {status.get('renewalTime') or '<none>'}",
        f"Revision: {status.get('revision', '<none>')}",
    ]
    lines += _renewal_info(status)
    if status.get("failedIssuanceAttempts") or status.get("lastFailureTime"):
        lines.append(
            f"Failed Issuance Attempts: {status.get('failedIssuanceAttempts', 0)}, "
            f"Last Failure Time: {status.get('lastFailureTime') or '<none>'}"
        )
    if status.get("nextPrivateKeySecretName"):
        lines.append(f"Next Private Key Secret: {status['nextPrivateKeySecretName']}")
    lines += _request(chain, now=now)
    lines += _order(chain, now=now)
    lines += _challenges(chain, now=now)
    return "\n".join(lines) + "\n"


def _renewal_info(status: Mapping[str, Any]) -> list[str]:
    """The ACME CA's suggested renewal window (RFC 9773), when status.acme.ari has one."""
    ari = (status.get("acme") or {}).get("ari") or {}
    if not ari:
        return []
    window = ari.get("suggestedWindow") or {}
    lines = [
        "Renewal Window (ACME Renewal Information): "
        + (f"{window.get('start')} - {window.get('end')}" if window else "<none>")
    ]
    if ari.get("explanationURL"):
        lines.append(f"  Explanation: {ari['explanationURL']}")
    lines.append(
        f"  Last Checked: {ari.get('lastChecked') or '<none>'}, "
        f"Next Check: {ari.get('nextCheck') or '<none>'}"
    )
    if ari.get("lastError"):
        lines.append(f"  Last Error: {ari['lastError']}")
    return lines


def _conditions(conditions: Any, *, indent: str) -> list[str]:
    out = []
    for c in conditions if isinstance(conditions, list) else ():
        details = [f"since {c['lastTransitionTime']}"] if c.get("lastTransitionTime") else []
        if c.get("observedGeneration") is not None:
            details.append(f"observedGeneration {c['observedGeneration']}")
        suffix = f" ({', '.join(details)})" if details else ""
        out.append(
            f"{indent}{c.get('type')}: {c.get('status')}, Reason: {c.get('reason', '')}, "
            f"Message: {c.get('message', '')}{suffix}"
        )
    return out or [f"{indent}No Conditions set"]


def _issuer(chain: IssuanceChain, *, now: datetime) -> list[str]:
    issuer = chain.issuer.object
    if issuer is None:
        return [f"Issuer: {chain.issuer.note}"] if chain.issuer.note else []
    return [
        "Issuer:",
        f"  Name: {name_of(issuer)}",
        f"  Kind: {chain.issuer_kind}",
        "  Conditions:",
        *_conditions((issuer.get("status") or {}).get("conditions"), indent="    "),
        *_events(chain, issuer, now=now, indent="  "),
    ]


def _secret(chain: IssuanceChain, secret_name: str, *, now: datetime) -> list[str]:
    secret = chain.secret.object
    if secret is None:
        return [f"Secret: {secret_name}: {chain.secret.note}"]
    data = secret.get("data") or {}
    annotations = metadata(secret).get("annotations") or {}
    ours = sorted(k for k in annotations if k.startswith(ANNOTATION_PREFIXES))
    lines = [
        "Secret:",
        f"  Name: {name_of(secret)}",
        f"  Type: {secret.get('type', '<none>')}",
        f"  Keys: {', '.join(sorted(data)) or '<none>'}",
    ]
    if ours:
        lines += ["  Annotations:", *(f"    {k}: {annotations[k]}" for k in ours)]
    lines += _tls_certificate(data)
    lines += _events(chain, secret, now=now, indent="  ")
    return lines


def _tls_certificate(data: Mapping[str, Any]) -> list[str]:
    """Facts from ``tls.crt``; the private key is never decoded, let alone printed."""
    encoded = data.get("tls.crt")
    if not encoded:
        return ["  Certificate: 'tls.crt' is not set"]
    try:
        info = CertificateInfo.of(parse_leaf(base64.b64decode(encoded, validate=True)))
    except (PKIError, binascii.Error, ValueError) as exc:
        return [f"  Certificate: cannot parse 'tls.crt': {exc}"]
    lines = [
        "  Certificate:",
        f"    Common Name: {info.common_name or '<none>'}",
        f"    Issuer Common Name: {info.issuer_common_name or '<none>'}",
        f"    Serial Number: {info.serial_hex}",
        f"    Not Before: {rfc3339(info.not_before)}",
        f"    Not After: {rfc3339(info.not_after)}",
        f"    Public Key: {info.key_algorithm} {info.key_size}",
    ]
    if info.dns_names or info.ip_addresses:
        lines.append(f"    Names: {', '.join((*info.dns_names, *info.ip_addresses))}")
    return lines


def _request(chain: IssuanceChain, *, now: datetime) -> list[str]:
    request = chain.request.object
    if request is None:
        return [f"CertificateRequest: {chain.request.note}"]
    status = request.get("status") or {}
    lines = [
        "CertificateRequest:",
        f"  Name: {name_of(request)}",
        f"  Namespace: {metadata(request).get('namespace', '')}",
        f"  Revision: {chain.request.note}",
        "  Conditions:",
        *_conditions(status.get("conditions"), indent="    "),
    ]
    if status.get("failureTime"):
        lines.append(f"  Failure Time: {status['failureTime']}")
    return lines + _events(chain, request, now=now, indent="  ")


def _order(chain: IssuanceChain, *, now: datetime) -> list[str]:
    if chain.order is None:
        return []
    order = chain.order.object
    if order is None:
        return [f"Order: {chain.order.note}"]
    status = order.get("status") or {}
    lines = [
        "Order:",
        f"  Name: {name_of(order)}",
        f"  State: {status.get('state') or '<none>'}, Reason: {status.get('reason') or ''}",
        f"  URL: {status.get('url') or '<none>'}",
    ]
    authorizations = status.get("authorizations") or []
    if authorizations:
        lines.append("  Authorizations:")
        for auth in authorizations:
            wildcard = auth.get("wildcard")
            lines.append(
                f"    URL: {auth.get('url', '')}, Identifier: {auth.get('identifier', '')}, "
                f"Initial State: {auth.get('initialState', '')}, "
                f"Wildcard: {'<unset>' if wildcard is None else str(wildcard).lower()}"
            )
    else:
        lines.append("  No Authorizations for this Order")
    if status.get("failureTime"):
        lines.append(f"  Failure Time: {status['failureTime']}")
    return lines + _events(chain, order, now=now, indent="  ")


def _challenges(chain: IssuanceChain, *, now: datetime) -> list[str]:
    if not chain.challenges:
        return [f"Challenges: {chain.challenges_note}"] if chain.challenges_note else []
    lines = ["Challenges:"]
    for challenge in chain.challenges:
        spec, status = challenge.get("spec") or {}, challenge.get("status") or {}
        lines.append(
            f"- Name: {name_of(challenge)}, Type: {spec.get('type', '')}, "
            f"Domain: {spec.get('dnsName', '')}, "
            f"Wildcard: {str(bool(spec.get('wildcard'))).lower()}, "
            f"State: {status.get('state') or '<none>'}, Reason: {status.get('reason') or ''}, "
            f"Processing: {str(bool(status.get('processing'))).lower()}, "
            f"Presented: {str(bool(status.get('presented'))).lower()}"
        )
        lines += _events(chain, challenge, now=now, indent="  ")
    return lines


def _events(chain: IssuanceChain, obj: JSON, *, now: datetime, indent: str) -> list[str]:
    """kubectl describe's Events table: Type, Reason, Age, From, Message."""
    events = events_about(chain.events, obj)[-EVENTS_PER_OBJECT:]
    if not events:
        return [f"{indent}Events: <none>"]
    rows = [
        ("Type", "Reason", "Age", "From", "Message"),
        ("----", "------", "---", "----", "-------"),
    ]
    for event in events:
        count = event.get("count") or (event.get("series") or {}).get("count")
        age = _age(event_time(event), now=now)
        if isinstance(count, int) and count > 1:
            age += f" (x{count})"
        source = event.get("source") or {}
        rows.append(
            (
                str(event.get("type", "")),
                str(event.get("reason", "")),
                age,
                str(source.get("component") or event.get("reportingComponent") or ""),
                " ".join(str(event.get("message") or event.get("note") or "").split()),
            )
        )
    return [f"{indent}Events:", *_table(rows, indent=indent + "  ")]


def _table(rows: Sequence[tuple[str, ...]], *, indent: str) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        indent
        + "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def _age(text: str, *, now: datetime) -> str:
    """kubectl's short ages: 45s, 12m, 5h, 3d."""
    try:
        seconds = int((now - parse_rfc3339(text)).total_seconds())
    except ValueError:
        return "<unknown>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
