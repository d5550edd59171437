"""The send hot path decides from cached preferences: a change made anywhere (another
process, raw SQL, a rolled-back transaction) must still be what the next send obeys."""

from __future__ import annotations

from sqlalchemy import text

from opscopilot.notify.recipients import CACHE, cache_key
from opscopilot.notify.service import send_notification, set_preferences
from opscopilot.store.engine import Database

ALLOW = ["127.0.0.1"]


async def _send(db: Database, user: str, title: str = "Line 4 stop", **kw: str) -> list[str]:
    async with db.sessions() as s:
        sent = await send_notification(
            s,
            user_id=user,
            title=title,
            message="Conveyor jam at station 4",
            severity=kw.get("severity", "warning"),
            channel="webhook",
        )
        await s.commit()
    return [f"{n.status}:{n.reason}" for n in sent.notifications]


async def _webhook(db: Database, user: str, **kw: object) -> None:
    async with db.sessions() as s:
        await set_preferences(
            s,
            user_id=user,
            channel="webhook",
            address="http://127.0.0.1:9/hook",
            webhook_allowlist=ALLOW,
            **kw,  # type: ignore[arg-type]
        )
        await s.commit()


async def test_a_preference_changed_behind_the_cache_is_obeyed(clean_db: Database) -> None:
    await _webhook(clean_db, "ann")
    assert await _send(clean_db, "ann", "first") == ["queued:None"]
    async with clean_db.sessions() as s:
        assert CACHE.get(cache_key(s, "ann")) is not None  # the next send uses the cache
        # Another process (or a hand-made fix) disables the channel: no cache is told.
        await s.execute(text("UPDATE notification_preferences SET enabled = false"))
        await s.commit()
    assert await _send(clean_db, "ann", "second") == ["suppressed:channel_disabled"]


async def test_a_rolled_back_change_is_not_remembered(clean_db: Database) -> None:
    await _webhook(clean_db, "bob")
    async with clean_db.sessions() as s:
        await set_preferences(
            s,
            user_id="bob",
            channel="webhook",
            address="http://127.0.0.1:9/hook",
            webhook_allowlist=ALLOW,
            min_severity="critical",
        )
        # Decided inside the transaction that raised the minimum: below it.
        sent = await send_notification(
            s, user_id="bob", title="inside", message="m", severity="warning", channel="webhook"
        )
        assert sent.status == "suppressed"
        await s.rollback()
    assert await _send(clean_db, "bob", "after") == ["queued:None"]


async def test_a_repeat_is_suppressed_on_the_cached_path(clean_db: Database) -> None:
    await _webhook(clean_db, "cy")
    assert await _send(clean_db, "cy") == ["queued:None"]
    assert await _send(clean_db, "cy") == ["suppressed:duplicate"]
    async with clean_db.sessions() as s:
        first, second = (
            await s.execute(
                text("SELECT id::text, payload FROM notifications ORDER BY status, created_at")
            )
        ).all()
    assert second.payload["duplicate_of"] == first.id
    assert await _send(clean_db, "cy", "something else") == ["queued:None"]


async def test_a_user_recreated_under_the_same_name_gets_their_own_preferences(
    clean_db: Database,
) -> None:
    await _webhook(clean_db, "dee")
    assert await _send(clean_db, "dee", "one") == ["queued:None"]
    async with clean_db.sessions() as s:
        await s.execute(text("DELETE FROM notifications"))
        await s.execute(text("DELETE FROM users WHERE external_id = 'dee'"))
        await s.commit()
    # Known again, without a webhook preference: a send fails for want of an address.
    assert await _send(clean_db, "dee", "two") == ["failed:no webhook address for user 'dee'"]
    async with clean_db.sessions() as s:
        users = (await s.execute(text("SELECT count(*) FROM users"))).scalar()
        user_of_row = (
            await s.execute(
                text("SELECT u.external_id FROM notifications n JOIN users u ON u.id = n.user_id")
            )
        ).scalar()
    assert users == 1 and user_of_row == "dee"
