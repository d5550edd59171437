"""Changing the embedding model: a real model through litellm (a loopback stand-in),
vectors kept beside the old ones, gaps left by a provider outage filled by the
`search.reembed` job run by a procrastinate worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from opscopilot.core.settings import Settings
from opscopilot.jobs.app import build_app
from opscopilot.jobs.search import REEMBED_TASK, defer_reembed
from opscopilot.store.embedders import LiteLLMEmbedder, register_embedder, unregister_embedder
from opscopilot.store.engine import Database
from opscopilot.store.models import Embedding
from opscopilot.store.search import search_items
from tests.integration.search.conftest import AddItems
from tests.peers.openai_embeddings import OpenAIEmbeddingsPeer

MODEL = "openai/stand-in-embed"
RECORDS = [
    {"sku": "GSK-1", "name": "Flat gasket NBR 50 x 3 mm", "supplier_name": "ACME Seals"},
    {"sku": "BRG-1", "name": "Deep groove ball bearing 6204-2RS", "supplier_name": "SKF"},
    {"sku": "VLV-1", "name": "Solenoid valve G1/4 24VDC", "supplier_name": "Burkert"},
]


@pytest.fixture
async def peer() -> AsyncIterator[OpenAIEmbeddingsPeer]:
    async with OpenAIEmbeddingsPeer(dim=48) as p:
        register_embedder(LiteLLMEmbedder(model=MODEL, api_base=p.base_url, api_key="sk-test"))
        try:
            yield p
        finally:
            unregister_embedder(MODEL)


async def counts(db: Database) -> dict[str, int]:
    async with db.session() as s:
        rows = await s.execute(select(Embedding.model, func.count()).group_by(Embedding.model))
        return {model: n for model, n in rows.all()}


async def test_a_provider_outage_leaves_gaps_that_the_reembed_job_fills(
    clean_db: Database,
    settings: Settings,
    add_items: AddItems,
    peer: OpenAIEmbeddingsPeer,
    drop_runtime_indexes: None,
) -> None:
    peer.fail_next(100)
    # the write succeeds: fuzzy vectors now, the remote model's later
    await add_items(RECORDS, model=MODEL)
    assert await counts(clean_db) == {"hash-ngram-256": 3}
    async with clean_db.session() as s:
        hits = await search_items(s, query="gasket acme", model=MODEL, limit=1)
    assert hits[0].item.sku == "GSK-1"  # the fuzzy channel answers meanwhile

    peer.recover()
    jobs = build_app(clean_db.libpq_url, settings)
    jobs.oc.attach(clean_db)  # type: ignore[attr-defined]
    async with jobs.open_async():
        assert await defer_reembed(jobs, model=MODEL) is not None
        assert await defer_reembed(jobs, model=MODEL) is None  # one queued at a time
        await jobs.run_worker_async(queues=["search"], wait=False, install_signal_handlers=False)
        statuses = await jobs.connector.execute_query_all_async(
            "SELECT status::text AS status FROM procrastinate_jobs "
            "WHERE task_name = %(t)s AND args->>'model' = %(m)s",
            t=REEMBED_TASK,
            m=MODEL,
        )
    assert [r["status"] for r in statuses] == ["succeeded"]
    assert await counts(clean_db) == {"hash-ngram-256": 3, MODEL: 3}  # old kept beside new
    async with clean_db.session() as s:
        hits = await search_items(s, query="skf ball bearing", model=MODEL, limit=1)
    assert (hits[0].item.sku, hits[0].matched) == ("BRG-1", "semantic")
    # the remote model got the full item text; a query costs one more call
    assert any("Deep groove ball bearing 6204-2RS" in t for c in peer.requests for t in c.inputs)


async def test_search_without_the_remote_model_still_answers(
    clean_db: Database, add_items: AddItems, peer: OpenAIEmbeddingsPeer
) -> None:
    await add_items(RECORDS)
    peer.fail_next(100)
    async with clean_db.session() as s:
        hits = await search_items(s, query="solenoid valve 24vdc", model=MODEL, limit=1)
    assert (hits[0].item.sku, hits[0].matched) == ("VLV-1", "fuzzy")
