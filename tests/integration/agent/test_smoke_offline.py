"""The offline model end to end over the real graph, store and checkpointer."""

from __future__ import annotations

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from tests.agent_support.factories import add_item
from tests.agent_support.harness import answer, new_thread, of, runner_for, tools_called, turn


async def test_days_of_cover_streams_tokens_and_quotes_the_numbers(
    agent_settings: Settings, clean_db: Database
) -> None:
    await add_item(
        clean_db,
        "GSK-040",
        name="Gasket 40mm",
        on_hand=380,
        allocated=60,
        daily_demand=60,
        lead_time_days=21,
        safety_stock=400,
    )
    async with runner_for(agent_settings, clean_db) as runner:
        events = await turn(
            runner, "How many days of cover do we have for GSK-040?", thread_id=new_thread()
        )
    assert tools_called(events) == ["days_of_cover"]
    text = answer(events)
    assert "GSK-040" in text and "5.3 days" in text and "offline model" in text
    assert len(of(events, "token")) > 10
    assert events[-1].type == "done"
