"""What reaches a cloud model: redaction of configured fields, local-only sites (agent/policy)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from opscopilot.access.roles import Principal
from opscopilot.agent.policy import is_local_model
from opscopilot.core.settings import LLMSettings, Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ManufacturingItem, Site
from tests.agent_support.factories import add_item
from tests.agent_support.harness import ADMIN, answer, new_thread, of, runner_for, turn
from tests.conftest import make_settings
from tests.peers.openai_standin import OpenAIStandIn, Reply

pytestmark = pytest.mark.filterwarnings("ignore:.*is using the `ReadOnly` qualifier")

SUPPLIER = "Zenith Secret Metals"
COST = Decimal("4321.5000")
NORTH_VIEWER = Principal(user_id=None, external_id="nora-north", role="viewer", sites=("north",))


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[OpenAIStandIn]:
    async with OpenAIStandIn() as peer:
        yield peer


def _settings(url: str, standin: OpenAIStandIn, **llm: Any) -> Settings:
    values: dict[str, Any] = {
        "model": "openai/policy",
        "api_base": standin.base_url,
        "api_key": "sk-test-not-a-secret",
        "call_deadline_s": 15.0,
        "idle_chunk_timeout_s": 5.0,
        "num_retries": 0,
        "max_steps": 4,
    }
    values.update(llm)
    return make_settings(url, llm=values)


async def _item(db: Database, sku: str, site: str) -> None:
    await add_item(db, sku, name="Valve body", site=site, on_hand=77, supplier=SUPPLIER)
    async with db.transaction() as session:
        await session.execute(
            update(ManufacturingItem)
            .where(ManufacturingItem.sku == sku)
            .values(standard_cost=COST, currency="USD")
        )


def _sent(standin: OpenAIStandIn, since: int) -> str:
    return json.dumps(standin.requests_for("policy")[since:])


def test_which_models_count_as_local() -> None:
    plain = LLMSettings(api_base="https://api.example.com/v1")
    assert is_local_model(None, plain)
    assert is_local_model("ollama_chat/qwen2.5", plain)
    assert is_local_model("ollama/llama3", plain)
    assert not is_local_model("openai/gpt-4o", plain)
    hosted = LLMSettings(
        api_base="http://llm.plant.lan:8080/v1", local_api_bases=["llm.plant.lan:8080"]
    )
    assert is_local_model("openai/qwen", hosted)
    other_port = LLMSettings(
        api_base="http://llm.plant.lan:9999", local_api_bases=["llm.plant.lan:8080"]
    )
    assert not is_local_model("openai/qwen", other_port)


async def test_configured_fields_never_reach_the_cloud_model(
    migrated: str, clean_db: Database, standin: OpenAIStandIn
) -> None:
    await _item(clean_db, "VLV-100", "main")
    standin.script(
        "policy",
        Reply(tool_calls=(("get_item", {"sku": "VLV-100"}),)),
        Reply(text="VLV-100 is a valve body."),
    )
    before = len(standin.requests_for("policy"))
    settings = _settings(migrated, standin, redact_fields=["standard_cost", "supplier"])
    async with runner_for(settings, clean_db) as runner:
        events = await turn(
            runner, "tell me about VLV-100", thread_id=new_thread(), principal=ADMIN
        )
    assert answer(events) == "VLV-100 is a valve body."
    sent = _sent(standin, before)
    assert len(standin.requests_for("policy")) == before + 2
    assert "Valve body" in sent  # the tool result did go out...
    assert SUPPLIER not in sent and "4321.5" not in sent  # ...without the redacted fields
    assert "[redacted]" in sent
    # The person still sees them: redaction applies to the cloud call only.
    shown = of(events, "tool_result")[0]["data"]
    assert shown["supplier"] == SUPPLIER


async def test_without_redaction_the_fields_do_go_out(
    migrated: str, clean_db: Database, standin: OpenAIStandIn
) -> None:
    # The control: the assertion above can fail.
    await _item(clean_db, "VLV-101", "main")
    standin.script(
        "policy", Reply(tool_calls=(("get_item", {"sku": "VLV-101"}),)), Reply(text="ok")
    )
    before = len(standin.requests_for("policy"))
    async with runner_for(_settings(migrated, standin), clean_db) as runner:
        await turn(runner, "tell me about VLV-101", thread_id=new_thread(), principal=ADMIN)
    assert SUPPLIER in _sent(standin, before)


async def test_a_local_only_site_question_never_reaches_a_cloud_model(
    migrated: str, clean_db: Database, standin: OpenAIStandIn
) -> None:
    before = len(standin.requests_for("policy"))
    settings = _settings(migrated, standin, local_only_sites=["north"])
    async with runner_for(settings, clean_db) as runner:
        events = await turn(
            runner, "stock of VLV-100?", thread_id=new_thread(), principal=NORTH_VIEWER,
            site="north",
        )  # fmt: skip
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "local_model_required"
    assert "north" in events[-1].data["message"]
    assert len(standin.requests_for("policy")) == before


async def test_local_only_data_read_from_another_site_stops_before_the_cloud(
    migrated: str, clean_db: Database, standin: OpenAIStandIn
) -> None:
    await _item(clean_db, "VLV-200", "north")
    standin.script(
        "policy",
        Reply(tool_calls=(("get_inventory", {"sku": "VLV-200", "site": "north"}),)),
    )
    before = len(standin.requests_for("policy"))
    settings = _settings(migrated, standin, local_only_sites=["north"])
    async with runner_for(settings, clean_db) as runner:
        events = await turn(runner, "stock at north?", thread_id=new_thread(), principal=ADMIN)
    assert events[-1].data["code"] == "local_model_required"
    # Only the first call (the question, no north data yet) went out.
    assert len(standin.requests_for("policy")) == before + 1
    assert '"on_hand":77' not in _sent(standin, before)


async def test_a_plant_hosted_model_serves_a_local_only_site(
    migrated: str, clean_db: Database, standin: OpenAIStandIn
) -> None:
    standin.script("policy", Reply(text="Answered on the plant's own model."))
    host = standin.base_url.split("//", 1)[1].split("/", 1)[0]
    settings = _settings(migrated, standin, local_only_sites=["north"], local_api_bases=[host])
    async with runner_for(settings, clean_db) as runner:
        events = await turn(
            runner, "hello", thread_id=new_thread(), principal=NORTH_VIEWER, site="north"
        )
    assert answer(events) == "Answered on the plant's own model."


async def test_the_offline_model_serves_a_local_only_site(
    migrated: str, clean_db: Database
) -> None:
    settings = make_settings(migrated, llm={"local_only_sites": ["north"]})
    async with runner_for(settings, clean_db) as runner:
        events = await turn(
            runner, "hello", thread_id=new_thread(), principal=NORTH_VIEWER, site="north"
        )
    assert events[-1].type == "done"


async def test_the_sites_table_sets_the_policy_per_site(
    migrated: str, clean_db: Database, standin: OpenAIStandIn
) -> None:
    async with clean_db.transaction() as session:
        session.add(Site(code="east", name="East", policy={"local_model_only": True}))
        session.add(Site(code="main", name="Main", policy={"redact_fields": ["supplier"]}))
    await _item(clean_db, "VLV-300", "main")
    standin.script(
        "policy", Reply(tool_calls=(("get_item", {"sku": "VLV-300"}),)), Reply(text="ok")
    )
    before = len(standin.requests_for("policy"))
    settings = _settings(migrated, standin)
    async with runner_for(settings, clean_db) as runner:
        east = Principal(user_id=None, external_id="eve-east", role="viewer", sites=("east",))
        refused = await turn(runner, "hello", thread_id=new_thread(), principal=east, site="east")
        assert refused[-1].data["code"] == "local_model_required"
        assert len(standin.requests_for("policy")) == before
        await turn(runner, "about VLV-300", thread_id=new_thread(), principal=ADMIN)
    sent = _sent(standin, before)
    assert "Valve body" in sent and SUPPLIER not in sent
    assert "4321.5" in sent  # only the site's own fields are redacted
