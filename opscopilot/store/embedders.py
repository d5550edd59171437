"""Embedders: text to vectors, behind one small Protocol.

- `hash-ngram-<dim>` (the offline default, and the fuzzy channel of item search whatever
  the configured model): canonical word tokens plus their boundary-marked character
  3-grams, feature-hashed into `dim` buckets and L2-normalised. Unsigned on purpose:
  shared common n-grams give every comparison a little positive similarity, which an
  HNSW graph walk follows; signed hashing leaves it a flat field (recall@10 0.85 against
  0.89 unsigned; 30,000 items, m=16, ef_search 100, measured).
  Deterministic, no download, no network.
- anything else is a litellm model name (`openai/text-embedding-3-small`,
  `ollama/nomic-embed-text`, ...), called through `litellm.aembedding`, imported lazily.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from opscopilot.core.errors import OpsCopilotError
from opscopilot.store.text_features import canonical_tokens, char_ngrams, is_number

if TYPE_CHECKING:
    from opscopilot.core.settings import Settings

_HASH_MODEL = re.compile(r"^hash-ngram-(\d+)$")
# Hashing is CPU work: past this many texts it leaves the event loop.
_THREAD_THRESHOLD = 256


class EmbeddingError(OpsCopilotError):
    """The embedding model could not embed (provider down, bad answer, wrong size)."""


@runtime_checkable
class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int | None:
        """Vector size; None for a remote model until its first answer."""

    @property
    def local(self) -> bool:
        """True when embedding needs no network (safe inside any transaction)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@lru_cache(maxsize=200_000)
def _bucket(feature: str, dim: int) -> int:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % dim


class HashEmbedder:
    """Feature hashing of canonical tokens and their character 3-grams."""

    # Part of every content hash: bump it when tokens or features change, and every text
    # is re-embedded on its next write or by the re-embed job.
    revision = "1"

    def __init__(self, *, name: str, dim: int, gram_weight: float = 0.6) -> None:
        if not 8 <= dim <= 2000:
            raise ValueError(f"hash embedder dimension out of range: {dim}")
        self._name = name
        self._dim = dim
        self._gram_weight = gram_weight

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def local(self) -> bool:
        return True

    def embed_one(self, text: str) -> list[float]:
        vec = [0.0] * self._dim
        for tok in canonical_tokens(text):
            vec[_bucket("w:" + tok, self._dim)] += 1.0
            if is_number(tok):
                # a size is matched exactly or not at all: no partial credit for 50 ~ 500
                continue
            grams = char_ngrams(tok)
            weight = self._gram_weight / math.sqrt(len(grams))
            for gram in grams:
                vec[_bucket("g:" + gram, self._dim)] += weight
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0.0:
            # pgvector cannot compare a zero vector by cosine; an empty text gets a constant
            vec[0] = 1.0
            return vec
        return [v / norm for v in vec]

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(t) for t in texts]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) > _THREAD_THRESHOLD:
            return await asyncio.to_thread(self.embed_sync, texts)
        return self.embed_sync(texts)


class LiteLLMEmbedder:
    """A real embedding model through litellm (imported on first use)."""

    def __init__(
        self,
        *,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 30.0,
        dim: int | None = None,
    ) -> None:
        self._model = model
        self._api_base = api_base
        self._api_key = api_key
        self._batch_size = batch_size
        self._timeout_s = timeout_s
        self._dim = dim

    @property
    def name(self) -> str:
        return self._model

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def local(self) -> bool:
        return False

    async def _call(self, batch: list[str]) -> list[list[float]]:
        # litellm fetches a price map from the network at import unless told otherwise
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        try:
            response = await litellm.aembedding(
                model=self._model,
                input=batch,
                api_base=self._api_base,
                api_key=self._api_key,
                timeout=self._timeout_s,
            )
        except Exception as exc:  # the provider's many error types become one of ours
            raise EmbeddingError(f"embedding model {self._model} failed: {exc}") from exc
        rows = sorted(response.data, key=lambda d: int(d["index"]))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
        if len(vectors) != len(batch):
            raise EmbeddingError(
                f"embedding model {self._model} returned {len(vectors)} vectors "
                f"for {len(batch)} texts"
            )
        return vectors

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            out.extend(await self._call(list(texts[start : start + self._batch_size])))
        sizes = {len(v) for v in out}
        if len(sizes) > 1 or (self._dim is not None and sizes and sizes != {self._dim}):
            raise EmbeddingError(f"embedding model {self._model} changed its vector size")
        if out and self._dim is None:
            self._dim = len(out[0])
        return out


_registry: dict[str, Embedder] = {}


def register_embedder(embedder: Embedder) -> None:
    """Use this instance for its model name in this process (a configured client, a fake)."""
    _registry[embedder.name] = embedder


def unregister_embedder(name: str) -> None:
    _registry.pop(name, None)


def _provider(model: str | None) -> str:
    return model.split("/", 1)[0] if model and "/" in model else ""


def get_embedder(model: str, settings: Settings | None = None) -> Embedder:
    """The embedder for a model name; hash models are built in, others go through litellm."""
    found = _registry.get(model)
    if found is not None:
        return found
    embedder: Embedder
    m = _HASH_MODEL.match(model)
    if m:
        embedder = HashEmbedder(name=model, dim=int(m.group(1)))
    else:
        if settings is None:
            from opscopilot.core.settings import get_settings

            settings = get_settings()
        # The chat model's endpoint serves embeddings too when both name the same provider
        # (a local Ollama); hosted providers read their usual key variables.
        same = _provider(settings.llm.model) == _provider(model) != ""
        key = settings.llm.api_key.get_secret_value() if same and settings.llm.api_key else None
        embedder = LiteLLMEmbedder(
            model=model, api_base=settings.llm.api_base if same else None, api_key=key
        )
    _registry[model] = embedder
    return embedder
