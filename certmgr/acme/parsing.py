"""JSON bodies from the CA -> the door's dataclasses (the JSON edge of the door).

Owns the reading of RFC 8555 objects (account, order, authorization, challenge,
problem, directory meta, renewal information) and of ``Link`` headers. Anything that is
not the expected shape becomes an ``AcmeError`` of type ``malformedResponse`` with a
stable message, never a ``KeyError`` deep inside a controller. It must not do I/O.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from certmgr.acme.errors import AcmeError
from certmgr.acme.resources import (
    Account,
    Authorization,
    Challenge,
    DirectoryMeta,
    Identifier,
    Order,
    Problem,
    RenewalInfo,
)

MALFORMED_RESPONSE = "urn:certmgr:acme:malformedResponse"


def malformed(what: str, *, status: int | None = None) -> AcmeError:
    return AcmeError(Problem(MALFORMED_RESPONSE, f"unexpected {what} from the ACME server", status))


def parse_problem(body: object, *, status: int | None) -> Problem:
    if not isinstance(body, Mapping):
        return Problem("about:blank", f"HTTP {status} without a problem document", status)
    identifier = body.get("identifier")
    subproblems = body.get("subproblems")
    return Problem(
        type=_optional_str(body, "type") or "about:blank",
        detail=_optional_str(body, "detail") or "",
        status=status,
        identifier=parse_identifier(identifier) if isinstance(identifier, Mapping) else None,
        subproblems=tuple(
            parse_problem(sub, status=None) for sub in subproblems if isinstance(sub, Mapping)
        )
        if isinstance(subproblems, list)
        else (),
    )


def parse_identifier(body: object) -> Identifier:
    mapping = _mapping(body, "identifier")
    return Identifier(_str(mapping, "type", "identifier"), _str(mapping, "value", "identifier"))


def parse_account(body: object, *, uri: str) -> Account:
    mapping = _mapping(body, "account")
    contact = mapping.get("contact") or []
    if not isinstance(contact, list) or not all(isinstance(c, str) for c in contact):
        raise malformed("account contact")
    return Account(uri=uri, status=_str(mapping, "status", "account"), contact=tuple(contact))


def parse_order(body: object, *, url: str) -> Order:
    mapping = _mapping(body, "order")
    identifiers = mapping.get("identifiers")
    authorizations = mapping.get("authorizations") or []
    if not isinstance(identifiers, list):
        raise malformed("order identifiers")
    if not isinstance(authorizations, list) or not all(isinstance(a, str) for a in authorizations):
        raise malformed("order authorizations")
    error = mapping.get("error")
    return Order(
        url=url,
        status=_str(mapping, "status", "order"),
        identifiers=tuple(parse_identifier(i) for i in identifiers),
        authorizations=tuple(authorizations),
        finalize_url=_str(mapping, "finalize", "order"),
        certificate_url=_optional_str(mapping, "certificate"),
        error=parse_problem(error, status=None) if isinstance(error, Mapping) else None,
        expires=_optional_time(mapping, "expires"),
        profile=_optional_str(mapping, "profile"),
    )


def parse_challenge(body: object) -> Challenge:
    mapping = _mapping(body, "challenge")
    error = mapping.get("error")
    return Challenge(
        type=_str(mapping, "type", "challenge"),
        url=_str(mapping, "url", "challenge"),
        # Only token-based challenges carry a token; others keep an empty one.
        token=_optional_str(mapping, "token") or "",
        status=_str(mapping, "status", "challenge"),
        error=parse_problem(error, status=None) if isinstance(error, Mapping) else None,
    )


def parse_authorization(body: object, *, url: str) -> Authorization:
    mapping = _mapping(body, "authorization")
    challenges = mapping.get("challenges") or []
    if not isinstance(challenges, list):
        raise malformed("authorization challenges")
    return Authorization(
        url=url,
        identifier=parse_identifier(mapping.get("identifier")),
        status=_str(mapping, "status", "authorization"),
        challenges=tuple(parse_challenge(c) for c in challenges),
        wildcard=mapping.get("wildcard") is True,
        expires=_optional_time(mapping, "expires"),
    )


def parse_directory_meta(directory: object) -> DirectoryMeta:
    meta = _mapping(directory, "directory").get("meta")
    if not isinstance(meta, Mapping):
        return DirectoryMeta()
    caa = meta.get("caaIdentities") or []
    profiles = meta.get("profiles") or {}
    return DirectoryMeta(
        terms_of_service=_optional_str(meta, "termsOfService"),
        website=_optional_str(meta, "website"),
        caa_identities=tuple(c for c in caa if isinstance(c, str)) if isinstance(caa, list) else (),
        external_account_required=meta.get("externalAccountRequired") is True,
        profiles={str(k): str(v) for k, v in profiles.items()}
        if isinstance(profiles, Mapping)
        else {},
    )


def parse_renewal_info(body: object) -> RenewalInfo:
    """RFC 9773's renewalInfo object; a window without both ends, or one that ends
    before it starts, is malformed (section 4.2: the client treats it as absent)."""
    mapping = _mapping(body, "renewal info")
    window = mapping.get("suggestedWindow")
    if not isinstance(window, Mapping):
        raise malformed("renewal info (suggestedWindow)")
    start = _optional_time(window, "start")
    end = _optional_time(window, "end")
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        raise malformed("renewal info (suggestedWindow start/end)")
    if end < start:
        raise malformed("renewal info (suggestedWindow ends before it starts)")
    return RenewalInfo(
        start=start.astimezone(datetime.UTC),
        end=end.astimezone(datetime.UTC),
        explanation_url=_optional_str(mapping, "explanationURL"),
    )


# Characters trimmed around a Link header, its URLs, parameter names and values.
_LINK_QUOTES = " '\""
_NEXT_LINK = re.compile(r", *<")


def parse_link_header(value: str) -> list[dict[str, str]]:
    """``<url>; rel="up", <url>; rel="alternate"`` -> ``[{"url": ..., "rel": ...}, ...]``,
    as ``requests.utils.parse_header_links`` reads it (the tests compare them): a link
    ends at a comma before the next ``<``; a parameter without exactly one ``=`` ends that
    link's parameters."""
    value = value.strip(_LINK_QUOTES)
    links: list[dict[str, str]] = []
    if not value:
        return links
    for text in _NEXT_LINK.split(value):
        url, _, params = text.partition(";")
        link = {"url": url.strip("<>" + _LINK_QUOTES)}
        for param in params.split(";"):
            pieces = param.split("=")
            if len(pieces) != 2:
                break
            link[pieces[0].strip(_LINK_QUOTES)] = pieces[1].strip(_LINK_QUOTES)
        links.append(link)
    return links


def _mapping(body: object, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise malformed(what)
    return body


def _str(mapping: Mapping[str, Any], key: str, what: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str):
        raise malformed(f"{what} ({key})")
    return value


def _optional_str(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def _optional_time(mapping: Mapping[str, Any], key: str) -> datetime.datetime | None:
    value = mapping.get(key)
    if not isinstance(value, str):
        return None
    try:
        # RFC 3339; Go servers send nanoseconds, which fromisoformat (3.11) accepts
        # only up to microseconds, so cut the fraction down first.
        head, dot, rest = value.partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
