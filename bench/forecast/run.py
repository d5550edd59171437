"""Forecast benchmark: `python -m bench.forecast.run [--data PATH] [--quick] [--jobs N]`.

Runs every method on the same hold-out in one command and prints one table (data set, method,
MASE, RMSSE, WQL, 80 % coverage, seconds, ratios to ours), then one JSON line with the figures
and a `<target>_met` boolean per target of issue 4. MASE and RMSSE use the seasonal lag (12
monthly, 7 daily) and are averaged over series with a finite scale (fev's convention); WQL pools
the 10 %..90 % quantile losses over all series. `--quick` runs subsets: a smoke test whose
figures are not the targets' figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.forecast import data as datasets
from bench.forecast import methods, synthetic
from bench.forecast.data import Dataset
from bench.forecast.methods import QUANTILES, MethodRun
from opscopilot.forecasting.metrics import coverage, mase, rmsse, wql

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def score(data: Dataset, run: MethodRun, uids: list[str] | None = None) -> dict[str, Any]:
    ids = [u for u in (uids or list(data.test)) if u in run.mean]
    m = data.season_length
    actual = np.stack([data.test[u] for u in ids])
    mases = [mase(data.test[u], run.mean[u], data.train[u], lag=m) for u in ids]
    rmsses = [rmsse(data.test[u], run.mean[u], data.train[u], lag=m) for u in ids]
    quantiles = {q: np.stack([run.quantiles[u][i] for u in ids]) for i, q in enumerate(QUANTILES)}
    return {
        "method": run.name,
        "series": len(ids),
        "mase": _finite_mean(mases),
        "rmsse": _finite_mean(rmsses),
        "wql": wql(actual, quantiles),
        "coverage80": coverage(
            actual,
            np.stack([run.interval80[u][0] for u in ids]),
            np.stack([run.interval80[u][1] for u in ids]),
        ),
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "note": run.note,
    }


def _finite_mean(values: list[float]) -> float:
    array = np.asarray(values, dtype=float)
    return float(np.mean(array[np.isfinite(array)]))


def carparts(root: Path, *, quick: bool, jobs: int, prophet_series: int) -> dict[str, Any]:
    data = datasets.carparts(root)
    if quick:
        data = _subset(data, 500)
    ours, fc = methods.ours(data, n_jobs=jobs)
    rows = [score(data, ours)]
    for name in ("SeasonalNaive", "ADIDA", "AutoETS"):
        rows.append(score(data, methods.statsforecast_model(data, name, n_jobs=jobs)))
    rows.append(score(data, methods.zero(data)))
    sample = _sample(list(data.test), prophet_series)
    prophet_run = methods.prophet(data, sample, n_jobs=jobs)
    prophet_run.note = f"{len(sample)} series sampled (seed 0)"
    rows.append(score(data, prophet_run, sample))
    same = score(data, ours, sample)
    same["method"] = f"ours, same {len(sample)} series"
    rows.append(same)
    selling = [u for u in data.test if data.train[u][-12:].sum() > 0]
    zero_share = float(np.mean([not fc[u].mean.any() for u in selling]))
    return {
        "rows": rows,
        "series_forecast": ours.series,
        "selling_series": len(selling),
        "selling_forecast_all_zero_share": zero_share,
        "models_chosen": _counts([f.model for f in fc.values()]),
    }


def online_retail(root: Path, *, jobs: int) -> dict[str, Any]:
    data = datasets.online_retail(root)
    ours, fc = methods.ours(data, n_jobs=1)
    rows = [score(data, ours)]
    for name in ("SeasonalNaive", "AutoETS"):
        rows.append(score(data, methods.statsforecast_model(data, name, n_jobs=1)))
    rows.append(score(data, methods.zero(data)))
    rows.append(score(data, methods.prophet(data, list(data.test), n_jobs=jobs)))
    return {"rows": rows, "models_chosen": _counts([f.model for f in fc.values()])}


def us_retail(root: Path, *, jobs: int) -> dict[str, Any]:
    data = datasets.us_retail(root)
    ours, fc = methods.ours(data, n_jobs=1)
    rows = [score(data, ours)]
    for name in ("SeasonalNaive", "AutoETS"):
        rows.append(score(data, methods.statsforecast_model(data, name, n_jobs=1)))
    rows.append(score(data, methods.prophet(data, list(data.test), n_jobs=1)))
    return {"rows": rows, "models_chosen": _counts([f.model for f in fc.values()])}


def speed(*, series: int, prophet_fits: int, jobs: int) -> dict[str, Any]:
    data = synthetic.weekly(series)
    ours, _ = methods.ours(data, n_jobs=jobs)
    sample = _sample(list(data.train), prophet_fits)
    timed = methods.prophet(data, sample, n_jobs=jobs, mode="interval")
    per_series = timed.seconds / len(sample)
    scaled = per_series * series
    return {
        "series": series,
        "ours_seconds": ours.seconds,
        "ours_cpu_seconds": ours.cpu_seconds,
        "prophet_fits_timed": len(sample),
        "prophet_seconds_timed": timed.seconds,
        "prophet_seconds_scaled": scaled,
        "speedup": scaled / ours.seconds,
        "note": (
            f"prophet timed on {len(sample)} fits (fit + predict with its 80 % interval, "
            f"{jobs} processes) and scaled x{series / len(sample):g} to {series} series; "
            f"ours ran all {series} (backtest, choice, intervals, {jobs} processes)"
        ),
    }


def _subset(data: Dataset, count: int) -> Dataset:
    keep = set(_sample(list(data.train), count))
    return Dataset(
        data.name,
        data.period,
        data.horizon,
        data.season_length,
        {u: y for u, y in data.train.items() if u in keep},
        {u: d for u, d in data.dates.items() if u in keep},
        {u: y for u, y in data.test.items() if u in keep},
    )


def _sample(ids: list[str], count: int) -> list[str]:
    if count >= len(ids):
        return ids
    picked = np.random.default_rng(0).choice(len(ids), size=count, replace=False)
    return [ids[i] for i in sorted(picked)]


def _counts(names: list[str]) -> dict[str, int]:
    values, counts = np.unique(names, return_counts=True)
    order = np.argsort(-counts)
    return {str(values[i]): int(counts[i]) for i in order}


def _table(sections: dict[str, dict[str, Any]]) -> str:
    header = (
        f"{'data set':<20} {'method':<28} {'series':>6} {'MASE':>7} {'RMSSE':>7} {'WQL':>7} "
        f"{'cov80':>6} {'seconds':>8} {'MASE/ours':>9} {'s/ours':>7}"
    )
    lines = [header, "-" * len(header)]
    for name, section in sections.items():
        ours = section["rows"][0]
        for row in section["rows"]:
            lines.append(
                f"{name:<20} {row['method']:<28} {row['series']:>6} {row['mase']:>7.3f} "
                f"{row['rmsse']:>7.3f} {row['wql']:>7.3f} {row['coverage80']:>6.3f} "
                f"{row['seconds']:>8.2f} {row['mase'] / ours['mase']:>9.3f} "
                f"{_ratio(row['seconds'], ours['seconds']):>7}"
            )
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a > 0 and b > 0 else "-"


def _row(section: dict[str, Any], method: str) -> dict[str, Any]:
    return next(r for r in section["rows"] if r["method"].startswith(method))


def targets(
    cp: dict[str, Any], olr: dict[str, Any], us: dict[str, Any], sp: dict[str, Any]
) -> dict[str, Any]:
    ours = cp["rows"][0]
    best_single = min(_row(cp, n)["mase"] for n in ("SeasonalNaive", "ADIDA", "AutoETS"))
    ours_same = _row(cp, "ours, same")["mase"]
    prophet_cp = _row(cp, "prophet")["mase"]
    sn = _row(cp, "SeasonalNaive")
    o_ours, o_sn, o_prophet = olr["rows"][0], _row(olr, "SeasonalNaive"), _row(olr, "prophet")
    u_ours, u_prophet = us["rows"][0], _row(us, "prophet")
    return {
        "carparts_wql_ratio_to_sn": ours["wql"] / sn["wql"],
        "carparts_wql_met": ours["wql"] <= 0.85 * sn["wql"],
        "carparts_mase_ratio_to_best_single": ours["mase"] / best_single,
        "carparts_mase_ratio_to_prophet_same_series": ours_same / prophet_cp,
        "carparts_mase_met": ours["mase"] <= 1.02 * best_single and ours_same <= 1.02 * prophet_cp,
        "carparts_coverage_met": 0.75 <= ours["coverage80"] <= 0.88,
        "carparts_seconds_met": ours["seconds"] <= 60,
        "carparts_zero_share_met": cp["selling_forecast_all_zero_share"] <= 0.05,
        "online_mase_ratio_to_sn": o_ours["mase"] / o_sn["mase"],
        "online_mase_vs_sn_met": o_ours["mase"] <= 0.85 * o_sn["mase"],
        "online_vs_prophet_met": o_ours["mase"] <= o_prophet["mase"],
        "us_retail_vs_prophet_met": u_ours["mase"] < u_prophet["mase"],
        "speed_vs_prophet_met": sp["speedup"] >= 20,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--quick", action="store_true", help="subsets only (smoke test)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    root: Path = args.data
    needed = ("carparts/carparts.csv", "online-retail-top30", "us-retail-sales")
    if not all((root / part).exists() for part in needed):
        print(datasets.missing_message(root), file=sys.stderr)
        return 2
    quick, jobs = args.quick, args.jobs
    load_start = os.getloadavg()[0]
    print(
        f"forecast benchmark ({'quick subsets' if quick else 'full'}; {jobs} processes; "
        f"{os.cpu_count()} CPUs, load average {load_start:.1f})",
        flush=True,
    )
    cp = carparts(root, quick=quick, jobs=jobs, prophet_series=30 if quick else 100)
    olr = online_retail(root, jobs=jobs)
    us = us_retail(root, jobs=jobs)
    sp = speed(series=2000 if quick else 10_000, prophet_fits=40 if quick else 200, jobs=jobs)
    print(_table({"carparts": cp, "online-retail-top30": olr, "us-retail-sales": us}))
    print(
        f"carparts: {cp['series_forecast']} series forecast (timed); "
        f"{cp['selling_forecast_all_zero_share']:.1%} of {cp['selling_series']} selling series "
        f"forecast as all zero; chosen models {cp['models_chosen']}"
    )
    print(f"online-retail chosen models {olr['models_chosen']}; us-retail {us['models_chosen']}")
    load_end = os.getloadavg()[0]
    print(
        f"ours on carparts used {cp['rows'][0]['cpu_seconds']:.1f} CPU-s for "
        f"{cp['rows'][0]['seconds']:.1f} s wall; load average {load_start:.1f} at start, "
        f"{load_end:.1f} at end (wall times stretch when other work shares the {os.cpu_count()} "
        "CPUs; CPU-s do not)"
    )
    print(
        f"speed, {sp['series']} synthetic weekly series: ours {sp['ours_seconds']:.1f} s "
        f"({sp['ours_cpu_seconds']:.1f} CPU-s), "
        f"prophet {sp['prophet_seconds_scaled']:.0f} s (scaled) -> {sp['speedup']:.1f}x. "
        f"{sp['note']}"
    )
    result = {
        "quick": quick,
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "carparts": cp,
        "online_retail": olr,
        "us_retail": us,
        "speed": sp,
        **targets(cp, olr, us, sp),
    }
    print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
