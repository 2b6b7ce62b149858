"""Reading a provider's credentials from a Secret (a ``SecretKeySelector``: name + key).

Owns :func:`secret_key_value`. Must not log or return anything but the one entry
asked for, and must not write Secrets.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from certmgr.dns01.providers import DNS01Error
from certmgr.kube.errors import Forbidden, NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import SECRETS


async def secret_key_value(
    client: KubeAPI, selector: Mapping[str, Any] | None, *, namespace: str, field: str
) -> bytes:
    """The decoded entry ``selector.key`` of Secret ``selector.name`` in ``namespace``;
    :class:`DNS01Error` (naming ``field``, never the value) when it cannot be read."""
    name = str((selector or {}).get("name") or "")
    key = str((selector or {}).get("key") or "")
    if not name:
        raise DNS01Error(f"{field}: the name of the Secret must be specified")
    if not key:
        raise DNS01Error(f"{field}: key of data in Secret resource must be specified")
    try:
        secret = await client.get(SECRETS, name, namespace=namespace)
    except NotFound:
        raise DNS01Error(f'{field}: secret "{namespace}/{name}" not found') from None
    except Forbidden as exc:
        raise DNS01Error(f'{field}: secret "{namespace}/{name}": {exc.message}') from None
    value = (secret.get("data") or {}).get(key)
    if not value:
        raise DNS01Error(f'{field}: data entry with key "{key}" not found in secret {name}')
    return base64.b64decode(value)
