"""scripts/robustness_report.py runs the same harness as these tests; a small run of it here
keeps the script working (the full report: `scripts/robustness_report.py`)."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def test_report_script_prints_the_tables(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("robustness_report",
                                                  ROOT / "scripts" / "robustness_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    figures = tmp_path / "figures.json"
    code = module.main(["--quick", "--only", "crash", "--points", "2", "--json", str(figures)],
                       out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "kill points survived" in text and "No failure." in text
    for command in ("plan", "seed", "replace", "harvest", "archive", "kill", "slash-and-burn"):
        assert f"\n{command} " in text
    assert json.loads(figures.read_text())["failures"] == []
