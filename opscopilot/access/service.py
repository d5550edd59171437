"""Users, API keys and the audit log: the one place their rules live."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access import keycache
from opscopilot.access.roles import ROLES, Principal, Role
from opscopilot.core.errors import NotFoundError, Unauthorized, ValidationFailed
from opscopilot.store.models import ApiKey, AuditEvent, User

KEY_PREFIX = "ocp_"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_key(raw: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(raw.encode()).hexdigest()


async def get_or_create_user(
    session: AsyncSession,
    *,
    external_id: str,
    role: Role = "viewer",
    sites: list[str] | None = None,
    name: str | None = None,
) -> User:
    user = await session.scalar(select(User).where(User.external_id == external_id))
    if user is None:
        user = User(external_id=external_id, role=role, sites=sites or [], name=name)
        session.add(user)
        await session.flush()
    return user


async def find_user(session: AsyncSession, *, external_id: str) -> User:
    user = await session.scalar(select(User).where(User.external_id == external_id))
    if user is None:
        raise NotFoundError(f"unknown user {external_id!r}", field="user_id")
    return user


async def set_user(
    session: AsyncSession,
    *,
    external_id: str,
    role: Role | None = None,
    sites: list[str] | None = None,
    slack_user_id: str | None = None,
    name: str | None = None,
) -> User:
    """Create or change a user: the role and sites their keys and Slack questions act with.
    `sites=[]` means every site; None leaves a value as it is. Caller commits."""
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", field="role")
    user = await get_or_create_user(session, external_id=external_id, role=role or "viewer")
    if role is not None:
        user.role = role
    if sites is not None:
        user.sites = sites
    if name is not None:
        user.name = name
    if slack_user_id is not None:
        taken = await session.scalar(
            select(User).where(User.slack_user_id == slack_user_id, User.id != user.id)
        )
        if taken is not None:
            raise ValidationFailed(
                f"Slack user {slack_user_id} already belongs to {taken.external_id}",
                field="slack_user_id",
            )
        user.slack_user_id = slack_user_id or None
    await session.flush()
    keycache.forget()  # the user's keys now act with other rights
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(select(User).order_by(User.external_id))).all())


@dataclass(frozen=True)
class CreatedKey:
    id: UUID
    key: str
    role: Role
    user: str


async def create_key(
    session: AsyncSession,
    *,
    user: str,
    role: Role,
    name: str = "default",
    sites: list[str] | None = None,
) -> CreatedKey:
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", field="role")
    owner = await get_or_create_user(session, external_id=user, role=role, sites=sites)
    if owner.sites and sites and not set(sites) <= set(owner.sites):
        raise ValidationFailed(
            f"user {user!r} is limited to {', '.join(owner.sites)}; a key cannot add sites",
            field="sites",
        )
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=owner.id,
        name=name,
        prefix=raw[:12],
        key_hash=hash_key(raw),
        role=role,
        sites=sites or [],
    )
    session.add(row)
    await session.flush()
    return CreatedKey(id=row.id, key=raw, role=role, user=user)


async def list_keys(session: AsyncSession) -> list[tuple[ApiKey, User]]:
    rows = await session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).order_by(ApiKey.created_at)
    )
    return [(k, u) for k, u in rows]


async def revoke_key(session: AsyncSession, *, key_id_or_prefix: str) -> ApiKey:
    stmt = select(ApiKey)
    try:
        stmt = stmt.where(ApiKey.id == UUID(key_id_or_prefix))
    except ValueError:
        stmt = stmt.where(ApiKey.prefix == key_id_or_prefix)
    key = await session.scalar(stmt)
    if key is None:
        raise NotFoundError("no such key", field="key")
    key.revoked_at = datetime.now(UTC)
    keycache.forget(key.key_hash)
    return key


async def authenticate(session: AsyncSession, *, raw_key: str) -> Principal:
    """The principal behind a bearer key; revoked or unknown keys are refused alike."""
    digest = hash_key(raw_key)
    row = await session.execute(
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.prefix == raw_key[:12])
    )
    for key, user in row:
        if hmac.compare_digest(key.key_hash, digest) and key.revoked_at is None:
            now = datetime.now(UTC)
            # A write (and its disk flush) per request costs more than the request itself;
            # "last used" to the minute is enough for key hygiene.
            if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                )
            sites = effective_sites(key.sites, user.sites)
            if sites is None:
                break
            role = cast(Role, key.role)
            return Principal(
                user_id=user.id,
                external_id=user.external_id,
                role=role,
                sites=sites,
                key_id=key.id,
            )
    raise Unauthorized("invalid or revoked API key")


def effective_sites(
    key_sites: list[str] | None, user_sites: list[str] | None
) -> tuple[str, ...] | None:
    """The sites a key may see: its own within its user's (empty: every site); None when
    the two do not overlap (the user was narrowed after the key was made)."""
    if key_sites and user_sites:
        both = tuple(s for s in key_sites if s in user_sites)
        return both or None
    return tuple(key_sites or user_sites or ())


async def audit(
    session: AsyncSession,
    *,
    actor: Principal | str,
    event_type: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    site: str | None = None,
    thread_id: str | None = None,
) -> None:
    """Append to the audit log, inside the caller's transaction."""
    from opscopilot.core.logging import request_id_var

    if isinstance(actor, Principal):
        name, role = actor.external_id, actor.role
    else:
        name, role = actor, None
    session.add(
        AuditEvent(
            actor=name,
            actor_role=role,
            event_type=event_type,
            subject=subject,
            details=details or {},
            site=site,
            thread_id=thread_id,
            request_id=request_id_var.get(),
        )
    )
