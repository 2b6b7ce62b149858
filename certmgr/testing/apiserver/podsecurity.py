"""Pod Security admission, as kube-apiserver v1.35 applies it to a namespace's Pods.

Owns the ``pod-security.kubernetes.io/{enforce,audit,warn}`` labels, the checks of the
``baseline`` and ``restricted`` levels at ``latest`` (v1.35; a ``*-version`` label only
names the policy in messages), their reasons and details word for word, their order
(baseline checks, then restricted, each sorted by check id) and the decision: enforce
refuses a Pod with 403 Forbidden, warn answers with Warning texts (also for workloads with
a pod template), audit with the annotation an audit log would carry. A Namespace's labels
must be valid (422 otherwise), and tightening its enforce level warns about the Pods
already there. It must not store anything nor speak HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from certmgr.testing.apiserver import errors

PREFIX = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
# Subresources whose writes never change a Pod's security (the admission plugin skips them).
IGNORED_SUBRESOURCES = frozenset(
    {"exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"}
)

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: str
    version: str = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True, slots=True)
class Policy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion


@dataclass(frozen=True, slots=True)
class Decision:
    """What admission adds to an allowed write: Warning texts, audit annotations."""

    warnings: tuple[str, ...] = ()
    audit: dict[str, str] = field(default_factory=dict)


_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
_MODES = ("enforce", "audit", "warn")


def label_errors(labels: dict[str, str]) -> list[dict[str, str]]:
    """The causes of a 422 for invalid policy labels, in upstream's order."""
    causes = []
    for mode in _MODES:
        for label, valid, must in (
            (PREFIX + mode, lambda v: v in LEVELS, "must be one of " + ", ".join(LEVELS)),
            (f"{PREFIX}{mode}-version", _valid_version, 'must be "latest" or "v1.x"'),
        ):
            value = labels.get(label)
            if value is not None and not valid(value):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f'Invalid value: "{value}": {must}',
                        "field": f"metadata.labels[{label}]",
                    }
                )
    return causes


def _valid_version(version: str) -> bool:
    return version == "latest" or _VERSION.match(version) is not None


def policy_of(labels: dict[str, str]) -> Policy:
    """The namespace's policy, as upstream reads it: an unknown enforce level fails closed
    (restricted), an unknown audit or warn level fails open (privileged)."""

    def read(mode: str) -> LevelVersion | None:
        level = labels.get(PREFIX + mode)
        if level is None:
            return None
        version = labels.get(f"{PREFIX}{mode}-version") or "latest"
        if level not in LEVELS:
            level = "restricted" if mode == "enforce" else "privileged"
        return LevelVersion(level, version if _valid_version(version) else "latest")

    enforce = read("enforce") or LevelVersion("privileged")
    audit = read("audit") or LevelVersion("privileged")
    warn = read("warn")
    if warn is None:
        # Warn defaults to the enforce level when that is stricter.
        warn = enforce if enforce.level != "privileged" else LevelVersion("privileged")
    return Policy(enforce, audit, warn)


# -- the checks (each returns (reason, detail) or None) ------------------------------------

Check = Callable[[Obj, Obj], "tuple[str, str] | None"]


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            if isinstance(container, dict):
                yield container


def _security(obj: Obj) -> Obj:
    context = obj.get("securityContext")
    return context if isinstance(context, dict) else {}


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _containers_detail(names: list[str]) -> str:
    return f"{_plural('container', 'containers', len(names))} {_quote(names)}"


def _windows(spec: Obj) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def _user_namespace(spec: Obj) -> bool:
    return spec.get("hostUsers") is False


_BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
_ALLOWED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_KNOWN_VOLUMES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def capabilities_baseline(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    bad: list[str] = []
    added: set[str] = set()
    for container in _containers(spec):
        capabilities = _security(container).get("capabilities") or {}
        extra = [str(c) for c in capabilities.get("add") or () if c not in _BASELINE_CAPABILITIES]
        if extra:
            bad.append(container.get("name", ""))
            added.update(extra)
    if not bad:
        return None
    return "non-default capabilities", (
        f"{_containers_detail(bad)} must not include {_quote(sorted(added))} in "
        "securityContext.capabilities.add"
    )


def host_namespaces(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    used = [f"{name}=true" for name in ("hostNetwork", "hostPID", "hostIPC") if spec.get(name)]
    return ("host namespaces", ", ".join(used)) if used else None


def host_path_volumes(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    names = [
        str(v.get("name", "")) for v in spec.get("volumes") or () if v.get("hostPath") is not None
    ]
    if not names:
        return None
    return "hostPath volumes", f"{_plural('volume', 'volumes', len(names))} {_quote(names)}"


def host_ports(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    bad: list[str] = []
    ports: set[str] = set()
    for container in _containers(spec):
        used = [str(p["hostPort"]) for p in container.get("ports") or () if p.get("hostPort")]
        if used:
            bad.append(container.get("name", ""))
            ports.update(used)
    if not bad:
        return None
    return "hostPort", (
        f"{_containers_detail(bad)} {_plural('uses', 'use', len(bad))} "
        f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}"
    )


def host_probes_and_lifecycle(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    bad: set[str] = set()
    hosts: set[str] = set()
    for container in _containers(spec):
        handlers = [container.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        lifecycle = container.get("lifecycle") or {}
        handlers += [lifecycle.get("postStart"), lifecycle.get("preStop")]
        for handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(action) or {}).get("host")
                if host:
                    bad.add(container.get("name", ""))
                    hosts.add(str(host))
    if not bad:
        return None
    return "probe or lifecycle host", (
        f"{_containers_detail(sorted(bad))} {_plural('uses', 'use', len(bad))} "
        f"{_plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{_quote(sorted(hosts))}"
    )


def privileged(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    bad = [c.get("name", "") for c in _containers(spec) if _security(c).get("privileged") is True]
    if not bad:
        return None
    return "privileged", f"{_containers_detail(bad)} must not set securityContext.privileged=true"


def proc_mount(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    if _user_namespace(spec):
        return None
    bad: list[str] = []
    types: set[str] = set()
    for container in _containers(spec):
        mount = _security(container).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(container.get("name", ""))
            types.add(str(mount))
    if not bad:
        return None
    return "procMount", (
        f"{_containers_detail(bad)} must not set securityContext.procMount to "
        f"{_quote(sorted(types))}"
    )


def _valid_seccomp(profile: Any) -> bool:
    return isinstance(profile, dict) and profile.get("type") in ("RuntimeDefault", "Localhost")


def seccomp_baseline(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = _security(spec).get("seccompProfile")
    if pod_profile is not None and not _valid_seccomp(pod_profile):
        setters.append("pod")
        values.add(str((pod_profile or {}).get("type", "")))
    bad: list[str] = []
    for container in _containers(spec):
        profile = _security(container).get("seccompProfile")
        if profile is not None and not _valid_seccomp(profile):
            bad.append(container.get("name", ""))
            values.add(str((profile or {}).get("type", "")))
    if bad:
        setters.append(_containers_detail(bad))
    if not setters:
        return None
    return "seccompProfile", (
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
        f"{_quote(sorted(values))}"
    )


def sysctls(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    bad = [
        str(s.get("name", ""))
        for s in _security(spec).get("sysctls") or ()
        if s.get("name") not in _SYSCTLS
    ]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def allow_privilege_escalation(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    if _windows(spec):
        return None
    bad = [
        c.get("name", "")
        for c in _containers(spec)
        if _security(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    return "allowPrivilegeEscalation != false", (
        f"{_containers_detail(bad)} must set securityContext.allowPrivilegeEscalation=false"
    )


def capabilities_restricted(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    if _windows(spec):
        return None
    missing_drop: list[str] = []
    adding: list[str] = []
    added: set[str] = set()
    for container in _containers(spec):
        capabilities = _security(container).get("capabilities")
        if not isinstance(capabilities, dict):
            missing_drop.append(container.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or ()):
            missing_drop.append(container.get("name", ""))
        extra = [str(c) for c in capabilities.get("add") or () if c != "NET_BIND_SERVICE"]
        if extra:
            adding.append(container.get("name", ""))
            added.update(extra)
    details = []
    if missing_drop:
        details.append(
            f'{_containers_detail(missing_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{_containers_detail(adding)} must not include {_quote(sorted(added))} in "
            "securityContext.capabilities.add"
        )
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def restricted_volumes(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    bad: list[str] = []
    types: set[str] = set()
    for volume in spec.get("volumes") or ():
        sources = [k for k in volume if k != "name" and volume[k] is not None]
        if any(source in _ALLOWED_VOLUMES for source in sources):
            continue
        bad.append(str(volume.get("name", "")))
        known = [t for t in _KNOWN_VOLUMES if t in sources]
        types.add(known[0] if known else "unknown")
    if not bad:
        return None
    return "restricted volume types", (
        f"{_plural('volume', 'volumes', len(bad))} {_quote(bad)} "
        f"{_plural('uses', 'use', len(bad))} "
        f"{_plural('restricted volume type', 'restricted volume types', len(types))} "
        f"{_quote(sorted(types))}"
    )


def run_as_non_root(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    if _user_namespace(spec):
        return None
    setters: list[str] = []
    pod_value = _security(spec).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit: list[str] = []
    implicit: list[str] = []
    for container in _containers(spec):
        value = _security(container).get("runAsNonRoot")
        if value is False:
            explicit.append(container.get("name", ""))
        elif value is None and pod_value is not True:
            implicit.append(container.get("name", ""))
    if explicit:
        setters.append(_containers_detail(explicit))
    if setters:
        return "runAsNonRoot != true", (
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
        )
    if implicit:
        return "runAsNonRoot != true", (
            f"pod or {_containers_detail(implicit)} must set securityContext.runAsNonRoot=true"
        )
    return None


def run_as_user(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    if _user_namespace(spec):
        return None
    setters = ["pod"] if _security(spec).get("runAsUser") == 0 else []
    bad = [c.get("name", "") for c in _containers(spec) if _security(c).get("runAsUser") == 0]
    if bad:
        setters.append(_containers_detail(bad))
    if not setters:
        return None
    return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"


def seccomp_restricted(_meta: Obj, spec: Obj) -> tuple[str, str] | None:
    if _windows(spec):
        return None
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = _security(spec).get("seccompProfile")
    pod_set = False
    if pod_profile is not None:
        if _valid_seccomp(pod_profile):
            pod_set = True
        else:
            setters.append("pod")
            values.add(str((pod_profile or {}).get("type", "")))
    explicit: list[str] = []
    implicit: list[str] = []
    for container in _containers(spec):
        profile = _security(container).get("seccompProfile")
        if profile is not None:
            if not _valid_seccomp(profile):
                explicit.append(container.get("name", ""))
                values.add(str((profile or {}).get("type", "")))
        elif not pod_set:
            implicit.append(container.get("name", ""))
    if explicit:
        setters.append(_containers_detail(explicit))
    if setters:
        return "seccompProfile", (
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{_quote(sorted(values))}"
        )
    if implicit:
        return "seccompProfile", (
            f"pod or {_containers_detail(implicit)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
        )
    return None


# Check ids in upstream's order (Go's byte-wise sort), baseline then restricted; a
# restricted check replaces the baseline ones it names.
BASELINE: tuple[tuple[str, Check], ...] = (
    ("capabilities_baseline", capabilities_baseline),
    ("hostNamespaces", host_namespaces),
    ("hostPathVolumes", host_path_volumes),
    ("hostPorts", host_ports),
    ("hostProbesAndHostLifecycle", host_probes_and_lifecycle),
    ("privileged", privileged),
    ("procMount", proc_mount),
    ("seccompProfile_baseline", seccomp_baseline),
    ("sysctls", sysctls),
)
RESTRICTED: tuple[tuple[str, Check, tuple[str, ...]], ...] = (
    ("allowPrivilegeEscalation", allow_privilege_escalation, ()),
    ("capabilities_restricted", capabilities_restricted, ("capabilities_baseline",)),
    ("procMount_restricted", proc_mount, ("procMount",)),
    ("restrictedVolumes", restricted_volumes, ("hostPathVolumes",)),
    ("runAsNonRoot", run_as_non_root, ()),
    ("runAsUser", run_as_user, ()),
    ("seccompProfile_restricted", seccomp_restricted, ("seccompProfile_baseline",)),
)


def _checks(level: str) -> list[tuple[str, Check]]:
    if level == "baseline":
        return list(BASELINE)
    if level != "restricted":
        return []
    overridden = {o for _, _, overrides in RESTRICTED for o in overrides}
    kept = [(check_id, check) for check_id, check in BASELINE if check_id not in overridden]
    restricted = [(check_id, check) for check_id, check, _ in RESTRICTED]
    order = [check_id for check_id, _ in BASELINE] + [check_id for check_id, _, _ in RESTRICTED]
    return sorted(kept + restricted, key=lambda pair: order.index(pair[0]))


def violations(level: str, metadata: Obj, spec: Obj) -> list[tuple[str, str]]:
    """(reason, detail) of every check of ``level`` the pod spec fails, in upstream order."""
    found = []
    for _, check in _checks(level):
        result = check(metadata, spec)
        if result is not None:
            found.append(result)
    return found


def describe(found: list[tuple[str, str]]) -> str:
    """``reason (detail), reason (detail)``: the aggregate text of the messages."""
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in found)


_TEMPLATE_KINDS = frozenset(
    {"ReplicationController", "ReplicaSet", "Deployment", "DaemonSet", "StatefulSet", "Job"}
)


def pod_template(kind: str, obj: Obj) -> tuple[Obj, Obj] | None:
    """(metadata, spec) of a Pod or of the pod template of a workload kind; None otherwise."""
    if kind == "Pod":
        return obj.get("metadata") or {}, obj.get("spec") or {}
    spec = obj.get("spec") or {}
    if kind == "PodTemplate":
        template = obj.get("template")
    elif kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    elif kind in _TEMPLATE_KINDS:
        template = spec.get("template")
    else:
        return None
    if not isinstance(template, dict):
        return None
    return template.get("metadata") or {}, template.get("spec") or {}


def _images(spec: Obj) -> list[tuple[str, Any]]:
    return [(str(c.get("name", "")), c.get("image")) for c in _containers(spec)]


def admit(
    *,
    kind: str,
    resource: str,
    name: str,
    namespace_labels: dict[str, str],
    obj: Obj,
    old: Obj | None,
    subresource: str = "",
) -> Decision:
    """Admit a create or update: raise 403 for an enforced violation of a Pod, else
    return the Warning texts and audit annotations."""
    if kind == "Pod" and subresource in IGNORED_SUBRESOURCES:
        return Decision()
    if kind != "Pod" and subresource:
        return Decision()
    extracted = pod_template(kind, obj)
    if extracted is None:
        return Decision()
    metadata, spec = extracted
    if kind == "Pod" and old is not None:
        old_spec = old.get("spec") or {}
        # Only image changes can make an existing Pod less secure; upstream skips the rest.
        if _images(spec) == _images(old_spec):
            return Decision()
    policy = policy_of(namespace_labels)
    audit: dict[str, str] = {}
    if kind == "Pod":
        audit[PREFIX + "enforce-policy"] = str(policy.enforce)
        found = violations(policy.enforce.level, metadata, spec)
        if found:
            raise errors.forbidden(
                f'{resource} "{name}" is forbidden: violates PodSecurity '
                f'"{policy.enforce}": {describe(found)}',
                resource=resource,
                name=name,
            )
    audited = violations(policy.audit.level, metadata, spec)
    if audited:
        audit[PREFIX + "audit-violations"] = (
            f'would violate PodSecurity "{policy.audit}": {describe(audited)}'
        )
    warned = violations(policy.warn.level, metadata, spec)
    warnings = (f'would violate PodSecurity "{policy.warn}": {describe(warned)}',) if warned else ()
    return Decision(warnings=warnings, audit=audit)


def admit_namespace(
    *,
    name: str,
    labels: dict[str, str],
    old_labels: dict[str, str] | None,
    pods: Iterable[Obj],
) -> Decision:
    """Admit a Namespace create or update: 422 for invalid policy labels (on update only
    when they changed), and on a stricter enforce level the warnings about its Pods."""
    causes = label_errors(labels)
    if causes and (old_labels is None or causes != label_errors(old_labels)):
        raise errors.invalid("Namespace", "", name, causes)
    if old_labels is None:
        return Decision()
    new, old = policy_of(labels).enforce, policy_of(old_labels).enforce
    if new == old or new.level == "privileged":
        return Decision()
    if new.version == old.version and LEVELS.index(new.level) <= LEVELS.index(old.level):
        return Decision()
    first: dict[str, str] = {}  # aggregate reason -> the first pod name (by name)
    counts: dict[str, int] = {}
    for pod in pods:
        found = violations(new.level, pod.get("metadata") or {}, pod.get("spec") or {})
        if not found:
            continue
        reason = ", ".join(r for r, _ in found)
        pod_name = str((pod.get("metadata") or {}).get("name", ""))
        counts[reason] = counts.get(reason, 0) + 1
        if reason not in first or pod_name < first[reason]:
            first[reason] = pod_name
    if not counts:
        return Decision()
    decorated = []
    for reason, count in counts.items():
        others = (
            ""
            if count == 1
            else " (and 1 other pod)"
            if count == 2
            else (f" (and {count - 1} other pods)")
        )
        decorated.append(f"{first[reason]}{others}: {reason}")
    head = f'existing pods in namespace "{name}" violate the new PodSecurity enforce level "{new}"'
    return Decision(warnings=(head, *sorted(decorated)))


def warning_header(text: str) -> str:
    """A ``Warning`` header value as kube-apiserver writes one (RFC 7234, code 299)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'
