"""Ingestion benchmark: `opscopilot ingest` against raw COPY on the same database.

    python -m bench.ingest.run [--rows 1000000] [--items 10000]

Generates sales rows for a catalogue of items into a CSV, then in one run on one embedded
PostgreSQL (a temporary directory, migrations applied):

1. a raw COPY of the same rows, already in the observations' shape, into a table with the
   same columns, constraints (the item foreign key too) and indexes as `observations`;
2. the same COPY into a bare table (no index, no constraint);
3. `opscopilot ingest` (the real CLI, in a subprocess; its peak RSS from wait4) on the file;
4. `opscopilot ingest` on the same file again under a new reference (every row unchanged);
5. both COPYs again; each baseline is the mean of its two runs.

Prints rows/s for each and the ratios; the last line is one JSON object with the figures
and a `<target>_met` flag per target (ours >= 0.4 of the same-shaped COPY, peak RSS
<= 300 MB, the unchanged re-run at least as fast as the first run).

The search part of this benchmark (p50/p95 of `GET /api/v1/items?q=` and recall@10) lives
with the search code: `run_search_benchmark` below calls `bench.ingest.search.run` when
that module exists.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SHAPE_RATIO_TARGET = 0.4
RSS_TARGET_MB = 300.0
SEARCH_BENCH_MODULE = "bench.ingest.search"


def generate(folder: Path, *, rows: int, items: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    items_csv = folder / "items.csv"
    sales_csv = folder / "sales.csv"
    with open(items_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sku", "name", "uom", "category", "standard_cost", "supplier_name"])
        for i in range(items):
            w.writerow([f"SKU-{i:06d}", f"Part {i}", "EA", f"CAT-{i % 40}",
                        f"{rng.uniform(0.5, 500):.2f}", f"Supplier {i % 97}"])  # fmt: skip
    start = date.today() - timedelta(days=730)
    days = [(start + timedelta(days=d)).isoformat() for d in range(730)]
    with open(sales_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "line", "sku", "date", "qty", "customer"])
        for n in range(rows):
            w.writerow([f"SO-{n // 4:07d}", n % 4 + 1, f"SKU-{rng.randrange(items):06d}",
                        days[rng.randrange(730)], rng.randint(1, 60),
                        f"Customer {rng.randrange(500)}"])  # fmt: skip
    return items_csv, sales_csv


def run_cli_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """Like run_cli, but with this child's own peak RSS (os.wait4)."""
    started = time.perf_counter()
    out_path = Path(tempfile.mkstemp(prefix="oc-bench-out-")[1])
    err_path = out_path.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opscopilot.cli.main", *args],
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    text, errors = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    if proc.returncode not in (0, 1) or not text.strip():
        raise SystemExit(
            f"opscopilot {' '.join(args)} failed (exit {proc.returncode}):\n{errors[-3000:]}"
        )
    return elapsed, usage.ru_maxrss / 1024, json.loads(text.strip().splitlines()[-1])


async def copy_baselines(url: str, sales_csv: Path, folder: Path) -> dict[str, float]:
    """Time raw COPY of the same rows, in observation shape, into a same-shaped table and
    into a bare one. The shaping (sku -> item id, natural key) is done before the clock."""
    import asyncpg

    from opscopilot.store.urls import libpq_url

    conn = await asyncpg.connect(libpq_url(url))
    try:
        ids = dict(await conn.fetch("SELECT sku, id::text FROM manufacturing_items"))
        shaped = folder / "observations.csv"
        with open(sales_csv, newline="") as src, open(shaped, "w", newline="") as dst:
            r, w = csv.reader(src), csv.writer(dst)
            next(r)
            for order_id, line, sku, day, qty, customer in r:
                w.writerow(["main", ids[sku], "demand", day, float(qty), "",
                            f"r:{order_id}:{line}", customer, ""])  # fmt: skip
        columns = ["site", "item_id", "kind", "obs_date", "value", "weight", "natural_key",
                   "counterparty", "batch_id"]  # fmt: skip
        await conn.execute(
            "DROP TABLE IF EXISTS bench_obs_shaped, bench_obs_bare;"
            "CREATE TABLE bench_obs_shaped (LIKE observations INCLUDING ALL);"
            "ALTER TABLE bench_obs_shaped ADD FOREIGN KEY (item_id) "
            "REFERENCES manufacturing_items (id) ON DELETE CASCADE;"
            "CREATE TABLE bench_obs_bare AS SELECT * FROM observations WITH NO DATA;"
        )
        out = {}
        for table in ("bench_obs_shaped", "bench_obs_bare"):
            started = time.perf_counter()
            await conn.copy_to_table(
                table, source=str(shaped), columns=columns, format="csv", null=""
            )
            out[table] = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_obs_shaped, bench_obs_bare")
        shaped.unlink()
        return out
    finally:
        await conn.close()


