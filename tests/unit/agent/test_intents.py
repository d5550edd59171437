"""The offline parser: the supported forms and their arguments."""

from __future__ import annotations

import pytest

from opscopilot.agent.intents import Intent, find_sku, parse


@pytest.mark.parametrize(
    "question,name,args",
    [
        ("What's the stock of ITEM-001?", "stock", {"sku": "ITEM-001"}),
        (
            "Forecast demand for GSK-040 by month",
            "forecast",
            {"sku": "GSK-040", "forecast_type": "demand", "period": "monthly"},
        ),
        (
            "forecast ITEM-001 for the next 8 weeks",
            "forecast",
            {"sku": "ITEM-001", "forecast_type": "demand", "period": "weekly", "horizon": 8},
        ),
        (
            "quality forecast for GSK-040 quarterly",
            "forecast",
            {"sku": "GSK-040", "forecast_type": "quality", "period": "quarterly"},
        ),
        (
            "Why did the forecast for GSK-040 change?",
            "explain_forecast",
            {"sku": "GSK-040", "forecast_type": "demand"},
        ),
        ("Any critical alerts?", "alerts", {"severity": "critical"}),
        ("status of batch batch_20240101_001", "batch_status", {"batch": "batch_20240101_001"}),
        ("Is ingestion healthy?", "ingestion_health", {}),
        (
            "Run model anomaly-detector on GSK-040",
            "run_model",
            {"model": "anomaly-detector", "sku": "GSK-040"},
        ),
        (
            "notify user123 that GSK-040 is low",
            "notify",
            {"user": "user123", "message": "GSK-040 is low"},
        ),
        (
            "tell the buyer on call that PLT-300 is short",
            "notify",
            {"on_call_role": "buyer", "message": "PLT-300 is short"},
        ),
        (
            "Draft a transfer of 100 BRG-6204 from main to east",
            "draft_action",
            {
                "kind": "transfer",
                "quantity": 100.0,
                "from_site": "main",
                "to_site": "east",
                "reason": "requested in chat",
                "sku": "BRG-6204",
            },
        ),
        (
            "Set my email notifications to critical only",
            "set_preferences",
            {"channel": "email", "min_severity": "critical"},
        ),
        ("What is at risk of a stockout?", "stockout_risk", {}),
    ],
)
def test_supported_forms(question: str, name: str, args: dict[str, object]) -> None:
    intent = parse(question)
    assert intent is not None and intent.name == name
    assert intent.args == args


def test_an_item_named_in_words_is_looked_up_first() -> None:
    assert parse("How many 40mm gaskets do we have?") == Intent(
        "stock", {}, item_query="40mm gaskets"
    )


def test_anything_else_is_not_understood() -> None:
    assert parse("What's the weather in Paris?") is None
    assert parse("Write me a poem") is None


def test_skus_are_found_but_po_and_uuid_parts_are_not() -> None:
    assert find_sku("expedite PO-4711 for plt-300") == "PLT-300"
    assert find_sku("approval 123e4567-e89b-12d3-a456-426614174000") is None
