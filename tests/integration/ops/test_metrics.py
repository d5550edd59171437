"""/metrics after one of each event: an ingest, a forecast, a chat turn with a tool call
(litellm against the loopback OpenAI stand-in, priced as gpt-4o-mini), a delivered email and a
queued job. Each series must have grown by this test's own events (the registry is the
process's, shared with the other tests, so the test reads it before and after)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from opscopilot.core.settings import Settings
from opscopilot.notify.relay import Relay
from opscopilot.store.engine import Database
from tests.agent_support.factories import add_item
from tests.agent_support.harness import new_thread, of, runner_for, turn
from tests.conftest import make_settings
from tests.integration.forecasting.conftest import ingest, item, months_before, sales, seasonal
from tests.peers.openai_standin import OpenAIStandIn, Reply
from tests.peers.smtp import SMTPPeer

pytestmark = pytest.mark.filterwarnings("ignore:.*is using the `ReadOnly` qualifier")

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> Series:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """The sum over the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in series.items() if n == name and wanted <= ls)


@pytest.fixture
def smtp() -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        yield peer


@pytest.fixture
async def standin() -> AsyncIterator[OpenAIStandIn]:
    async with OpenAIStandIn() as peer:
        yield peer


@pytest.fixture
def msettings(migrated: str, smtp: SMTPPeer, standin: OpenAIStandIn) -> Settings:
    return make_settings(
        migrated,
        llm={
            # litellm strips `openai/`: the stand-in is asked for gpt-4o-mini, and litellm's
            # local price map prices the call.
            "model": "openai/gpt-4o-mini",
            "api_base": standin.base_url,
            "api_key": "sk-test-not-a-secret",
            "call_deadline_s": 15.0,
            "idle_chunk_timeout_s": 5.0,
            "num_retries": 0,
            "max_steps": 4,
        },
        smtp={"host": "127.0.0.1", "port": smtp.port, "sender": "ops@plant.example"},
        api={"rate_limit_chat_per_min": 0, "rate_limit_write_per_min": 0},
        metrics={"queue_depth_cache_s": 0.0, "queue_depth_timeout_s": 2.0},
    )


@pytest.fixture
async def mapp(msettings: Settings, clean_db: Database) -> AsyncIterator[FastAPI]:
    from opscopilot.api.app import create_app

    application = create_app(msettings, database=clean_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def mclient(mapp: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mapp)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def scrape(client: httpx.AsyncClient, headers: dict[str, str]) -> Series:
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    return parse(r.text)


async def test_each_series_counts_its_event(
    mapp: FastAPI,
    mclient: httpx.AsyncClient,
    msettings: Settings,
    clean_db: Database,
    standin: OpenAIStandIn,
    smtp: SMTPPeer,
    operator_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    before = await scrape(mclient, viewer_headers)

    # An ingest through the API.
    batch = {
        "source_type": "erp",
        "source_id": "erp_metrics",
        "batch_reference": "metrics-1",
        "data": {"items": [{"sku": "ITEM-M1", "name": "Metered part", "qty": 10}]},
    }
    r = await mclient.post("/api/v1/ingest", json=batch, headers=operator_headers)
    assert r.status_code == 201, r.text

    # A forecast through the API, on two years of monthly sales.
    today = datetime.now(UTC).date()
    await item(clean_db, msettings, "ITEM-F1")
    await ingest(
        clean_db, msettings, sales=sales("ITEM-F1", months_before(today, 24), seasonal(24))
    )
    body = {"forecast_type": "demand", "period": "monthly", "entity_id": "ITEM-F1"}
    r = await mclient.post("/api/v1/forecasts", json=body, headers=viewer_headers)
    assert r.status_code == 201, r.text

    # A chat turn whose model calls a tool, through litellm and HTTP.
    await add_item(clean_db, "GSK-040", name="Gasket 40mm", on_hand=380, daily_demand=60)
    standin.script(
        "gpt-4o-mini",
        Reply(tool_calls=(("days_of_cover", {"sku": "GSK-040"}),)),
        Reply(text="GSK-040 has about six days of cover.", delay_s=0.01),
    )
    async with runner_for(msettings, clean_db) as runner:
        events = await turn(runner, "days of cover for GSK-040?", thread_id=new_thread())
    assert events[-1].type == "done", events[-1]
    assert [e["name"] for e in of(events, "tool_result")] == ["days_of_cover"]

    # An email delivered by the relay to the loopback SMTP server.
    prefs = {"user_id": "buyer1", "channel": "email", "address": "buyer@plant.example"}
    r = await mclient.post("/api/v1/preferences", json=prefs, headers=operator_headers)
    assert r.status_code == 200, r.text
    send = {"user_id": "buyer1", "title": "Stock", "message": "Low", "channel": "email"}
    r = await mclient.post("/api/v1/send", json=send, headers=operator_headers)
    assert r.json()["status"] == "queued", r.text
    relay = Relay(clean_db, msettings, seed=7)
    try:
        assert await relay.deliver_due() == 1
    finally:
        await relay.aclose()
    assert len(smtp.messages) == 1

    # A job waiting in the queue (no worker runs in this app).
    await mapp.state.oc.jobs.configure_task("maint.probe").defer_async(marker="m", seconds=0)

    after = await scrape(mclient, viewer_headers)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("opscopilot_http_request_seconds_count", route="/api/v1/ingest") == 1
    assert grew("opscopilot_http_request_seconds_count", route="/api/v1/forecasts") == 1
    assert grew("opscopilot_ingest_rows_total", source_type="erp", outcome="inserted") >= 1
    assert grew("opscopilot_forecast_runs_total", type="demand") == 1
    assert grew("opscopilot_forecast_seconds_count", mode="single") == 1
    assert grew("opscopilot_chat_time_to_first_token_seconds_count", surface="eval") == 1
    assert grew("opscopilot_tool_calls_total", tool="days_of_cover", outcome="ok") == 1
    model = "openai/gpt-4o-mini"
    assert grew("opscopilot_llm_tokens_total", model=model, kind="input") > 0
    assert grew("opscopilot_llm_tokens_total", model=model, kind="output") > 0
    assert grew("opscopilot_llm_cost_usd_total", model=model) > 0
    assert grew("opscopilot_notifications_total", channel="email", status="sent") == 1
    # Gauges: read at the scrape.
    assert value(after, "opscopilot_job_queue_jobs", status="todo") >= 1
    assert value(after, "opscopilot_db_pool_connections", state="size") > 0
