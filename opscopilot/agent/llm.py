"""The chat models behind the model node, and one guarded streaming call over them.

A configured model goes through litellm itself (`litellm_direct.py`; litellm is imported
lazily: it costs seconds), its tokens going straight to a sink; a LangChain chat model (the
offline model, scripted test models) streams through LangChain. litellm's own timeouts do
not fire on a silent upstream, so every call runs under our deadline and an idle-chunk
watchdog. A call that fails before streaming anything is
retried (transient errors) and then handed to the fallback model; one that fails after
tokens reached the person is not repeated (they would see the text twice). Which models a
call may use, and what a cloud model sees, follow the site policy (`agent/policy.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

from opscopilot.agent import policy
from opscopilot.agent.litellm_direct import Assembly, LiteLLMModel, TokenSink
from opscopilot.core.errors import ServiceUnavailable
from opscopilot.core.metrics import observe_llm
from opscopilot.core.settings import LLMSettings
from opscopilot.core.telemetry import span
from opscopilot.tools.scrub import scrub_text

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 0.5

# A LangChain chat model with its tools bound, or a model litellm is called for directly.
Model = Runnable[Any, Any] | LiteLLMModel


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"


@dataclass(frozen=True)
class ModelChain:
    """The primary model and its fallback, each already bound to the tools."""

    models: tuple[tuple[str, Model], ...]
    deadline_s: float
    idle_s: float
    retries: int
    offline: bool
    # Per model: does a call keep the data inside the plant (agent/policy.py)?
    local: tuple[bool, ...] = ()
    llm_settings: LLMSettings = field(default_factory=LLMSettings)

    def allowed(
        self, rules: policy.Rules, *, site: str | None, messages: list[BaseMessage]
    ) -> list[tuple[str, Model, bool]]:
        """The models this call may use, each with whether it is local."""
        local = self.local or tuple(True for _ in self.models)
        pairs = [(n, m, loc) for (n, m), loc in zip(self.models, local, strict=True)]
        guarded = policy.local_only(rules, site=site, messages=messages)
        if guarded is None:
            return pairs
        pairs = [p for p in pairs if p[2]]
        if not pairs:
            raise policy.LocalModelRequired(
                f"site {guarded} allows only a local model for its data, and none is "
                "configured (set OPSCOPILOT_LLM__MODEL to an ollama/ model or a local api_base)"
            )
        return pairs


def build_chain(
    settings: LLMSettings,
    tools: Sequence[BaseTool],
    *,
    primary: BaseChatModel | None = None,
    fallback: BaseChatModel | None = None,
) -> ModelChain:
    """Bind the tools to the configured model (or `primary`, for tests) and its fallback."""
    offline = primary is None and not settings.model
    first: Model
    if primary is not None:
        first = primary.bind_tools(list(tools))
    elif settings.model:
        first = LiteLLMModel.create(settings.model, settings, tools)
    else:
        from opscopilot.agent.offline import OfflineChatModel

        offline_model = OfflineChatModel(tool_names=frozenset(t.name for t in tools))
        first = offline_model.bind_tools(list(tools))
    second: Model | None = None
    if fallback is not None:
        second = fallback.bind_tools(list(tools))
    elif settings.fallback_model and not offline:
        second = LiteLLMModel.create(settings.fallback_model, settings, tools)
    models: list[tuple[str, Model]] = [(settings.model or "offline", first)]
    local = [policy.is_local_model(settings.model, settings)]
    if second is not None:
        models.append((settings.fallback_model or "fallback", second))
        local.append(policy.is_local_model(settings.fallback_model or settings.model, settings))
    return ModelChain(
        models=tuple(models),
        deadline_s=settings.call_deadline_s,
        idle_s=settings.idle_chunk_timeout_s,
        retries=max(0, settings.num_retries),
        offline=offline,
        local=tuple(local),
        llm_settings=settings,
    )


class _Streamed(Exception):
    """A call failed after it had streamed content: not safe to repeat."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def transient(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in (408, 409, 429) or status >= 500
    name = type(exc).__name__
    return any(
        word in name
        for word in ("Timeout", "Connection", "RateLimit", "ServiceUnavailable", "InternalServer")
    )


