"""What each kind of action request carries; validated before a draft is stored."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ActionKind = Literal["purchase_request", "transfer", "expedite", "work_order_change"]
ACTION_KINDS: tuple[str, ...] = ("purchase_request", "transfer", "expedite", "work_order_change")
# draft -> approved -> exported, or draft -> rejected; export_status tracks the ERP side.
ACTION_STATUSES = ("draft", "approved", "rejected", "exported")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PurchaseRequest(_Payload):
    quantity: float = Field(gt=0)
    needed_by: date | None = None
    supplier: str | None = None


class Transfer(_Payload):
    quantity: float = Field(gt=0)
    from_site: str
    to_site: str


class Expedite(_Payload):
    reference: str = Field(min_length=1, description="PO or order number to expedite")
    needed_by: date | None = None
    quantity: float | None = Field(default=None, gt=0)


class WorkOrderChange(_Payload):
    work_order: str = Field(min_length=1)
    change: str = Field(min_length=1, max_length=1000)
    quantity: float | None = Field(default=None, gt=0)


PAYLOADS: dict[str, type[_Payload]] = {
    "purchase_request": PurchaseRequest,
    "transfer": Transfer,
    "expedite": Expedite,
    "work_order_change": WorkOrderChange,
}


class ActionRead(BaseModel):
    id: str
    site: str
    kind: str
    sku: str | None
    payload: dict[str, Any]
    reason: str
    status: str
    export_status: str | None
    export_ref: str | None
    created_by: str | None
    decided_by: str | None
    created_at: str
