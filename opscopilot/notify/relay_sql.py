"""The relay's statements: claim due rows, record outcomes (see relay.py)."""

from __future__ import annotations

from sqlalchemy import text

# Claims and outcomes are single statements run outside any transaction block (no BEGIN /
# COMMIT round trips), committed without waiting for the WAL flush: a claim or an outcome
# lost with a database crash only means the row is sent again, with the same idempotency
# key, which is what a relay killed mid-send does anyway.
_RELAXED = "relaxed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))"
CLAIM = text(
    f"""
    WITH {_RELAXED},
    due AS (
        SELECT id, user_id FROM notifications
        WHERE status IN ('queued', 'deferred', 'sending')
          AND next_attempt_at <= :now
          AND (status <> 'deferred' OR reason IS DISTINCT FROM 'digest')
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE notifications AS n
    SET status = 'sending', attempts = n.attempts + 1, next_attempt_at = :lease_until,
        updated_at = :now
    FROM relaxed, due LEFT JOIN users AS u ON u.id = due.user_id
    WHERE n.id = due.id
    RETURNING n.id, n.channel, n.address, n.title, n.message, n.notification_type,
        n.severity, n.site, n.payload, n.attempts, n.created_at, n.provider_message_id,
        n.provider_conversation_id, coalesce(u.name, u.external_id) AS recipient_name,
        coalesce(u.timezone, 'UTC') AS timezone
    """
)
# Fenced by `attempts`: a relay whose lease was taken over cannot overwrite a newer attempt.
_SET_OUTCOME = """
    status = o.status, reason = o.reason, last_error = o.last_error,
    next_attempt_at = o.next_attempt_at, sent_at = o.sent_at, updated_at = o.now,
    provider_message_id = coalesce(o.provider_message_id, n.provider_message_id),
    provider_conversation_id = coalesce(o.provider_conversation_id, n.provider_conversation_id)
"""
_OUTCOMES = """jsonb_to_recordset(CAST(:rows AS jsonb)) AS o(
    id uuid, attempts int, status text, reason text, last_error text,
    next_attempt_at timestamptz, sent_at timestamptz, now timestamptz,
    provider_message_id text, provider_conversation_id text)"""
RECORD_MANY = text(
    f"""
    WITH {_RELAXED}
    UPDATE notifications AS n SET {_SET_OUTCOME}
    FROM relaxed, {_OUTCOMES}
    WHERE n.id = o.id AND n.status = 'sending' AND n.attempts = o.attempts
    """
)
# The same inside a transaction (with the digest it settles), durably.
RECORD = text(
    f"""
    UPDATE notifications AS n SET {_SET_OUTCOME}
    FROM {_OUTCOMES}
    WHERE n.id = o.id AND n.status = 'sending' AND n.attempts = o.attempts
    """
)
RECORD_DIGESTED = text(
    """
    UPDATE notifications
    SET status = :status, last_error = :last_error, sent_at = :sent_at, updated_at = :now,
        provider_message_id = :provider_message_id
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'deferred'
    """
)
