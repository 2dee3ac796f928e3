"""A small run of the benchmark: the harness works and agrees with the naive way."""

from __future__ import annotations

import json

import pytest

from benchmarks.run import main

pytestmark = pytest.mark.slow


def test_benchmark_smoke_run(reference_dir, tmp_path):
    assert main(["--smoke", "--reference", str(reference_dir), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "smoke.json").read_text(encoding="utf-8"))
    figures = result["figures"]
    for name in ("findResources in-process p95 (ms)", "coverage, all communes, median (ms)", "gap matrix median (s)",
                 "reopen median (s)", "FINESS national import (s)", "findResources HTTP 8 clients (req/s)"):
        assert figures[name] > 0, name
    assert any("identical to the naive scan" in c for c in result["checks"])
    assert "| figure | value | target | met |" in (tmp_path / "smoke.md").read_text(encoding="utf-8")
