"""Notification tools: send a notification, change preferences (both write tier)."""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from opscopilot.access.service import find_user
from opscopilot.core.errors import NotFoundError, PermissionDenied
from opscopilot.notify import service as notify
from opscopilot.notify.routing import list_on_call
from opscopilot.tools.base import ToolSpec, WriteMeta, to_jsonable, write_tool
from opscopilot.tools.context import ToolContext

Severity = Literal["info", "warning", "critical"]
Channel = Literal["email", "sms", "slack", "webhook"]


class SendArgs(BaseModel):
    message: str = Field(min_length=1, max_length=4000)
    user: str | None = Field(None, description="The recipient's user id, e.g. user123.")
    on_call_role: str | None = Field(
        None, description="Instead of a user: the first person on call for this role (buyer)."
    )
    title: str = Field("Message from OpsCopilot", min_length=1, max_length=200)
    severity: Severity = "info"
    channel: Channel | None = Field(None, description="One channel; default: all of theirs.")

    @model_validator(mode="after")
    def _one_recipient(self) -> SendArgs:
        if (self.user is None) == (self.on_call_role is None):
            raise ValueError("give exactly one of user or on_call_role")
        return self


async def _recipient(ctx: ToolContext, args: SendArgs) -> str:
    async with ctx.db.session() as session:
        if args.user is not None:
            return (await find_user(session, external_id=args.user.strip())).external_id
        role = (args.on_call_role or "").strip().lower()
        for entry in await list_on_call(session, site=ctx.site):
            if entry.role.lower() == role and entry.user_ids:
                return entry.user_ids[0]
    raise NotFoundError(f"nobody is on call as {role!r} at site {ctx.site}")


async def send_notification(ctx: ToolContext, args: BaseModel, meta: WriteMeta) -> dict[str, Any]:
    """Send a notification to one person (by user id, or whoever is on call for a role).
    Only when the person in this chat asked for it. Pauses for an operator's approval.
    """
    assert isinstance(args, SendArgs)
    user_id = await _recipient(ctx, args)
    async with ctx.db.transaction() as session:
        sent = await notify.send_notification(
            session,
            user_id=user_id,
            title=args.title,
            message=args.message,
            notification_type="agent",
            severity=args.severity,
            channel=args.channel,
            site=ctx.site,
            data={"thread_id": ctx.thread_id, "requested_by": ctx.principal.external_id},
            request_key=meta.idempotency_key,
            caller="agent",
        )
    result: dict[str, Any] = to_jsonable({"recipient": user_id, **sent.model_dump()})
    return result


async def _describe_send(ctx: ToolContext, args: BaseModel) -> str:
    assert isinstance(args, SendArgs)
    user_id = await _recipient(ctx, args)
    async with ctx.db.session() as session:
        prefs = await notify.get_preferences(session, user_id=user_id)
    addresses = [
        f"{p.channel} {p.effective_address}"
        for p in prefs.channels
        if p.enabled and p.effective_address and args.channel in (None, p.channel)
    ]
    if not addresses:
        addresses = [f"{c} {a}" for c, a in (("email", prefs.email), ("sms", prefs.phone)) if a]
    via = ", ".join(addresses) or "no known address"
    who = f"{user_id} (on call as {args.on_call_role})" if args.on_call_role else user_id
    return (
        f"Send a {args.severity} notification to {who} via {via}: "
        f"title {args.title!r}, message {args.message!r}."
    )


class PreferenceArgs(BaseModel):
    channel: Channel
    user: str | None = Field(None, description="Whose preferences; default: the person asking.")
    enabled: bool | None = None
    min_severity: Severity | None = None
    quiet_hours_start: time | None = Field(None, description="HH:MM on the user's clock.")
    quiet_hours_end: time | None = None
    digest: Literal["hourly", "daily"] | None = None
    address: str | None = Field(None, description="A new address for this channel.")


def _whose(ctx: ToolContext, args: PreferenceArgs) -> str:
    user = (args.user or ctx.principal.external_id).strip()
    if user != ctx.principal.external_id and not ctx.principal.can("admin"):
        raise PermissionDenied("you can change only your own notification preferences")
    return user


async def set_preferences(ctx: ToolContext, args: BaseModel, meta: WriteMeta) -> dict[str, Any]:
    """Change one channel of a person's notification preferences (on/off, minimum
    severity, quiet hours, digest, address); fields not given keep their value.
    Pauses for an operator's approval.
    """
    assert isinstance(args, PreferenceArgs)
    user_id = _whose(ctx, args)
    async with ctx.db.transaction() as session:
        current = await _current(session, user_id, args.channel)
        changes = args.model_dump(exclude_none=True, exclude={"user", "channel"})
        merged = {**current, **changes}
        saved = await notify.set_preferences(
            session,
            user_id=user_id,
            channel=args.channel,
            address=merged.get("address"),
            enabled=merged.get("enabled", True),
            min_severity=merged.get("min_severity", "info"),
            quiet_hours_start=merged.get("quiet_hours_start"),
            quiet_hours_end=merged.get("quiet_hours_end"),
            critical_breaks_quiet_hours=merged.get("critical_breaks_quiet_hours", True),
            digest=merged.get("digest"),
            webhook_allowlist=ctx.settings.notify.webhook_allowlist,
        )
    result: dict[str, Any] = to_jsonable({"user": user_id, **saved.model_dump()})
    return result


async def _current(session: Any, user_id: str, channel: str) -> dict[str, Any]:
    try:
        prefs = await notify.get_preferences(session, user_id=user_id)
    except NotFoundError:
        return {}
    for p in prefs.channels:
        if p.channel == channel:
            return p.model_dump(exclude={"channel", "effective_address"})
    return {}


async def _describe_preferences(ctx: ToolContext, args: BaseModel) -> str:
    assert isinstance(args, PreferenceArgs)
    user_id = _whose(ctx, args)
    changes = args.model_dump(exclude_none=True, exclude={"user", "channel"})
    listed = ", ".join(f"{k.replace('_', ' ')} = {v}" for k, v in changes.items()) or "no change"
    return f"Change {user_id}'s {args.channel} notification preferences: {listed}."


def specs() -> list[ToolSpec]:
    return [
        write_tool(
            name="send_notification",
            args_schema=SendArgs,
            describe=_describe_send,
            execute=send_notification,
            status="sending the notification",
        ),
        write_tool(
            name="set_preferences",
            args_schema=PreferenceArgs,
            describe=_describe_preferences,
            execute=set_preferences,
            status="saving the preferences",
        ),
    ]
