"""The send hot path: a recipient cache checked by the insert itself, and that insert.

A send needs the user and their channel preferences to decide each row (quiet hours,
minimum severity, digest, address). Reading them costs a round trip and most of the
send's CPU (ORM rows), so the last reading of each user is kept in this process, as plain
values, with a version: the ``xmin`` of the user row and of each preference row, which
Postgres changes on every update, however it is made. The insert carries that version
and inserts nothing unless it still matches, in the same statement; a stale entry is then
dropped and the send reads afresh. So a cached send is one statement (version check,
repeat check, insert), and it never decides on preferences older than its transaction.

The repeat check (the same content to the same person on the same channel a moment ago,
recorded as suppressed: duplicate) also runs inside that statement.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import String, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.metrics import NOTIFICATIONS
from opscopilot.notify.outbox import WAKE_CHANNEL, Planned
from opscopilot.notify.preferences import Recipient
from opscopilot.store.models import NotificationPreference, User

# The same message to the same person on the same channel within this window is a repeat
# (a retried request, a script run twice): recorded as suppressed, not sent again.
DUPLICATE_WINDOW_S = 300
CACHE_USERS = 10_000
DEAD = ("suppressed", "failed")

_USER_FIELDS = ("id", "external_id", "name", "timezone", "email", "phone", "slack_user_id")
_PREF_FIELDS = (
    "id",
    "user_id",
    "channel",
    "address",
    "enabled",
    "min_severity",
    "quiet_start",
    "quiet_end",
    "critical_breaks_quiet",
    "digest",
)
# Changes whenever the user row or any of their preference rows is updated, inserted or
# deleted (xmin is the id of the transaction that wrote the row version).
_VERSION_SQL = (
    "{u}.xmin::text || '/' || coalesce((SELECT string_agg(p.id::text || '.' || p.xmin::text, "
    "',' ORDER BY p.id) FROM notification_preferences AS p WHERE p.user_id = {u}.id), '')"
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A user and their preferences as committed at `version`, as plain values."""

    user: dict[str, Any]
    prefs: tuple[dict[str, Any], ...]
    version: str

    def recipient(self) -> Recipient:
        # Transient ORM objects (never added to a session): what the planner reads.
        return Recipient(
            user=User(**self.user),
            rows={p["channel"]: NotificationPreference(**p) for p in self.prefs},
        )


class RecipientCache:
    """Per process, least recently used first out; correctness never depends on it."""

    def __init__(self, size: int = CACHE_USERS) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Snapshot | None:
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
        return hit

    def put(self, key: tuple[str, str], snapshot: Snapshot) -> None:
        self._entries[key] = snapshot
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)


CACHE = RecipientCache()


def cache_key(session: AsyncSession, external_id: str) -> tuple[str, str]:
    # One process may talk to several databases (tests do): keep their users apart.
    return (str(session.get_bind().engine.url), external_id)


async def load_snapshot(session: AsyncSession, external_id: str) -> Snapshot | None:
    """The user's committed (or this transaction's) state and its version; None if unknown."""
    version = literal_column(_VERSION_SQL.format(u="users"), String)
    found = (
        await session.execute(
            select(User, NotificationPreference, version)
            .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
            .where(User.external_id == external_id)
        )
    ).all()
    if not found:
        return None
    user = found[0][0]
    prefs = tuple(
        {f: getattr(pref, f) for f in _PREF_FIELDS} for _, pref, _ in found if pref is not None
    )
    return Snapshot({f: getattr(user, f) for f in _USER_FIELDS}, prefs, str(found[0][2]))


_VERSION_OF_U = _VERSION_SQL.format(u="u")
_INSERT = text(
    f"""
    WITH cur AS (
        SELECT {_VERSION_OF_U} = :version AS ok FROM users AS u WHERE u.id = :user_id
    ),
    planned AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, user_id uuid, alert_id uuid, escalation_level int, site text,
            title text, message text, notification_type text, severity text, channel text,
            address text, status text, reason text, attempts int,
            next_attempt_at timestamptz, idempotency_key text, last_error text, payload jsonb)
    ),
    decided AS (
        SELECT p.*, d.id AS duplicate_of FROM planned AS p
        LEFT JOIN LATERAL (
            SELECT n.id FROM notifications AS n
            WHERE p.status NOT IN ('suppressed', 'failed')
              AND n.user_id = p.user_id AND n.channel = p.channel
              -- Requests repeat in real time, whatever time the caller plans for.
              AND n.created_at >= now() - make_interval(secs => :window)
              AND n.payload ->> 'content_hash' = :content_hash
              AND n.status NOT IN ('suppressed', 'failed')
            LIMIT 1
        ) AS d ON true
    ),
    ins AS (
        INSERT INTO notifications (
            id, user_id, alert_id, escalation_level, site, title, message, notification_type,
            severity, channel, address, status, reason, attempts, next_attempt_at,
            idempotency_key, last_error, payload)
        SELECT id, user_id, alert_id, escalation_level, site, title, message,
            notification_type, severity, channel, address,
            CASE WHEN duplicate_of IS NULL THEN status ELSE 'suppressed' END,
            CASE WHEN duplicate_of IS NULL THEN reason ELSE 'duplicate' END,
            attempts,
            CASE WHEN duplicate_of IS NULL THEN next_attempt_at END,
            idempotency_key, last_error,
            CASE WHEN duplicate_of IS NULL THEN payload
                ELSE payload || jsonb_build_object('duplicate_of', duplicate_of::text) END
        FROM decided
        WHERE coalesce((SELECT ok FROM cur), false)
        ON CONFLICT DO NOTHING
        RETURNING id, status, reason,
            CASE WHEN status = 'queued' THEN pg_notify('{WAKE_CHANNEL}', '') END AS woke
    )
    SELECT coalesce((SELECT ok FROM cur), false) AS ok, ins.id, ins.status, ins.reason
    FROM (SELECT 1) AS one LEFT JOIN ins ON true
    """
)


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


async def insert_checked(
    session: AsyncSession,
    planned: list[Planned],
    *,
    user_id: uuid.UUID,
    version: str,
    content_hash: str,
) -> bool:
    """Insert a user's rows if their preferences are still at `version`, suppressing
    repeats; False (nothing inserted) if they changed. Updates each Planned's status,
    reason and payload to what was stored."""
    rows = orjson.dumps(
        [p.values for p in planned], default=_json_default, option=orjson.OPT_NON_STR_KEYS
    ).decode()
    result = await session.execute(
        _INSERT,
        {
            "version": version,
            "user_id": user_id,
            "rows": rows,
            "window": float(DUPLICATE_WINDOW_S),
            "content_hash": content_hash,
        },
    )
    answer = result.all()
    if not answer or not answer[0].ok:
        return False
    stored = {r.id: r for r in answer if r.id is not None}
    for p in planned:
        row = stored.get(p.id)
        if row is None:
            continue  # a repeat of an idempotency key: the first row stands
        if row.status != p.values["status"]:
            p.values.update(status=row.status, reason=row.reason, next_attempt_at=None)
        if row.status in DEAD:
            NOTIFICATIONS.labels(channel=p.values["channel"], status=row.status).inc()
    return True
