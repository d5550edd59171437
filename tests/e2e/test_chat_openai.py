"""The official `openai` SDK against a live `opscopilot serve` whose model is a loopback
OpenAI-compatible stand-in (so the whole path runs: HTTP -> graph -> litellm -> SSE)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from opscopilot.store.engine import Database
from tests.e2e.procs import base_env, serving
from tests.peers.openai_standin import OpenAIStandIn, Reply

ANSWER = "Stock of ITEM-001 is 42 units."


@pytest.fixture(scope="module")
def stand_in() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(default=Reply(text=ANSWER, delay_s=0.005)) as peer:
        yield peer


@pytest.fixture(scope="module")
async def viewer_key(db: Database) -> str:
    from opscopilot.access.service import create_key

    async with db.sessions() as session:
        created = await create_key(session, user="openai-sdk-user", role="viewer")
        await session.commit()
    return created.key


@pytest.fixture(scope="module")
def copilot(migrated: str, stand_in: OpenAIStandIn, viewer_key: str) -> Iterator[Any]:
    """One server for the module (starting one and importing litellm takes seconds)."""
    workdir = Path(tempfile.mkdtemp(prefix="oc-e2e-openai-"))
    env = base_env(
        OPSCOPILOT_DB__URL=migrated,
        OPSCOPILOT_MODEL="openai/stand-in",
        OPSCOPILOT_LLM__API_BASE=stand_in.base_url,
        # A stream that stalls is cut by the idle-chunk watchdog after a second.
        OPSCOPILOT_LLM__IDLE_CHUNK_TIMEOUT_S="1",
        OPSCOPILOT_LLM__API_KEY="sk-stand-in",
        OPSCOPILOT_LLM__NUM_RETRIES="0",
        OPSCOPILOT_API__RATE_LIMIT_CHAT_PER_MIN="0",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    key = viewer_key
    try:
        with serving(env, log=workdir / "serve.log") as (port, _):
            yield openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, timeout=60)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_sdk_lists_the_copilot_and_gets_whole_answers(copilot: openai.OpenAI) -> None:
    assert [m.id for m in copilot.models.list()] == ["opscopilot"]
    assert copilot.models.retrieve("opscopilot").owned_by == "opscopilot"

    raw = copilot.chat.completions.with_raw_response.create(
        model="opscopilot", messages=[{"role": "user", "content": "stock of ITEM-001?"}]
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert (completion.choices[0].message.content or "").strip() == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0

    # The client resends the conversation: its earlier question names the same thread.
    again = copilot.chat.completions.with_raw_response.create(
        model="opscopilot",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "stock of ITEM-001?"},
            {"role": "assistant", "content": ANSWER},
            {"role": "user", "content": "and next week?"},
        ],
    )
    assert again.headers["x-opscopilot-thread"] == raw.headers["x-opscopilot-thread"]

    with pytest.raises(openai.NotFoundError):
        copilot.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )


def test_the_sdk_streams_chunks_usage_and_done(copilot: openai.OpenAI) -> None:
    chunks = list(
        copilot.chat.completions.create(
            model="opscopilot",
            messages=[{"role": "user", "content": "stock of ITEM-001?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    with_choices = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text.strip() == ANSWER and len(with_choices) > 3  # streamed, not in one piece
    assert [c.choices[0].finish_reason for c in with_choices][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert all(not c.choices[0].delta.tool_calls for c in with_choices)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_a_failure_after_the_first_tokens_raises_api_error(
    copilot: openai.OpenAI, stand_in: OpenAIStandIn
) -> None:
    # The model streams three chunks, then goes silent: the turn fails after tokens went out.
    stand_in.script("stand-in", Reply(text=ANSWER, stall_after=3))
    stream = copilot.chat.completions.create(
        model="opscopilot", messages=[{"role": "user", "content": "stock please"}], stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("Stock of")  # the error came after the 200
    assert not isinstance(raised.value, openai.APIStatusError)


def test_a_wrong_key_is_refused(copilot: openai.OpenAI) -> None:
    stranger = openai.OpenAI(base_url=str(copilot.base_url), api_key="ocp_not-a-key")
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
