"""The value sets of ingestion: source types, record kinds and what each kind becomes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opscopilot.store.models.ingest import SOURCE_TYPES

__all__ = [
    "FACT_KINDS",
    "MASTER_KINDS",
    "OBS_KIND_OF",
    "RECORD_KINDS",
    "SOURCE_TYPES",
    "guess_kind",
]

# Applied in this order: master data first, so facts in the same batch find their items.
MASTER_KINDS = ("items", "processes", "costs")
FACT_KINDS = ("inventory", "sales", "receipts", "quality")
RECORD_KINDS = ("items", "inventory", "sales", "receipts", "quality", "costs", "processes")

# Record kind -> observation kind (the fact table's vocabulary).
OBS_KIND_OF = {
    "sales": "demand",
    "receipts": "supply",
    "quality": "quality",
    "inventory": "inventory",
}
RECORD_KIND_OF = {v: k for k, v in OBS_KIND_OF.items()}

# Columns that tell a file's record kind, tried in this order.
_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inventory", ("on_hand",)),
    ("quality", ("inspected", "defects", "defect_rate")),
    ("receipts", ("po_number", "supplier")),
    ("sales", ("order_id", "customer")),
    ("processes", ("work_center", "cycle_time_minutes", "steps")),
    ("items", ("name", "description", "supplier_name", "uom")),
    ("costs", ("standard_cost",)),
)


def guess_kind(columns_for: Callable[[str | None], Iterable[str | None]]) -> str | None:
    """The record kind a file most likely holds, or None when nothing tells.

    `columns_for(kind)` gives the file's columns in our names as that kind's mapping would
    rename them (None: the renames shared by all kinds). The shared names decide first, so
    a kind-specific alias (the generic `qty` -> `on_hand` of inventory) cannot outvote a
    column that names its kind plainly (`order_id`)."""
    shared = set(columns_for(None))
    for kind, marks in _SIGNATURES:
        if shared.intersection(marks):
            return kind
    for kind, marks in _SIGNATURES:
        if set(columns_for(kind)).intersection(marks):
            return kind
    return None
