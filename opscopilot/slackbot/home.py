"""The App Home tab: who you are to the copilot, your active alerts and your notification
preferences, published with views.publish each time you open it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.forecasting import service as alert_service
from opscopilot.forecasting.schemas import AlertRead
from opscopilot.notify.preferences import get_preferences
from opscopilot.notify.schemas import PreferenceRead
from opscopilot.slackbot import service
from opscopilot.slackbot.blocks import Block
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.text import escape

MAX_ALERTS = 10
_SEVERITY_EMOJI = {"critical": ":rotating_light:", "high": ":warning:", "medium": ":warning:"}


async def publish(bot: SlackBot, *, slack_user_id: str) -> None:
    async with bot.db.sessions() as session:
        principal = await service.principal_for(
            session, slack_user_id=slack_user_id, default_site=bot.settings.default_site
        )
        alerts = await alert_service.active_alerts(session, principal=principal, limit=MAX_ALERTS)
        preferences = await _preferences(session, principal)
    view = home_view(
        principal=principal,
        plant=bot.settings.plant_name,
        alerts=alerts,
        preferences=preferences,
        web_url=bot.settings.api.public_url,
    )
    await bot.client.views_publish(user_id=slack_user_id, view=view)


async def _preferences(session: AsyncSession, principal: Principal) -> list[PreferenceRead] | None:
    if principal.user_id is None:
        return None
    return (await get_preferences(session, user_id=principal.external_id)).channels


def home_view(
    *,
    principal: Principal,
    plant: str,
    alerts: list[AlertRead],
    preferences: list[PreferenceRead] | None,
    web_url: str,
) -> dict[str, Any]:
    sites = ", ".join(principal.sites) if principal.sites else "all sites"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"OpsCopilot · {plant}"[:150]}},
        _context(f"You are *{principal.role}* for {escape(sites)}."),
        _section(
            "Mention me in a channel or send me a direct message to ask about stock, "
            f"forecasts, alerts and ingestion. The web chat is at {escape(web_url)}."
        ),
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Active alerts"}},
        *_alert_blocks(alerts),
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Notification preferences"}},
        *_preference_blocks(preferences),
    ]
    return {"type": "home", "blocks": blocks}


def _section(markdown: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:3000]}}


def _context(markdown: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": markdown[:2000]}]}


def _alert_blocks(alerts: list[AlertRead]) -> list[Block]:
    if not alerts:
        return [_context("No active alerts on your sites.")]
    shown = []
    for alert in alerts[:MAX_ALERTS]:
        emoji = _SEVERITY_EMOJI.get(alert.severity, ":information_source:")
        state = "" if alert.status == "active" else f" · {escape(alert.status)}"
        shown.append(
            _section(
                f"{emoji} *{escape(alert.sku)}* · {escape(alert.alert_type)} · "
                f"{escape(alert.severity)} · site {escape(alert.site)}{state}\n"
                f"{escape(alert.message)}"
            )
        )
    return shown


def _preference_blocks(preferences: list[PreferenceRead] | None) -> list[Block]:
    if preferences is None:
        return [_context("Preferences are kept for people with an OpsCopilot user.")]
    if not preferences:
        return [_context("No preferences set: you get the defaults of your routing rules.")]
    lines = []
    for pref in preferences:
        line = f"• *{escape(pref.channel)}*: {'on' if pref.enabled else 'off'}, "
        line += f"from {escape(pref.min_severity)}"
        if pref.quiet_hours_start and pref.quiet_hours_end:
            line += f", quiet {pref.quiet_hours_start:%H:%M}–{pref.quiet_hours_end:%H:%M}"
        if pref.digest:
            line += f", {escape(pref.digest)} digest"
        lines.append(line)
    return [_section("\n".join(lines))]
