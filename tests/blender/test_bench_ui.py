"""The sidebar benchmark runs, draws every panel with Blender's own UILayout (UIList rows
included) without a single error, and reports its numbers. The timing itself is reported,
not asserted: it depends on the machine (scripts/bench_ui.py exits 1 over its target)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ui_draws_the_sidebar_with_a_real_layout(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_ui.py"), "--json", "--repeat", "20"],
        cwd=tmp_path, capture_output=True, text=True, timeout=100, check=False,
    )
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    result = json.loads(line)
    assert result["layout"] == "blender", result
    assert result["draw_errors"] == [], result
    assert result["jobs"] == 1000 and result["draw_ms"] > 0 and result["baseline_ms"] > 0
    assert proc.returncode == (0 if result["ok"] else 1)
    print(f"sidebar draw, 1000 jobs: {result['draw_ms']:.3f} ms, ratio {result['ratio']}")
