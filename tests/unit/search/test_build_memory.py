"""The memory a graph build asks for (maintenance_work_mem of its transaction)."""

from __future__ import annotations

from opscopilot.store.vectors import BUILD_MEMORY_MAX_KB, build_memory_kb


def test_build_memory_grows_with_the_graph_and_stays_bounded() -> None:
    held = 64 * 1024
    # a catalogue of 100,000 items: its graph does not fit in 64 MB, nor in 192 MB
    catalogue = build_memory_kb(rows=100_000, dim=256, m=24, held_kb=held)
    assert 192 * 1024 < catalogue < 320 * 1024
    assert build_memory_kb(rows=100_000, dim=256, m=32, held_kb=held) > catalogue
    # a small table keeps what the server grants; a server granting more is not lowered
    assert build_memory_kb(rows=1_000, dim=256, m=24, held_kb=held) == held
    assert build_memory_kb(rows=100_000, dim=256, m=24, held_kb=2 * 2**20) == 2 * 2**20
    assert build_memory_kb(rows=10**8, dim=1536, m=16, held_kb=held) == BUILD_MEMORY_MAX_KB
