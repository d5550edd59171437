"""The embedder interface: the offline hash model, and a real model through litellm
against a loopback OpenAI-compatible stand-in."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from opscopilot.store.embedders import (
    Embedder,
    EmbeddingError,
    HashEmbedder,
    LiteLLMEmbedder,
    get_embedder,
    register_embedder,
    unregister_embedder,
)
from tests.peers.openai_embeddings import OpenAIEmbeddingsPeer


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_the_hash_model_is_deterministic_normalised_and_local() -> None:
    model = get_embedder("hash-ngram-256")
    assert isinstance(model, Embedder)
    assert (model.name, model.dim, model.local) == ("hash-ngram-256", 256, True)
    one, again, empty = await model.embed(["GSKT NBR 50X3", "GSKT NBR 50X3", ""])
    assert one == again
    assert math.isclose(math.sqrt(sum(v * v for v in one)), 1.0)
    assert any(empty)  # a zero vector has no cosine: empty text gets a constant one


async def test_hash_vectors_put_a_misspelling_near_its_word() -> None:
    model = HashEmbedder(name="hash-ngram-256", dim=256)
    gasket, typo, bearing = await model.embed(["gasket acme", "gaskit acme", "bearing skf"])
    assert cosine(gasket, typo) > cosine(gasket, bearing)
    assert cosine(gasket, typo) > 0.5


def test_get_embedder_knows_hash_sizes_and_refuses_bad_ones() -> None:
    assert get_embedder("hash-ngram-64").dim == 64
    with pytest.raises(ValueError, match="dimension"):
        get_embedder("hash-ngram-4")


@pytest.fixture
async def peer() -> AsyncIterator[OpenAIEmbeddingsPeer]:
    async with OpenAIEmbeddingsPeer(dim=48) as p:
        yield p


async def test_litellm_model_against_the_stand_in(peer: OpenAIEmbeddingsPeer) -> None:
    model = LiteLLMEmbedder(
        model="openai/stand-in-embed", api_base=peer.base_url, api_key="sk-test", batch_size=2
    )
    assert (model.dim, model.local) == (None, False)
    vectors = await model.embed(["gasket acme", "bearing skf", "gasket acme nbr"])
    assert model.dim == 48 and [len(v) for v in vectors] == [48, 48, 48]
    # batched, in order, and the provider prefix stripped as litellm does
    assert [c.inputs for c in peer.requests] == [["gasket acme", "bearing skf"],
                                                 ["gasket acme nbr"]]  # fmt: skip
    assert {c.model for c in peer.requests} == {"stand-in-embed"}
    assert cosine(vectors[0], vectors[2]) > cosine(vectors[0], vectors[1])


async def test_a_failing_provider_raises_our_error(peer: OpenAIEmbeddingsPeer) -> None:
    model = LiteLLMEmbedder(model="openai/stand-in-embed", api_base=peer.base_url, api_key="k")
    peer.fail_next(10, status=503)
    with pytest.raises(EmbeddingError, match="stand-in-embed"):
        await model.embed(["anything"])


async def test_a_registered_instance_wins_over_construction(peer: OpenAIEmbeddingsPeer) -> None:
    mine = LiteLLMEmbedder(model="openai/registered", api_base=peer.base_url, api_key="k")
    register_embedder(mine)
    try:
        assert get_embedder("openai/registered") is mine
    finally:
        unregister_embedder("openai/registered")
