"""A small Server-Sent Events reader for tests: what a browser's parser would see."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    id: int | None
    event: str
    data: dict[str, Any]


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    ident: int | None = None
    kind = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Event(ident, kind, json.loads("\n".join(data)))
            ident, kind, data = None, "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                ident = int(value)
            elif field == "event":
                kind = value
            elif field == "data":
                data.append(value)


async def collect(response: httpx.Response, *, limit: int | None = None) -> list[Event]:
    """Events until the stream ends (or `limit` of them)."""
    out: list[Event] = []
    async for event in events(response):
        out.append(event)
        if limit is not None and len(out) >= limit:
            break
    return out
