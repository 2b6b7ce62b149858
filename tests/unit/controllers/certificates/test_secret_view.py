"""The policies' view of a Secret cached without its PEM reads as the Secret it came from."""

from __future__ import annotations

import base64
import copy
from datetime import timedelta
from typing import Any

import pytest

from certmgr.controllers.certificates.gather import leaf_jitter_seconds, secret_view
from certmgr.pki.keys import encode_private_key
from certmgr.runtime.informer_secrets import managed_secret, trimmed

from .helpers import leaf

CAP = timedelta(minutes=10)


def _secret(data: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-tls", "namespace": "default", "annotations": {"a": "b"}},
        "type": "kubernetes.io/tls",
        "data": data,
    }


def _issued() -> dict[str, str]:
    key, pem = leaf()
    return {
        "tls.crt": base64.b64encode(pem).decode(),
        "tls.key": base64.b64encode(encode_private_key(key)).decode(),
        "extra": "bWluZQ==",
    }


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_issued(), id="issued"),
        pytest.param({"tls.crt": _issued()["tls.crt"]}, id="no-key"),
        pytest.param({"tls.key": _issued()["tls.key"], "tls.crt": ""}, id="empty-certificate"),
        pytest.param({"tls.crt": "%%", "tls.key": "%%"}, id="undecodable"),
    ],
)
def test_a_cached_secret_reads_as_the_secret(data: dict[str, str]) -> None:
    raw = _secret(data)
    cached = managed_secret(copy.deepcopy(raw))
    # Trimmed when its certificate parses; else cached whole, and read the same either way.
    assert (trimmed(cached) is not None) == (data.get("tls.crt", "") not in ("", "%%"))

    whole, cut = secret_view(raw), secret_view(cached)

    assert whole is not None and cut is not None
    assert (cut.has_data, cut.filled, cut.summary) == (whole.has_data, whole.filled, whole.summary)
    assert (cut.labels, cut.annotations, cut.type) == (whole.labels, whole.annotations, whole.type)
    assert cut.issued == whole.issued
    assert leaf_jitter_seconds(cut.issued.leaf, cap=CAP) == leaf_jitter_seconds(
        whole.issued.leaf, cap=CAP
    )
    assert (whole.issued.leaf is not None) == (data.get("tls.crt", "") not in ("", "%%"))
