"""Who a bearer key is, remembered for a few seconds per process.

Authenticating a key costs several database round trips per request (more than a fast
read itself); keys and users rarely change. A revocation or a change of a user's role or
sites made in this process forgets the remembered keys at once; one made elsewhere (the
CLI, another worker) takes effect within the TTL (settings api.key_cache_ttl_s).
"""

from __future__ import annotations

import time

from opscopilot.access.roles import Principal

# Bounds memory against a flood of distinct (valid) keys; past it, expired ones go first.
MAX_ENTRIES = 10_000

_entries: dict[str, tuple[float, Principal]] = {}


def cached(digest: str) -> Principal | None:
    """The principal remembered for a key hash, unless its time is up."""
    entry = _entries.get(digest)
    if entry is None:
        return None
    if entry[0] <= time.monotonic():
        _entries.pop(digest, None)
        return None
    return entry[1]


def remember(digest: str, principal: Principal, *, ttl_s: float) -> None:
    if ttl_s <= 0:
        return
    now = time.monotonic()
    if len(_entries) >= MAX_ENTRIES:
        for stale in [d for d, (until, _p) in _entries.items() if until <= now]:
            del _entries[stale]
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
    _entries[digest] = (now + ttl_s, principal)


def forget(digest: str | None = None) -> None:
    """Forget one key (by hash), or every key (None)."""
    if digest is None:
        _entries.clear()
    else:
        _entries.pop(digest, None)
