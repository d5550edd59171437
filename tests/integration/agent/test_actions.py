"""Action requests: drafts are validated, decided once, exported once (file or webhook)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from opscopilot.actions import service
from opscopilot.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ActionRequest, Site
from tests.agent_support.factories import add_item
from tests.agent_support.harness import APPROVER, OPERATOR, VIEWER
from tests.conftest import make_settings
from tests.peers.webhook import EXAMPLE_SECRET, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=EXAMPLE_SECRET) as peer:
        yield peer


async def _draft(db: Database, **details: object) -> str:
    async with db.transaction() as s:
        action = await service.draft_action(
            s, principal=OPERATOR, site="main", kind="purchase_request", sku="GSK-040",
            reason="cover 5 days", details=details or {"quantity": 2000},
        )  # fmt: skip
    return action.id


async def _approve(db: Database, action_id: str) -> None:
    async with db.transaction() as s:
        await service.decide_action(s, principal=APPROVER, action_id=action_id, approve=True)


async def test_drafts_are_validated(clean_db: Database) -> None:
    await add_item(clean_db, "GSK-040")
    with pytest.raises(ValidationFailed, match="quantity"):
        await _draft(clean_db, quantity=-5)
    with pytest.raises(ValidationFailed, match="(?i)extra"):
        await _draft(clean_db, quantity=5, colour="red")
    async with clean_db.transaction() as s:
        with pytest.raises(NotFoundError):
            await service.draft_action(
                s, principal=OPERATOR, site="main", kind="expedite", sku="NOPE-1",
                reason="x", details={"reference": "PO-1"},
            )  # fmt: skip
        with pytest.raises(ValidationFailed, match="kind"):
            await service.draft_action(
                s, principal=OPERATOR, site="main", kind="scrap_everything", sku="GSK-040",
                reason="x", details={},
            )  # fmt: skip


async def test_a_request_is_decided_once_and_only_by_an_operator(clean_db: Database) -> None:
    await add_item(clean_db, "GSK-040")
    action_id = await _draft(clean_db)
    async with clean_db.transaction() as s:
        with pytest.raises(PermissionDenied):
            await service.decide_action(s, principal=VIEWER, action_id=action_id, approve=True)
    await _approve(clean_db, action_id)
    async with clean_db.transaction() as s:
        with pytest.raises(ConflictError):
            await service.decide_action(s, principal=APPROVER, action_id=action_id, approve=False)


async def test_export_by_signed_webhook_is_received_once_even_when_retried(
    migrated: str, clean_db: Database, receiver: WebhookReceiver
) -> None:
    settings = make_settings(
        migrated, notify={"webhook_secret": EXAMPLE_SECRET, "webhook_allowlist": ["127.0.0.1"]}
    )
    await add_item(clean_db, "GSK-040")
    async with clean_db.transaction() as s:
        s.add(
            Site(
                code="main",
                name="Main",
                policy={"erp_export": {"mode": "webhook", "url": receiver.url + "/erp"}},
            )
        )
    action_id = await _draft(clean_db)
    with pytest.raises(ConflictError):
        await service.export_action(
            clean_db, settings=settings, principal=APPROVER, action_id=action_id
        )
    await _approve(clean_db, action_id)
    exported = await service.export_action(
        clean_db, settings=settings, principal=APPROVER, action_id=action_id
    )
    assert exported.status == "exported" and exported.export_ref == action_id
    # A crash after the ERP took it but before we recorded it: the retry is recognised.
    async with clean_db.transaction() as s:
        await s.execute(update(ActionRequest).values(status="approved", export_status="exporting"))
    await service.export_action(
        clean_db, settings=settings, principal=APPROVER, action_id=action_id
    )
    assert list(receiver.effects) == [action_id]
    assert receiver.duplicates == 1
    body = receiver.effects[action_id]
    assert body["type"] == "purchase_request" and body["details"] == {"quantity": 2000.0}
    assert all(r.verdict in ("ok", "duplicate") for r in receiver.requests)


async def test_export_to_a_private_address_is_refused_and_recorded(
    agent_settings: Settings, clean_db: Database
) -> None:
    settings = agent_settings.model_copy(
        update={
            "notify": agent_settings.notify.model_copy(
                update={"webhook_secret": SecretStr("s3cret-value")}
            )
        }
    )
    await add_item(clean_db, "GSK-040")
    async with clean_db.transaction() as s:
        s.add(
            Site(
                code="main",
                name="Main",
                policy={"erp_export": {"mode": "webhook", "url": "http://169.254.169.254/latest"}},
            )
        )
    action_id = await _draft(clean_db)
    await _approve(clean_db, action_id)
    with pytest.raises(ValidationFailed):
        await service.export_action(
            clean_db, settings=settings, principal=APPROVER, action_id=action_id
        )
    async with clean_db.session() as s:
        row = await s.get(ActionRequest, action_id)
    assert (
        row is not None and row.export_status == "failed" and "metadata" in (row.export_ref or "")
    )


async def test_file_export_is_atomic_and_named_by_the_request(
    agent_settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    await add_item(clean_db, "GSK-040")
    async with clean_db.transaction() as s:
        s.add(
            Site(
                code="main",
                name="Main",
                policy={"erp_export": {"mode": "file", "dir": str(tmp_path)}},
            )
        )
    action_id = await _draft(clean_db)
    await _approve(clean_db, action_id)
    await service.export_action(
        clean_db, settings=agent_settings, principal=APPROVER, action_id=action_id
    )
    (written,) = tmp_path.iterdir()
    assert written.name == f"action-{action_id}.json"
    assert json.loads(written.read_text())["approved_by"] == APPROVER.external_id
