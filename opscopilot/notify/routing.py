"""Routing rules and on-call lists: who hears about which alert.

A rule matches an alert when it is enabled, its site is the alert's (or ``*``), and each of
alert type, item category (empty matches any) and minimum severity fits. Its target is
exactly one of: a user (on the rule's channel, or every channel the user has), an on-call
role (the first person on that site's list for the role; escalation walks down the list),
or a shared address on a channel (a Slack channel such as ``#plant-ops``, a team webhook).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.service import find_user
from opscopilot.core.errors import NotFoundError, ValidationFailed
from opscopilot.notify.filters import Severity, parse_severity
from opscopilot.notify.preferences import normalise_address, parse_channel
from opscopilot.notify.schemas import OnCallRead, RoutingRuleRead, RoutingRuleWrite
from opscopilot.notify.templates import FORECAST_ALERT_TYPES
from opscopilot.notify.urlguard import Resolver
from opscopilot.store.models import OnCallEntry, RoutingRule, User

ANY_SITE = "*"


@dataclass(frozen=True, slots=True)
class AlertFacts:
    site: str
    alert_type: str
    severity: Severity
    item_category: str | None


@dataclass(frozen=True, slots=True)
class Target:
    rule_id: uuid.UUID
    user: User | None = None
    channel: str | None = None
    address: str | None = None
    role: str | None = None
    position: int | None = None


def rule_matches(rule: RoutingRule, facts: AlertFacts) -> bool:
    return (
        rule.enabled
        and rule.site in (facts.site, ANY_SITE)
        and (rule.alert_type is None or rule.alert_type == facts.alert_type)
        and (rule.item_category is None or rule.item_category == facts.item_category)
        and facts.severity.rank >= Severity(rule.min_severity).rank
    )


async def targets_for(session: AsyncSession, facts: AlertFacts) -> tuple[list[Target], list[str]]:
    """The targets of every matching rule, and notes on rules that reached nobody."""
    rules = (
        await session.scalars(
            select(RoutingRule)
            .where(RoutingRule.enabled.is_(True), RoutingRule.site.in_([facts.site, ANY_SITE]))
            .order_by(RoutingRule.created_at)
        )
    ).all()
    targets: list[Target] = []
    notes: list[str] = []
    for rule in rules:
        if not rule_matches(rule, facts):
            continue
        if rule.user_id is not None:
            user = await session.get(User, rule.user_id)
            if user is not None:
                targets.append(Target(rule_id=rule.id, user=user, channel=rule.channel))
        elif rule.on_call_role is not None:
            first = await on_call_after(session, site=facts.site, role=rule.on_call_role)
            if first is None:
                notes.append(f"rule {rule.name!r}: no one on call for {rule.on_call_role}")
                continue
            user, position = first
            targets.append(
                Target(
                    rule_id=rule.id,
                    user=user,
                    channel=rule.channel,
                    role=rule.on_call_role,
                    position=position,
                )
            )
        elif rule.channel is not None and rule.address is not None:
            targets.append(Target(rule_id=rule.id, channel=rule.channel, address=rule.address))
    return targets, notes


async def on_call_after(
    session: AsyncSession, *, site: str, role: str, position: int | None = None
) -> tuple[User, int] | None:
    """The first person on the list for (site, role) after `position` (None: the first)."""
    stmt = (
        select(User, OnCallEntry.position)
        .join(OnCallEntry, OnCallEntry.user_id == User.id)
        .where(OnCallEntry.site == site, OnCallEntry.role == role)
        .order_by(OnCallEntry.position)
        .limit(1)
    )
    if position is not None:
        stmt = stmt.where(OnCallEntry.position > position)
    row = (await session.execute(stmt)).first()
    return (row[0], int(row[1])) if row is not None else None


async def create_rule(
    session: AsyncSession,
    *,
    rule: RoutingRuleWrite,
    webhook_allowlist: list[str],
    resolver: Resolver | None = None,
) -> RoutingRuleRead:
    row = RoutingRule(**await _values(session, rule, webhook_allowlist, resolver))
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return await _read(session, row)


async def update_rule(
    session: AsyncSession,
    *,
    rule_id: uuid.UUID,
    rule: RoutingRuleWrite,
    webhook_allowlist: list[str],
    resolver: Resolver | None = None,
) -> RoutingRuleRead:
    row = await _get_rule(session, rule_id)
    for name, value in (await _values(session, rule, webhook_allowlist, resolver)).items():
        setattr(row, name, value)
    await session.flush()
    await session.refresh(row)
    return await _read(session, row)


async def delete_rule(session: AsyncSession, *, rule_id: uuid.UUID) -> None:
    await session.delete(await _get_rule(session, rule_id))


async def list_rules(session: AsyncSession, *, site: str | None = None) -> list[RoutingRuleRead]:
    stmt = select(RoutingRule).order_by(RoutingRule.created_at)
    if site is not None:
        stmt = stmt.where(or_(RoutingRule.site == site, RoutingRule.site == ANY_SITE))
    return [await _read(session, r) for r in (await session.scalars(stmt)).all()]


async def set_on_call(
    session: AsyncSession, *, site: str, role: str, user_ids: list[str]
) -> OnCallRead:
    """Replace the list for (site, role); the order given is the escalation order."""
    if len(set(user_ids)) != len(user_ids):
        raise ValidationFailed("a person appears twice in the on-call list", field="user_ids")
    users = [await find_user(session, external_id=u) for u in user_ids]
    await session.execute(
        delete(OnCallEntry).where(OnCallEntry.site == site, OnCallEntry.role == role)
    )
    for position, user in enumerate(users, start=1):
        session.add(OnCallEntry(site=site, role=role, position=position, user_id=user.id))
    await session.flush()
    return OnCallRead(site=site, role=role, user_ids=[u.external_id for u in users])


async def list_on_call(session: AsyncSession, *, site: str | None = None) -> list[OnCallRead]:
    stmt = (
        select(OnCallEntry.site, OnCallEntry.role, User.external_id)
        .join(User, User.id == OnCallEntry.user_id)
        .order_by(OnCallEntry.site, OnCallEntry.role, OnCallEntry.position)
    )
    if site is not None:
        stmt = stmt.where(OnCallEntry.site == site)
    lists: dict[tuple[str, str], list[str]] = {}
    for entry_site, role, external_id in (await session.execute(stmt)).tuples():
        lists.setdefault((entry_site, role), []).append(external_id)
    return [OnCallRead(site=s, role=r, user_ids=ids) for (s, r), ids in lists.items()]


async def _values(
    session: AsyncSession,
    rule: RoutingRuleWrite,
    allowlist: list[str],
    resolver: Resolver | None,
) -> dict[str, Any]:
    kinds = [
        k
        for k, v in (
            ("user_id", rule.user_id),
            ("on_call_role", rule.on_call_role),
            ("address", rule.address),
        )
        if v
    ]
    if len(kinds) != 1:
        raise ValidationFailed(
            "a rule needs exactly one target: user_id, on_call_role, or channel with address",
            field="user_id",
            details={"given": kinds},
        )
    if rule.alert_type is not None and rule.alert_type not in FORECAST_ALERT_TYPES:
        raise ValidationFailed(
            f"unknown alert type {rule.alert_type!r}; valid: {', '.join(FORECAST_ALERT_TYPES)}",
            field="alert_type",
            details={"valid": list(FORECAST_ALERT_TYPES)},
        )
    channel = parse_channel(rule.channel) if rule.channel is not None else None
    values: dict[str, Any] = {
        "name": rule.name,
        "site": rule.site,
        "alert_type": rule.alert_type,
        "min_severity": parse_severity(rule.min_severity).value,
        "item_category": rule.item_category or None,
        "user_id": None,
        "on_call_role": rule.on_call_role or None,
        "channel": channel,
        "address": None,
        "enabled": rule.enabled,
    }
    if rule.user_id:
        values["user_id"] = (await find_user(session, external_id=rule.user_id)).id
    if rule.address:
        if channel is None:
            raise ValidationFailed("an address needs its channel", field="channel")
        values["address"] = await normalise_address(
            channel,
            rule.address,
            allowlist=allowlist,
            allow_slack_channels=True,
            resolver=resolver,
        )
    return values


async def _get_rule(session: AsyncSession, rule_id: uuid.UUID) -> RoutingRule:
    row = await session.get(RoutingRule, rule_id)
    if row is None:
        raise NotFoundError(f"no routing rule {rule_id}", field="rule_id")
    return row


async def _read(session: AsyncSession, row: RoutingRule) -> RoutingRuleRead:
    user = await session.get(User, row.user_id) if row.user_id is not None else None
    return RoutingRuleRead(
        id=row.id,
        name=row.name,
        site=row.site,
        alert_type=row.alert_type,
        min_severity=row.min_severity,
        item_category=row.item_category,
        user_id=user.external_id if user is not None else None,
        on_call_role=row.on_call_role,
        channel=row.channel,
        address=row.address,
        enabled=row.enabled,
        created_at=row.created_at,
    )
