import pytest

from opscopilot.access.ratelimit import hit
from opscopilot.core.errors import RateLimited
from opscopilot.store.engine import Database


async def test_fixed_window_is_shared_and_resets(clean_db: Database) -> None:
    # Two "replicas" = two sessions on the same store share one count.
    for n in range(3):
        async with clean_db.sessions() as session:
            await hit(session, key="chat:k1", limit=3, now=1200.0 + n)
    async with clean_db.sessions() as session:
        with pytest.raises(RateLimited) as caught:
            await hit(session, key="chat:k1", limit=3, now=1210.0)
    assert caught.value.retry_after == 50
    async with clean_db.sessions() as session:
        await hit(session, key="chat:k2", limit=3, now=1210.0)  # other key unaffected
        await hit(session, key="chat:k1", limit=3, now=1280.0)  # next window