def run_search_benchmark(url: str, folder: Path) -> dict[str, Any]:
    """Hook for the search figures (p50/p95 of item search, recall@10), owned by search."""
    try:
        module = importlib.import_module(SEARCH_BENCH_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != SEARCH_BENCH_MODULE:
            raise
        return {}
    result: dict[str, Any] = module.run(url=url, folder=folder)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()

    from opscopilot.store import migrate
    from opscopilot.store.embedded import start_embedded, stop_embedded

    folder = Path(tempfile.mkdtemp(prefix="oc-bench-ingest-"))
    data_dir = folder / "pgdata"
    try:
        url = start_embedded(data_dir)
        migrate.upgrade(url)
        env = {**os.environ, "DATABASE_URL": url, "OPSCOPILOT_LOG_LEVEL": "WARNING"}
        t0 = time.perf_counter()
        items_csv, sales_csv = generate(folder, rows=args.rows, items=args.items)
        size_mb = sales_csv.stat().st_size / 1e6
        took = time.perf_counter() - t0
        print(f"generated {args.rows:,} sales rows for {args.items:,} items ({size_mb:.0f} MB) "
              f"in {took:.1f}s", flush=True)  # fmt: skip
        common = ["--json", "--quiet"]
        t_items, _, items_batch = run_cli_measured(
            ["ingest", str(items_csv), "--source-type", "erp", "--source-id", "bench_erp",
             "--kind", "items", *common], env
        )  # fmt: skip
        print(f"items: {items_batch['inserted']:,} inserted in {t_items:.1f}s", flush=True)
        # The baselines run before and after ours and are averaged: on a shared machine the
        # load drifts, and a ratio of two moments would measure the drift.
        before = asyncio.run(copy_baselines(url, sales_csv, folder))
        t_ours, rss_mb, first = run_cli_measured(
            ["ingest", str(sales_csv), "--source-type", "sales", "--source-id", "bench_sales",
             "--kind", "sales", *common], env
        )  # fmt: skip
        assert first["inserted"] == args.rows, first
        t_again, rss_again, second = run_cli_measured(
            ["ingest", str(sales_csv), "--source-type", "sales", "--source-id", "bench_sales",
             "--kind", "sales", "--batch-reference", "resend", *common], env
        )  # fmt: skip
        assert second["unchanged"] == args.rows, second
        after = asyncio.run(copy_baselines(url, sales_csv, folder))
        copies = {k: (before[k] + after[k]) / 2 for k in before}
        search = {} if args.skip_search else run_search_benchmark(url, folder)
    finally:
        stop_embedded(data_dir)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    rows = args.rows
    rate = {
        "ours_rows_per_s": rows / t_ours,
        "ours_unchanged_rows_per_s": rows / t_again,
        "copy_same_shape_rows_per_s": rows / copies["bench_obs_shaped"],
        "copy_bare_rows_per_s": rows / copies["bench_obs_bare"],
    }
    ratio_shape = rate["ours_rows_per_s"] / rate["copy_same_shape_rows_per_s"]
    ratio_bare = rate["ours_rows_per_s"] / rate["copy_bare_rows_per_s"]
    print(f"{'':34}{'seconds':>10}{'rows/s':>12}")
    for label, seconds in (
        ("opscopilot ingest (first run)", t_ours),
        ("opscopilot ingest (all unchanged)", t_again),
        ("COPY, observations' shape", copies["bench_obs_shaped"]),
        ("COPY, bare table", copies["bench_obs_bare"]),
    ):
        print(f"{label:34}{seconds:>10.2f}{rows / seconds:>12,.0f}")
    print(f"ours / same-shaped COPY = {ratio_shape:.2f} (target >= {SHAPE_RATIO_TARGET})")
    print(f"ours / bare COPY = {ratio_bare:.2f}")
    print(f"peak RSS of the ingest process: {rss_mb:.0f} MB first run, {rss_again:.0f} MB rerun")
    figures: dict[str, Any] = {
        "rows": rows,
        "items": args.items,
        "items_ingest_s": round(t_items, 1),
        "ours_s": round(t_ours, 3),
        "ours_unchanged_s": round(t_again, 3),
        "copy_same_shape_s": round(copies["bench_obs_shaped"], 3),
        "copy_bare_s": round(copies["bench_obs_bare"], 3),
        **{k: round(v) for k, v in rate.items()},
        "ratio_vs_same_shape_copy": round(ratio_shape, 3),
        "ratio_vs_bare_copy": round(ratio_bare, 3),
        "peak_rss_mb": round(max(rss_mb, rss_again), 1),
        "same_shape_ratio_met": ratio_shape >= SHAPE_RATIO_TARGET,
        "peak_rss_met": max(rss_mb, rss_again) <= RSS_TARGET_MB,
        "unchanged_rerun_met": t_again <= t_ours,
        **search,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
