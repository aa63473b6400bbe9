"""The one home of a console user's role words (what each may do: ``can_act``)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # reads every page of its tenants, changes nothing
    OPERATOR = "operator"  # also runs the actions (post, cancel, write off, email, ...)
    ADMIN = "admin"  # also edits the tenant's settings

    @property
    def can_act(self) -> bool:
        return self is not Role.VIEWER

    @property
    def can_administer(self) -> bool:
        return self is Role.ADMIN
