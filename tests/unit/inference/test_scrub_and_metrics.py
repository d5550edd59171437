"""Scrubbed error messages, and the pure metrics over recorded jobs."""

from __future__ import annotations

import math

import pytest

from opscopilot.inference.metrics import (
    JobObservation,
    accuracy,
    accuracy_metrics,
    compare,
    error_rate,
    latency_percentiles,
    mae,
    mape,
    percentile,
    rmse,
    summarize_jobs,
)
from opscopilot.inference.scrub import MAX_MESSAGE_CHARS, describe_exception, scrub_message


@pytest.mark.parametrize(
    ("raw", "scrubbed"),
    [
        (
            "could not connect postgresql://ops:hunter2@db.acme.com:5432/mes",
            "could not connect <url>",
        ),
        (
            'connection to server at "db.prod.internal" (10.0.3.4), port 5432 failed: '
            'password authentication failed for user "ops"',
            'connection to server at "<host>" (<ip>), port 5432 failed: '
            'password authentication failed for user "<redacted>"',
        ),
        (
            "host=db1 user=ops password=s3cret dbname=prod",
            "host=<host> user=<redacted> password=<redacted> dbname=<redacted>",
        ),
        ("No such file: '/srv/models/m.onnx'", "No such file: '<path>'"),
        ("cannot open C:\\Users\\ops\\m.bin now", "cannot open <path> now"),
        ("Authorization: Bearer abc.def", "Authorization: <redacted> <redacted>"),
        ("reach api.acme.io:8443 or fe80::1", "reach <host> or <ip>"),
        ("mail ops@acme.com", "mail <email>"),
        # Ordinary numbers, ratios and times survive.
        ("value 3.5 at 12:30:45 is 10/2 of limit", "value 3.5 at 12:30:45 is 10/2 of limit"),
    ],
)
def test_scrub_message(raw: str, scrubbed: str) -> None:
    assert scrub_message(raw) == scrubbed


def test_scrub_caps_length_and_describe_keeps_the_type() -> None:
    assert len(scrub_message("x" * 5000)) == MAX_MESSAGE_CHARS
    assert describe_exception(KeyError("/etc/app/secret")) == "KeyError: '<path>'"
    assert describe_exception(RuntimeError()) == "RuntimeError"


def test_percentile_matches_linear_interpolation() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    assert percentile([], 50) is None
    assert latency_percentiles([10.0]) == {"p50": 10.0, "p95": 10.0}
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summarize_jobs_counts_finished_runs_only() -> None:
    jobs = [JobObservation("succeeded", float(ms)) for ms in range(1, 101)]
    jobs += [JobObservation("failed", 3.0), JobObservation("timed_out", 30000.0)]
    jobs += [JobObservation("queued", None), JobObservation("running", None)]
    m = summarize_jobs(jobs)
    assert m.calls == 102 and m.errors == 2
    assert m.error_rate == pytest.approx(2 / 102)
    assert m.latency_p50_ms == pytest.approx(50.5)
    assert m.latency_p95_ms == pytest.approx(95.05)
    assert m.latency_mean_ms == pytest.approx(50.5)
    empty = summarize_jobs([])
    assert empty.calls == 0 and empty.error_rate is None and empty.latency_p95_ms is None
    assert error_rate(["queued"]) is None
    assert error_rate(["succeeded", "failed"]) == 0.5


def test_accuracy_metrics() -> None:
    actual, predicted = [100.0, 200.0, 0.0, 50.0], [110.0, 180.0, 5.0, 50.0]
    assert mae(actual, predicted) == pytest.approx(35 / 4)
    assert rmse(actual, predicted) == pytest.approx(math.sqrt((100 + 400 + 25) / 4))
    assert mape(actual, predicted) == pytest.approx(100 * (0.1 + 0.1 + 0) / 3)
    assert mape([0.0], [1.0]) is None
    assert mae([float("nan"), 1.0], [1.0, 2.0]) == 1.0
    assert accuracy(["ok", "scrap", "ok"], ["ok", "ok", "ok"]) == pytest.approx(2 / 3)
    assert accuracy([], []) is None
    assert accuracy_metrics("classifier", [1], [1]) == {"accuracy": 1.0}
    assert set(accuracy_metrics("forecaster", [1.0], [2.0])) == {"mae", "mape", "rmse"}
    with pytest.raises(ValueError, match="2 actuals but 1 predictions"):
        mae([1.0, 2.0], [1.0])


def test_compare_says_which_version_is_better() -> None:
    a = {"error_rate": 0.02, "latency_p95_ms": 40.0, "mape": 12.0, "accuracy": 0.9, "calls": 10}
    b = {"error_rate": 0.01, "latency_p95_ms": 55.0, "mape": 12.0, "accuracy": 0.95}
    table = compare(a, b)
    assert table["error_rate"] == {
        "a": 0.02,
        "b": 0.01,
        "delta": pytest.approx(-0.01),
        "better": "b",
    }
    assert table["latency_p95_ms"]["better"] == "a"
    assert table["mape"]["better"] is None  # equal
    assert table["accuracy"]["better"] == "b"
    assert table["calls"] == {"a": 10, "b": None, "delta": None, "better": None}