async def _stream_once(
    model: Model,
    messages: list[BaseMessage],
    *,
    deadline: float,
    idle: float,
    on_token: TokenSink | None,
) -> AIMessage:
    """One call under our clock: `deadline` for all of it, `idle` between two chunks.

    One timeout scope, moved on at each chunk (cheaper than a task per chunk, which is what
    `asyncio.wait_for` costs on this path)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    direct = isinstance(model, LiteLLMModel)
    assembly = Assembly()
    merged: AIMessageChunk | None = None
    whole: AIMessage | None = None
    streamed = False
    stream: AsyncGenerator[Any, None] = (
        model.stream(messages) if isinstance(model, LiteLLMModel) else model.astream(messages)  # type: ignore[assignment]
    )
    try:
        async with asyncio.timeout(min(end, loop.time() + idle)) as scope:
            async for chunk in stream:
                scope.reschedule(min(end, loop.time() + idle))
                if direct:
                    text = assembly.add(chunk)
                    if text:
                        streamed = True
                        if on_token is not None:
                            on_token(text, assembly.message_id)
                elif isinstance(chunk, AIMessageChunk):
                    merged = chunk if merged is None else merged + chunk
                    streamed = streamed or bool(chunk.content)
                elif isinstance(chunk, AIMessage) and merged is None and whole is None:
                    whole = chunk  # a model that cannot stream answers in one piece
                else:
                    raise TypeError(f"model streamed a {type(chunk).__name__}")
    except (Exception, asyncio.CancelledError) as exc:
        if streamed and not isinstance(exc, asyncio.CancelledError):
            raise _Streamed(exc) from exc
        raise
    finally:
        await stream.aclose()
    if isinstance(model, LiteLLMModel):
        return assembly.message(model.model)
    if whole is not None:
        return whole
    if merged is None:
        raise ModelUnavailable("the model returned nothing")
    message = message_chunk_to_message(merged)
    assert isinstance(message, AIMessage)
    return message


async def call_model(
    chain: ModelChain,
    messages: list[BaseMessage],
    *,
    site: str | None = None,
    rules: policy.Rules | None = None,
    on_token: TokenSink | None = None,
) -> AIMessage:
    """One model step: the primary with retries, then the fallback; our clock throughout.

    `site` is the chat's site and `rules` its policy (default: the settings'): a local-only
    site's data goes to local models only, and a cloud model sees the tool results with the
    configured fields redacted. A model called through litellm hands its streamed text to
    `on_token` (a LangChain chat model streams through LangChain's callbacks instead)."""
    last: BaseException | None = None
    rules = rules or policy.Rules.of(chain.llm_settings)
    allowed = chain.allowed(rules, site=site, messages=messages)
    for index, (name, model, local) in enumerate(allowed):
        sent = messages if local else policy.redact(messages, rules)
        for attempt in range(chain.retries + 1):
            try:
                with span(f"chat {name}", {"gen_ai.request.model": name}) as call_span:
                    answer = await _stream_once(
                        model,
                        sent,
                        deadline=chain.deadline_s,
                        idle=chain.idle_s,
                        on_token=on_token,
                    )
                    observe_llm(name, answer.usage_metadata, call_span)
                return answer
            except _Streamed as exc:
                log.warning("model %s failed mid-answer: %s", name, type(exc.cause).__name__)
                raise ModelUnavailable(
                    "the model stopped in the middle of its answer; please ask again"
                ) from exc.cause
            except Exception as exc:  # provider errors come in many classes; classified below
                last = exc
                log.warning(
                    "model %s attempt %d failed: %s: %s",
                    name,
                    attempt + 1,
                    type(exc).__name__,
                    scrub_text(str(exc)),
                )
                # Our own clock ran out: that model is hanging; move on to the fallback.
                if isinstance(exc, TimeoutError) or not transient(exc):
                    break
                if attempt < chain.retries:
                    await asyncio.sleep(RETRY_BACKOFF_S * (2**attempt))
        if index + 1 < len(allowed):
            log.warning("falling back from model %s", name)
    kind = type(last).__name__ if last else "no answer"
    raise ModelUnavailable(f"the language model is unavailable right now ({kind})") from last
