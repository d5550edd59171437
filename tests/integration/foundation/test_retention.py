from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from opscopilot.jobs.retention import purge_expired
from opscopilot.store.engine import Database
from opscopilot.store.models import ChatThread, RawDataBatch
from tests.conftest import make_settings


async def test_retention_purges_old_payloads_and_transcripts_only(clean_db: Database) -> None:
    now = datetime.now(UTC)
    settings = make_settings(
        clean_db.url, retention={"raw_payload_days": 30, "transcript_days": 60}
    )
    async with clean_db.sessions() as s:
        for ref, age in (("old", 40), ("new", 5)):
            s.add(
                RawDataBatch(
                    source_type="erp",
                    source_id="erp_1",
                    batch_reference=ref,
                    content_hash=ref,
                    payload={"items": []},
                    created_at=now - timedelta(days=age),
                )
            )
        s.add(ChatThread(id="t-old", updated_at=now - timedelta(days=90)))
        s.add(ChatThread(id="t-new", updated_at=now - timedelta(days=1)))
        await s.commit()
        purged = await purge_expired(s, settings=settings, now=now)
        assert purged["payloads"] == 1 and purged["threads"] == 1
        batches = {b.batch_reference: b for b in (await s.scalars(select(RawDataBatch))).all()}
        assert batches["old"].payload is None and batches["old"].payload_purged_at is not None
        assert batches["new"].payload == {"items": []}
        assert [t.id for t in (await s.scalars(select(ChatThread))).all()] == ["t-new"]
        again = await purge_expired(s, settings=settings, now=now)
        assert again["payloads"] == 0 and again["threads"] == 0
