"""API keys over HTTP (admin): the same service as `opscopilot keys`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from opscopilot.access import service
from opscopilot.access.roles import Role
from opscopilot.api.deps import Admin, Session

router = APIRouter(prefix="/api/v1/keys", tags=["access"])


class KeyCreate(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="Owner (created if new).")
    role: Role = "viewer"
    name: str = Field("default", max_length=200)
    sites: list[str] = Field(default_factory=list)


class KeyCreated(BaseModel):
    id: UUID
    key: str = Field(description="Shown once; store it now.")
    role: Role
    user: str


class KeyRead(BaseModel):
    id: UUID
    prefix: str
    user: str
    role: str
    sites: list[str]
    created_at: datetime
    revoked_at: datetime | None


@router.post("", response_model=KeyCreated, status_code=201)
async def create_key(body: KeyCreate, session: Session, admin: Admin) -> KeyCreated:
    created = await service.create_key(
        session, user=body.user, role=body.role, name=body.name, sites=body.sites
    )
    await service.audit(session, actor=admin, event_type="key.created", subject=str(created.id))
    await session.commit()
    return KeyCreated(id=created.id, key=created.key, role=created.role, user=created.user)


@router.get("", response_model=list[KeyRead])
async def list_keys(session: Session, _: Admin) -> list[KeyRead]:
    return [
        KeyRead(
            id=k.id,
            prefix=k.prefix,
            user=u.external_id,
            role=k.role,
            sites=list(k.sites),
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )
        for k, u in await service.list_keys(session)
    ]


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: UUID, session: Session, admin: Admin) -> None:
    await service.revoke_key(session, key_id_or_prefix=str(key_id))
    await service.audit(session, actor=admin, event_type="key.revoked", subject=str(key_id))
    await session.commit()
