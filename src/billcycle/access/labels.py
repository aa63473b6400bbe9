"""``organizationLabels`` of bill runs and payment runs: which organizations' accounts a
run selects (multi-org)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from billcycle.access import repository
from billcycle.errors import Forbidden
from billcycle.ids import parse_zuora_id, to_zuora_id


@dataclass(frozen=True, slots=True)
class OrgSelection:
    # Accounts of these organizations only (None: no label includes: any organization).
    include: tuple[int, ...] | None
    # Never accounts of these.
    exclude: tuple[int, ...]


Label = tuple[str | None, str | None, bool]  # organization id, name, excluded


def labels_from_dicts(items: Iterable[dict[str, Any]]) -> list[Label]:
    """Payment runs keep their labels as sent (``organizationId``, ``organizationName``,
    ``excluded``)."""
    labels: list[Label] = []
    for item in items:
        if isinstance(item, dict):
            org_id = item.get("organizationId", item.get("organization_id"))
            name = item.get("organizationName", item.get("organization_name"))
            labels.append(
                (
                    org_id if isinstance(org_id, str) else None,
                    name if isinstance(name, str) else None,
                    bool(item.get("excluded")),
                )
            )
    return labels


def resolve(session: Session, tenant_id: int, labels: Iterable[Label]) -> OrgSelection | None:
    """The organizations the labels name in the tenant (by id, 32 hex digits, or name);
    None without labels. An include label naming no organization of the tenant selects
    nothing (never everything)."""
    labels = list(labels)
    if not labels:
        return None
    orgs = {org.id: org.name for org in repository.organizations(session, tenant_id)}
    by_name = {name: org_id for org_id, name in orgs.items()}
    include: list[int] = []
    exclude: list[int] = []
    has_include = False
    for org_text, name, excluded in labels:
        org_id = parse_zuora_id(org_text.strip()) if org_text else None
        found = org_id if org_id in orgs else by_name.get(name or "") if name else None
        if excluded:
            if found is not None:
                exclude.append(found)
            continue
        has_include = True
        if found is not None:
            include.append(found)
    return OrgSelection(
        tuple(sorted(set(include))) if has_include else None, tuple(sorted(set(exclude)))
    )


def within_orgs(
    session: Session, tenant_id: int, org_ids: Iterable[int] | None, labels: Iterable[Label]
) -> list[Label] | None:
    """The labels a run created by a call limited to ``org_ids`` keeps (None: keep the
    run's own): an include label naming an organization outside them fails the call
    (403, as ``Zuora-Org-Ids`` naming one does); without include labels the run selects
    the call's organizations. Shared by bill runs and payment runs."""
    if org_ids is None:
        return None
    allowed = frozenset(org_ids)
    labels = list(labels)
    chosen = resolve(session, tenant_id, labels)
    if chosen is not None and chosen.include is not None:
        if not set(chosen.include) <= allowed:
            raise Forbidden("organizationLabels names an organization this client may not act in.")
        return None
    return [*labels, *((to_zuora_id(org_id), None, False) for org_id in sorted(allowed))]
