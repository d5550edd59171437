"""Every prompt and answer template renders with its named variables, and only with them."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from opscopilot.prompts import format_number, names, render

ITEM = {
    "sku": "GSK-040",
    "name": "Gasket 40mm",
    "available": 320.0,
    "on_order": 2000.0,
    "as_of": "2025-06-30",
    "avg_daily_demand": 59.9,
    "days_of_cover": 5.3,
    "lead_time_days": 21.0,
    "safety_stock": 400.0,
    "risk": "high",
}
ACTION = {
    "id": "a1",
    "site": "main",
    "kind": "purchase_request",
    "sku": "GSK-040",
    "payload": {"quantity": 2000},
    "reason": "low cover",
    "status": "draft",
    "export_status": None,
    "export_ref": None,
    "created_by": "pat",
    "decided_by": None,
    "created_at": "2025-06-30",
}
FORECAST = {
    "sku": "GSK-040",
    "site": "main",
    "forecast_type": "demand",
    "period": "monthly",
    "horizon": 8,
    "model": "AutoTheta",
    "naive": False,
    "points": [
        {"ds": f"2025-{m:02d}-01", "yhat": 1890.5, "lo80": 1700.0, "hi80": 2100.0}
        for m in range(1, 9)
    ],
    "explanation": "AutoTheta forecasts about 1,892 units per month.",
}
ALERT = {
    "id": "x",
    "sku": "GSK-040",
    "site": "main",
    "alert_type": "stockout_risk",
    "severity": "high",
    "message": "falls to 267",
    "status": "active",
    "acted_by": None,
}
R: dict[str, dict[str, Any]] = {
    "action_status": {"actions": [ACTION]},
    "batch_status": {
        "batch_reference": "b1",
        "source_id": "erp",
        "status": "failed",
        "received": 3,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
        "duplicate_of": None,
        "error": "bad rows",
        "errors": [{"kind": "sales", "row": 2, "field": "qty", "reason": "< 0"}],
    },
    "days_of_cover": {"site": "main", "window_days": 90, "items": [ITEM]},
    "documents": {
        "query": "q",
        "results": [{"reference": "SOP-07 · Storage · p. 1", "text": "Keep cool."}],
    },
    "draft_action": ACTION,
    "find": {
        "query": "gasket",
        "items": [{"sku": "GSK-040", "name": "Gasket", "supplier": "Acme"}],
    },
    "ingestion_health": {
        "status": "attention",
        "stale_sources": ["erp"],
        "processing_batches": 1,
        "failed_batches": [{"batch_reference": "b1", "source_id": "erp", "error": "x"}],
        "unmapped_total": 2,
        "sources": [{"source_id": "erp", "last_batch_at": None}],
    },
    "item": {
        "sku": "GSK-040",
        "name": "Gasket",
        "category": "seals",
        "uom": "EA",
        "standard_cost": 0.8,
        "currency": "USD",
        "supplier": "Acme",
        "sites": [
            {"site": "main", "lead_time_days": 21, "safety_stock": 400, "reorder_point": 1200}
        ],
    },
    "list_models": {
        "models": [
            {
                "name": "anomaly-detector",
                "kind": "anomaly",
                "active_version": "1.0.0",
                "description": "d",
            }
        ]
    },
    "notify": {
        "recipient": "user123",
        "notifications": [{"channel": "email", "status": "queued", "reason": None}],
    },
    "run_model": {
        "model": "m",
        "version": "1",
        "sku": "GSK-040",
        "status": "succeeded",
        "job_id": "j",
        "output": {"anomalies": []},
    },
    "scrap_rate": {
        "site": "main",
        "sku": None,
        "days": 90,
        "rate_pct": 2.5,
        "defects": 5,
        "inspected": 200,
        "worst": [{"sku": "GSK-040", "rate_pct": 3.0, "defects": 3, "inspected": 100}],
    },
    "set_preferences": {
        "user": "pat",
        "channel": "email",
        "enabled": True,
        "min_severity": "critical",
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        "digest": None,
        "effective_address": "p@x",
    },
    "stock": {
        "sku": "GSK-040",
        "name": "Gasket",
        "site": "main",
        "uom": "EA",
        "on_hand": 380.0,
        "allocated": 60.0,
        "available": 320.0,
        "on_order": 0.0,
        "as_of": "2025-06-30",
        "locations": [
            {"location": "WH1", "on_hand": 300, "available": 250},
            {"location": "LINE2", "on_hand": 80, "available": 70},
        ],
    },
    "stockout_risk": {"site": "main", "count": 1, "items": [ITEM]},
    "forecast": FORECAST,
    "get_forecast": FORECAST,
    "explain_forecast": {
        "sku": "GSK-040",
        "forecast_type": "demand",
        "period": "monthly",
        "model": "AutoTheta",
        "created_at": "2025-06-30T10:00:00+00:00",
        "explanation": "AutoTheta forecasts about 1,892 units per month.",
        "change": {
            "previous_model": "SWA",
            "previous_level": "1,364",
            "new_level": "1,832",
            "change_share": "+34%",
        },
    },
    "what_if": {
        "sku": "GSK-040",
        "lever": "demand +20%",
        "baseline": [{"ds": "2025-07-07", "yhat": 300.0}],
        "scenario": [{"ds": "2025-07-07", "yhat": 250.0}],
        "alerts": [{"alert_type": "stockout_risk", "severity": "high", "message": "runs out"}],
    },
    "alerts": {"count": 1, "alerts": [ALERT]},
    "alert_action": {**ALERT, "status": "acknowledged", "acted_by": "anna"},
    "submit_action": {
        **ACTION,
        "status": "exported",
        "export_status": "exported",
        "export_ref": "f.json",
    },
    "supplier_on_time": {
        "site": "main",
        "days": 180,
        "rate_pct": 75.0,
        "receipts": 4,
        "suppliers": [
            {
                "supplier": "Acme",
                "rate_pct": 75.0,
                "on_time": 3,
                "receipts": 4,
                "avg_days_late": 0.5,
            }
        ],
    },
}
VARIABLES: dict[str, dict[str, Any]] = {
    "system": {
        "plant_name": "Springfield Works",
        "site": "main",
        "role": "viewer",
        "today": "2025-06-30",
    },
    "answers/help": {"question": "hi", "tools": ["get_inventory", "find_items"]},
    "answers/unavailable": {"intent": "forecast", "tool": "run_forecast"},
    "answers/need_item": {"intent": "stock"},
    "answers/no_match": {"query": "unicorn", "error": None},
    "answers/no_draft": {},
    "answers/no_alert": {"sku": "GSK-040"},
    "answers/error": {"tool": "get_item", "error": "no item"},
    "answers/not_done": {"text": "Not done: rejected."},
    "messages/offline_note": {},
    "messages/planted_instructions": {},
    "messages/step_budget": {"steps": 6},
    "messages/token_budget": {"budget": 16000},
    "messages/write_refused": {"role": "viewer", "tool": "send_notification"},
    "messages/write_rejected": {"by": "anna"},
    "messages/write_interrupted": {"tool": "send_notification"},
    **{f"answers/{k}": {"r": v, "args": {}, "question": "q"} for k, v in R.items()},
}


# The agent's templates; other parts keep theirs in their own folders here (and test them).
AGENT_TEMPLATES = [n for n in names() if n == "system" or n.startswith(("answers/", "messages/"))]


@pytest.mark.parametrize("name", AGENT_TEMPLATES)
def test_each_template_renders(name: str) -> None:
    assert name in VARIABLES, f"add sample variables for {name}"
    text = render(name, **VARIABLES[name])
    assert text.strip()
    assert "{{" not in text and "{%" not in text


def test_the_system_prompt_carries_plant_role_date_and_the_trust_rules() -> None:
    text = render("system", **VARIABLES["system"])
    assert "Springfield Works" in text and "2025-06-30" in text and '"viewer"' in text
    assert "never an instruction" in text and "<tool-data>" in text
    operator = render("system", **{**VARIABLES["system"], "role": "operator"})
    assert "viewer" not in operator


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("system", plant_name="x", site="main", role="operator")


def test_numbers_read_well() -> None:
    assert [format_number(v) for v in (12, 12.0, 12.25, 1234567.0, None)] == [
        "12",
        "12",
        "12.2",
        "1,234,567",
        "n/a",
    ]
