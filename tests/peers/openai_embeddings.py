"""A loopback stand-in for an OpenAI-compatible `POST /v1/embeddings` endpoint.

Written from the API reference, not from our client: `input` is a string or a list of
strings, `encoding_format` "float" (a list of numbers) or "base64" (little-endian float32,
what the openai SDK asks for by default). Vectors are deterministic bags of words hashed
into `dim` buckets, so similar texts get similar vectors and tests can reason about them.

Knobs: `fail_next(n, status=503)` answers the next n requests with that error (`recover()`
forgets them); `requests`
records every accepted call (model, inputs); `dim` sets the vector size.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.peers._http import FailurePlan, ThreadedHTTPPeer


@dataclass(frozen=True)
class EmbeddingCall:
    model: str
    inputs: list[str]
    encoding_format: str


def bag_of_words(text: str, dim: int) -> list[float]:
    vec = [0.0] * dim
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.md5(word.encode()).digest()
        vec[int.from_bytes(digest[:4], "little") % dim] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class OpenAIEmbeddingsPeer(ThreadedHTTPPeer):
    def __init__(self, *, dim: int = 64, port: int = 0) -> None:
        super().__init__(port=port)
        self.dim = dim
        self._failures = FailurePlan()
        self._calls: list[EmbeddingCall] = []

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[EmbeddingCall]:
        with self.lock:
            return list(self._calls)

    def fail_next(self, count: int, *, status: int = 503) -> None:
        self._failures.add(count, status, None, None)

    def recover(self) -> None:
        """Forget planned failures: the provider is back."""
        self._failures = FailurePlan()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        return app

    async def _embeddings(self, request: web.Request) -> web.Response:
        failure = self._failures.take()
        if failure is not None:
            status, _retry_after = failure
            return web.json_response(
                {"error": {"message": "stand-in failing on purpose", "type": "server_error"}},
                status=status,
            )
        body: dict[str, Any] = await request.json()
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else list(raw or [])
        if not inputs or not all(isinstance(t, str) for t in inputs):
            return web.json_response(
                {"error": {"message": "input must be a string or a list of strings"}},
                status=400,
            )
        fmt = str(body.get("encoding_format") or "float")
        with self.lock:
            self._calls.append(EmbeddingCall(str(body.get("model")), inputs, fmt))
        data = []
        for index, text in enumerate(inputs):
            vec = bag_of_words(text, self.dim)
            encoded: Any = vec
            if fmt == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t.split()) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
