"""The Pod ``status`` documents the data plane's kubelet writes, as pure builders.

Owns the shapes: Running with ``Ready=True`` (what Services and ``kubectl wait`` look
at), Succeeded/Failed after the process exits, and Pending with ``ErrImagePull`` for
images this node cannot pull. Each is a merge patch for the status subresource. It must
not do I/O; the clock is read once per builder call through :func:`now`.
"""

from __future__ import annotations

import datetime
from typing import Any


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return dict(containers[0])


def _conditions(ready: bool, at: str) -> list[dict[str, str]]:
    flag = "True" if ready else "False"
    return [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
        {"type": "Initialized", "status": "True", "lastTransitionTime": at},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": at},
        {"type": "Ready", "status": flag, "lastTransitionTime": at},
    ]


def running(pod: dict[str, Any], *, pod_ip: str, host_ip: str, since: str) -> dict[str, Any]:
    at = now()
    container = _container(pod)
    return {
        "phase": "Running",
        "hostIP": host_ip,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": since,
        "conditions": _conditions(True, at),
        "containerStatuses": [
            {
                "name": container.get("name", ""),
                "image": container.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": since}},
            }
        ],
    }


def terminated(pod: dict[str, Any], *, exit_code: int) -> dict[str, Any]:
    at = now()
    container = _container(pod)
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "conditions": _conditions(False, at),
        "containerStatuses": [
            {
                "name": container.get("name", ""),
                "image": container.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": "Completed" if exit_code == 0 else "Error",
                        "finishedAt": at,
                    }
                },
            }
        ],
    }


def image_pull_error(pod: dict[str, Any]) -> dict[str, Any]:
    at = now()
    container = _container(pod)
    image = container.get("image", "")
    return {
        "phase": "Pending",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
            {
                "type": "Ready",
                "status": "False",
                "reason": "ContainersNotReady",
                "lastTransitionTime": at,
            },
        ],
        "containerStatuses": [
            {
                "name": container.get("name", ""),
                "image": image,
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {
                    "waiting": {
                        "reason": "ErrImagePull",
                        "message": f'image "{image}" cannot be pulled on this node '
                        "(the certmgr data plane runs only solver images)",
                    }
                },
            }
        ],
    }


def is_image_pull_error(pod: dict[str, Any]) -> bool:
    """Whether the Pod already says so (avoids rewriting the same status forever)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(
        (s.get("state") or {}).get("waiting", {}).get("reason") == "ErrImagePull" for s in statuses
    )
