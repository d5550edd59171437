"""Records -> staging rows: natural keys, units, sites, and each refusal with its reason."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from opscopilot.ingest.mapping import Mapping, load_mapping
from opscopilot.ingest.normalize import STAGE_COLUMNS, Normalizer
from opscopilot.ingest.values import RowError

TODAY = date(2024, 6, 1)


def make(mapping: Mapping | None = None, sites: tuple[str, ...] | None = None) -> Normalizer:
    return Normalizer(
        mapping=mapping or load_mapping("generic", mappings_dir=None),
        default_site="main",
        allowed_sites=sites,
        today=TODAY,
        future_tolerance_days=2,
    )


def row(n: Normalizer, kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(STAGE_COLUMNS, n.normalize_raw(kind, rec, 1), strict=True))


def refused(n: Normalizer, kind: str, rec: dict[str, Any]) -> RowError:
    with pytest.raises(RowError) as err:
        n.normalize_raw(kind, rec, 1)
    return err.value


def test_sales_natural_keys() -> None:
    n = make()
    with_order = row(n, "sales", {"sku": "A", "date": "2024-05-01", "qty": 2, "order_id": "SO1"})
    assert with_order["natural_key"] == "r:SO1:A"
    assert with_order["okind"] == "demand" and with_order["value"] == 2.0
    line = row(n, "sales", {"sku": "A", "date": "2024-05-01", "qty": 2, "order_id": "SO1",
                            "line": 3})  # fmt: skip
    assert line["natural_key"] == "r:SO1:3"
    plain = row(n, "sales", {"sku": "A", "date": "2024-05-01", "qty": 2, "location": "W1"})
    assert plain["natural_key"] == "d:A:2024-05-01:W1"
    receipt = row(n, "receipts", {"sku": "A", "date": "2024-05-01", "qty": 5, "po": "PO9",
                                  "supplier": "Acme"})  # fmt: skip
    assert (receipt["okind"], receipt["natural_key"], receipt["counterparty"]) == (
        "supply", "r:PO9:A", "Acme")  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "rec", "field", "reason"),
    [
        ("sales", {"date": "2024-05-01", "qty": 1}, "sku", "is required"),
        ("sales", {"sku": "A", "date": "2024-05-01", "qty": "many"}, "qty", "not a number"),
        ("sales", {"sku": "A", "date": "2024-05-01", "qty": -1}, "qty", ">= 0"),
        ("sales", {"sku": "A", "date": "2024-06-04", "qty": 1}, "date", "in the future"),
        ("sales", {"sku": ["A"], "date": "2024-05-01", "qty": 1}, "sku", "expected text"),
        ("inventory", {"sku": "A", "on_hand": -3}, "on_hand", ">= 0"),
        ("inventory", {"sku": "A"}, "on_hand", "is required"),
        (
            "quality",
            {"sku": "A", "date": "2024-05-01", "inspected": 5, "defects": 9},
            "defects",
            "exceed",
        ),
        (
            "quality",
            {"sku": "A", "date": "2024-05-01", "defect_rate": 0.1},
            "inspected",
            "required",
        ),
        ("costs", {"sku": "A"}, "standard_cost", "is required"),
        ("processes", {"name": "Weld"}, "code", "is required"),
        ("processes", {"code": "P1", "yield_pct": 120}, "yield_pct", "<= 100"),
    ],
)
def test_refusals_name_field_and_reason(
    kind: str, rec: dict[str, Any], field: str, reason: str
) -> None:
    err = refused(make(), kind, rec)
    assert err.field == field
    assert reason in err.reason


def test_quality_keeps_defects_and_inspected() -> None:
    n = make()
    counted = row(n, "quality", {"sku": "A", "date": "2024-05-01", "inspected": 200,
                                 "defects": 3, "lot": "L7"})  # fmt: skip
    assert (counted["value"], counted["weight"], counted["natural_key"]) == (3.0, 200.0, "l:L7")
    rated = row(n, "quality", {"sku": "A", "date": "2024-05-01", "inspected": 50,
                               "defect_rate": 0.1})  # fmt: skip
    assert (rated["value"], rated["weight"]) == (5.0, 50.0)


def test_items_split_master_params_snapshot_and_attributes() -> None:
    out = row(make(), "items", {"sku": "ITEM-001", "name": "Component A", "qty": 100,
                                "safety_stock": 5, "color": "red", "currency": "eur"})  # fmt: skip
    data = json.loads(out["data"])
    assert data["name"] == "Component A" and data["currency"] == "EUR"
    assert data["params"] == {"safety_stock": 5.0}
    assert data["snapshot"]["on_hand"] == 100.0 and data["snapshot"]["location"] == "default"
    assert data["attributes"] == {"color": "red"}


def test_sites_default_and_scope() -> None:
    assert row(make(), "inventory", {"sku": "A", "on_hand": 1})["site"] == "main"
    scoped = make(sites=("plant-b",))
    assert refused(scoped, "inventory", {"sku": "A", "on_hand": 1}).field == "site"
    assert row(scoped, "inventory", {"sku": "A", "on_hand": 1, "site": "plant-b"})["site"] == (
        "plant-b"
    )


def test_legacy_erp_vocabulary_units_and_plants() -> None:
    n = make(load_mapping("legacy_erp", mappings_dir=None))
    sale = row(n, "sales", {"SalesDoc": "45", "DocItem": "20", "ItemNo": "300-0007",
                            "Plant": "2000", "ShipDate": "03.01.2024", "QtyShipped": "1,5",
                            "UoM": "DZ"})  # fmt: skip
    assert sale["site"] == "plant-b"
    assert sale["value"] == 18.0
    assert sale["obs_date"] == date(2024, 1, 3)
    assert sale["natural_key"] == "k:45|20"
    box = {"SalesDoc": "45", "DocItem": "1", "ItemNo": "X", "ShipDate": "03.01.2024",
           "QtyShipped": "1", "UoM": "BOX"}  # fmt: skip
    err = refused(n, "sales", box)
    assert err.field == "qty" and "unknown unit 'BOX'" in err.reason
    missing = refused(n, "sales", {"SalesDoc": "45", "ItemNo": "X", "ShipDate": "03.01.2024",
                                   "QtyShipped": "1", "UoM": "EA"})  # fmt: skip
    assert missing.field == "line"
