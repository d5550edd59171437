"""The benchmark's client: one chat read as SSE, a burst of them, and their percentiles.

Every arm (the bare relays and the full stack) speaks the same events, so the same client
measures them all: time to the first `token` event and to `done`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Sample:
    ttft: float | None = None
    total: float | None = None
    error: str | None = None


@dataclass
class Target:
    name: str
    url: str
    body: dict[str, Any]
    # One bearer key per simulated person (50 chats are 50 people, not one key 50 times).
    keys: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def headers(self, slot: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[slot % len(self.keys)]}"} if self.keys else {}


async def one_chat(
    client: httpx.AsyncClient, target: Target, delay: float, slot: int = 0
) -> Sample:
    await asyncio.sleep(delay)
    sample = Sample()
    start = time.perf_counter()
    try:
        async with client.stream(
            "POST", target.url, json=target.body, headers=target.headers(slot)
        ) as response:
            if response.status_code != 200:
                await response.aread()
                sample.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return sample
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "token" and sample.ttft is None:
                        sample.ttft = time.perf_counter() - start
                    elif event == "done":
                        sample.total = time.perf_counter() - start
                        return sample
                    elif event == "error":
                        sample.error = line[6:200]
                        return sample
        sample.error = "stream ended without done"
    except httpx.HTTPError as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    return sample


async def burst(
    client: httpx.AsyncClient, target: Target, chats: int, spread_s: float
) -> list[Sample]:
    step = spread_s / max(chats, 1)
    return list(
        await asyncio.gather(*(one_chat(client, target, i * step, i) for i in range(chats)))
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return (ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)) * 1000


def summary(samples: list[Sample]) -> dict[str, float | int]:
    ttft = [s.ttft for s in samples if s.ttft is not None and s.error is None]
    total = [s.total for s in samples if s.total is not None and s.error is None]
    return {
        "chats": len(samples),
        "errors": sum(1 for s in samples if s.error is not None),
        "ttft_p50_ms": round(pct(ttft, 0.5), 1),
        "ttft_p95_ms": round(pct(ttft, 0.95), 1),
        "total_p50_ms": round(pct(total, 0.5), 1),
        "total_p95_ms": round(pct(total, 0.95), 1),
    }
