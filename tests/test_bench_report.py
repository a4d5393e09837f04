"""The bench's arithmetic and output (bench/report.py): the figures `make bench` reports."""

from __future__ import annotations

import json

import pytest

from bench.report import Report, Result, median, percentile, ratio


def test_percentiles_are_nearest_rank_and_median_is_the_middle() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([], 95) is None
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert median([]) is None


def test_ratio_is_ours_over_direct_and_missing_without_a_direct_figure() -> None:
    assert ratio(11.5, 10.0) == 1.15
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None


def test_each_result_is_one_json_line_and_the_table_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    report = Report()
    result = Result("overhead", "pipeline 10K rows", 12.0, 10.0, "ratio <= 1.15", {"rounds": 3})
    result.meets = False
    report.add(result)
    line = json.loads(capsys.readouterr().out)
    assert line == {
        "scenario": "overhead",
        "case": "pipeline 10K rows",
        "ours_s": 12.0,
        "direct_s": 10.0,
        "ratio": 1.2,
        "target": "ratio <= 1.15",
        "meets_target": False,
        "rounds": 3,
    }
    table = report.table().splitlines()
    assert table[0].split() == ["scenario", "case", "ours_s", "direct_s", "ratio", "target", "meets"]
    assert "pipeline 10K rows" in table[2] and table[2].endswith("NO")
