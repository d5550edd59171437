"""Roles in order of power; a higher role may do everything a lower one may."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Principal:
    """Who is acting: a person, a machine key or a site's service user."""

    user_id: UUID | None
    external_id: str
    role: Role
    # Empty means every site.
    sites: tuple[str, ...] = field(default_factory=tuple)
    key_id: UUID | None = None

    def can(self, needed: Role) -> bool:
        return role_at_least(self.role, needed)

    def sees_site(self, site: str) -> bool:
        return not self.sites or site in self.sites

    def site_filter(self) -> tuple[str, ...] | None:
        """None when every site is visible, else the visible ones."""
        return self.sites or None


SYSTEM = Principal(user_id=None, external_id="system", role="admin")
