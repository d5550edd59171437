"""A process remembers who an API key is for a short while: a key revoked elsewhere (the
CLI, another worker: here, straight in the database) is refused once that time is up; a
key revoked through this process is refused at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from opscopilot.access.service import create_key, hash_key
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ApiKey

TTL_S = 1.0


@pytest.fixture
async def short_ttl_client(
    settings: Settings, clean_db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    from opscopilot.api.app import create_app

    api = settings.api.model_copy(update={"key_cache_ttl_s": TTL_S})
    app = create_app(settings.model_copy(update={"api": api}), database=clean_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


async def _key(db: Database, user: str) -> tuple[str, dict[str, str]]:
    async with db.sessions() as session:
        created = await create_key(session, user=user, role="admin")
        await session.commit()
    return str(created.id), {"Authorization": f"Bearer {created.key}"}


async def test_a_key_revoked_elsewhere_is_refused_within_the_ttl(
    short_ttl_client: httpx.AsyncClient, clean_db: Database
) -> None:
    _id, headers = await _key(clean_db, "cached-carl")
    assert (await short_ttl_client.get("/api/v1/keys", headers=headers)).status_code == 200
    async with clean_db.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.key_hash == hash_key(headers["Authorization"].removeprefix("Bearer ")))
            .values(revoked_at=datetime.now(UTC))
        )
    # still remembered: the database was not asked again
    assert (await short_ttl_client.get("/api/v1/keys", headers=headers)).status_code == 200
    await asyncio.sleep(TTL_S + 0.1)
    assert (await short_ttl_client.get("/api/v1/keys", headers=headers)).status_code == 401


async def test_a_key_revoked_through_the_api_is_refused_at_once(
    short_ttl_client: httpx.AsyncClient, clean_db: Database
) -> None:
    _admin_id, admin = await _key(clean_db, "cached-ada")
    key_id, headers = await _key(clean_db, "cached-bob")
    assert (await short_ttl_client.get("/api/v1/keys", headers=headers)).status_code == 200
    revoked = await short_ttl_client.delete(f"/api/v1/keys/{key_id}", headers=admin)
    assert revoked.status_code == 204
    assert (await short_ttl_client.get("/api/v1/keys", headers=headers)).status_code == 401
