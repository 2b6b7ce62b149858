"""OwnerReferencesPermissionEnforcement: the optional admission plugin for owner references.

Owns two rules of that kube-apiserver plugin: changing an object's ownerReferences
needs ``delete`` on the object, and setting ``blockOwnerDeletion`` needs ``update``
on the owner's ``finalizers`` subresource. Upstream leaves the plugin off by
default; ``Simulator(enforce_owner_references=True)`` turns it on so the RBAC in
``deploy/`` is tested against clusters that enable it. It must not change objects.
"""

from __future__ import annotations

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.auth import Authorizer, RequestAttributes, UserInfo
from certmgr.testing.apiserver.resources import Catalogue, ResourceType
from certmgr.testing.apiserver.store import Obj


def check_owner_references(
    authz: Authorizer,
    user: UserInfo,
    *,
    catalogue: Catalogue,
    rtype: ResourceType,
    old: Obj | None,
    new: Obj,
) -> None:
    meta = new["metadata"]
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    refs = meta.get("ownerReferences") or []
    old_refs = [] if old is None else old["metadata"].get("ownerReferences") or []
    if refs == old_refs:
        return
    changing = RequestAttributes("delete", rtype.group, rtype.plural, "", namespace, name)
    if not authz.allowed(user, changing):
        raise errors.forbidden(
            f'{rtype.plural} "{name}" is forbidden: cannot set an ownerRef on a resource '
            f'you can\'t delete: User "{user.name}" cannot delete resource "{rtype.plural}"',
            resource=rtype.plural,
            group=rtype.group,
            name=name,
        )
    already = {r.get("uid") for r in old_refs if r.get("blockOwnerDeletion")}
    for ref in refs:
        if not ref.get("blockOwnerDeletion") or ref.get("uid") in already:
            continue
        owner = catalogue.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if owner is None:
            raise errors.forbidden(
                f'{rtype.plural} "{name}" is forbidden: cannot set blockOwnerDeletion in this '
                f"case because cannot find RESTMapping for APIVersion {ref.get('apiVersion')} "
                f"Kind {ref.get('kind')}",
                resource=rtype.plural,
                group=rtype.group,
                name=name,
            )
        finalizers = RequestAttributes(
            "update",
            owner.group,
            owner.plural,
            "finalizers",
            namespace if owner.namespaced else "",
            ref.get("name", ""),
        )
        if not authz.allowed(user, finalizers):
            raise errors.forbidden(
                f'{rtype.plural} "{name}" is forbidden: cannot set blockOwnerDeletion if an '
                f"ownerReference refers to a resource you can't set finalizers on: "
                f'User "{user.name}" cannot update resource "{owner.plural}/finalizers" '
                f'in API group "{owner.group}"',
                resource=rtype.plural,
                group=rtype.group,
                name=name,
            )
