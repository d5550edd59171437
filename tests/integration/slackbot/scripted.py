"""A chat model at the LLM edge whose next message a test script decides, and Slack
request bodies as Slack sends them (events, button presses, slash commands), signed."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from slack_sdk.signature import SignatureVerifier

from opscopilot.agent.llm import build_chain
from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools.registry import build_registry
from tests.peers.slack import SlackMessage, SlackStandIn

SIGNING_SECRET = "slack-test-signing-secret-0123456789"
TEAM_ID = "T00000001"
BOT_USER_ID = "U0000BOT1"

Script = Callable[[list[BaseMessage]], AIMessage]


class ScriptedModel(BaseChatModel):
    """`script(messages)` gives the next model message; `delay_s` plays a slow model."""

    script: Script
    delay_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.script(list(messages)))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._generate(messages)


def answer(text: str) -> Script:
    """A model that answers every question with `text`."""
    return lambda messages: AIMessage(content=text)


def call(name: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}"}]
    )


def last_tool_result(messages: list[BaseMessage]) -> ToolMessage | None:
    return next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)


def scripted_runner(
    settings: Settings, db: Database, checkpointer: Any, script: Script, *, delay_s: float = 0.0
) -> GraphAgentRunner:
    registry = build_registry()
    chain = build_chain(
        settings.llm,
        [s.tool for s in registry.model_tools()],
        primary=ScriptedModel(script=script, delay_s=delay_s),
    )
    return GraphAgentRunner(settings, db, chain=chain, registry=registry, checkpointer=checkpointer)


# -- what Slack sends ----------------------------------------------------------------------


def new_channel() -> str:
    return "C" + uuid.uuid4().hex[:10].upper()


def new_ts() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**6):06d}"


def event_body(
    event: dict[str, Any], *, event_id: str | None = None, event_type: str = "event_callback"
) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A0000APP1",
        "type": event_type,
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:12].upper()}",
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(
    text: str,
    *,
    channel: str,
    user: str = "U0ALICE01",
    ts: str | None = None,
    thread_ts: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_body(event, event_id=event_id)


def direct_message(text: str, *, channel: str, user: str = "U0ALICE01") -> dict[str, Any]:
    ts = new_ts()
    return event_body(
        {
            "type": "message",
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
    )


def block_action(
    *,
    action_id: str,
    value: str,
    user: str,
    channel: str,
    message: dict[str, Any],
    response_url: str,
    block_id: str = "b",
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "plant"},
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": "A0000APP1",
        "token": "legacy-verification-token",
        "trigger_id": "1.2.3",
        "container": {
            "type": "message",
            "message_ts": message.get("ts"),
            "channel_id": channel,
            "thread_ts": message.get("thread_ts"),
        },
        "channel": {"id": channel, "name": "plant-ops"},
        "message": message,
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": new_ts(),
            }
        ],
    }


def slash_command(text: str, *, user: str, channel: str, response_url: str) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "channel_id": channel,
        "user_id": user,
        "command": "/copilot",
        "text": text,
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "api_app_id": "A0000APP1",
    }


def signed(
    body: str, *, secret: str = SIGNING_SECRET, age_s: float = 0.0, content_type: str
) -> dict[str, str]:
    timestamp = str(int(time.time() - age_s))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


def as_json(body: dict[str, Any]) -> tuple[str, str]:
    return json.dumps(body), "application/json"


def as_interaction(payload: dict[str, Any]) -> tuple[str, str]:
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def as_form(fields: dict[str, str]) -> tuple[str, str]:
    return urlencode(fields), "application/x-www-form-urlencoded"


def pressed(
    slack: SlackStandIn, message: SlackMessage, action_id: str, *, user: str
) -> dict[str, Any]:
    """The block_actions payload of `user` pressing the button `action_id` on `message`,
    with the block's id as Slack sends it."""
    block, element = next(
        (b, e)
        for b in message.blocks or []
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    return block_action(
        action_id=action_id,
        value=str(element["value"]),
        user=user,
        channel=message.channel,
        message={
            "ts": message.ts,
            "thread_ts": message.thread_ts,
            "text": message.text,
            "blocks": message.blocks,
        },
        response_url=slack.response_url(user),
        block_id=str(block.get("block_id", "b")),
    )
