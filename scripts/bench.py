#!/usr/bin/env python3
"""Every benchmark of the project, one table.

    python3 scripts/dev.py bench            # full sizes (several minutes)
    python3 scripts/dev.py bench --quick    # smaller sizes, same measurements

Each benchmark runs as its own process with ``--json`` and measures its baseline in the same
run; this script only collects the figures: value, baseline, ratio and target.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    baseline: str
    ratio: str
    target: str
    ok: bool


def _submit(d: dict[str, Any]) -> list[Row]:
    return [Row(f"submit+cancel {d['jobs']} jobs, {d['latency_ms']:g} ms latency",
                f"{d['concurrent_jobs_per_s']:.0f} jobs/s (8 in flight)",
                f"{d['sequential_jobs_per_s']:.0f} jobs/s (sequential)",
                f"{d['ratio']:.1f}x", f">= {d['target']:g}x", bool(d["ok"]))]


def _blendinfo(d: dict[str, Any]) -> list[Row]:
    return [
        Row("read frame range/scene/format, small .blend", f"{d['small_farm_ms']:.1f} ms",
            f"{d['small_blender_ms']:.1f} ms (open_mainfile)", f"{d['speedup_small']:.1f}x",
            f"<= {d['target_ms']:g} ms", d["small_farm_ms"] <= d["target_ms"]),
        Row(f"same, {d['large_size_mb']:.0f} MB .blend", f"{d['large_farm_ms']:.1f} ms",
            f"{d['large_blender_ms']:.1f} ms (open_mainfile)", f"{d['speedup_large']:.1f}x",
            f">= {d['target_speedup']:g}x, growth {d['growth']:.1f}x <= {d['target_growth']:g}x",
            bool(d["ok"])),
    ]


def _plan(d: dict[str, Any]) -> list[Row]:
    return [Row(f"plan {d['jobs']} .blend files (pack + submit)", f"{d['plan_s']:.1f} s",
                f"{d['copy_s']:.2f} s (plain copy)", f"{d['ratio_to_copy']:.1f}x",
                f"< {d['target_s']:g} s", bool(d["ok"]))]


def _mover(what: str) -> Callable[[dict[str, Any]], list[Row]]:
    def rows(d: dict[str, Any]) -> list[Row]:
        base = "find -exec mv -t" if what == "harvest" else "tar czf"
        return [Row(f"{what} {d['frames']:,} frames (peak RSS {d['farm_peak_rss_kib'] // 1024} "
                    f"MiB vs {d['baseline_peak_rss_kib'] // 1024} MiB)",
                    f"{d['farm_seconds']:.2f} s", f"{d['baseline_seconds']:.2f} s ({base})",
                    f"{d['ratio']:.2f}x", f"<= {d['target_ratio_max']:g}x", bool(d["ok"]))]
    return rows


def _harvest_real(d: dict[str, Any]) -> list[Row]:
    rate = d["bytes_per_s"]
    what = (f"harvest {d['frames']} 1920x1080 frames ({d['bytes'] / 1e9:.2f} GB, "
            f"{d['cpus']} CPUs; one thread: {d['farm_one_thread_seconds']:.2f} s)")
    ok = d["farm_seconds"] <= d["target_ratio_max"] * d["baseline_seconds"]
    rows = [
        Row(what, f"{d['farm_seconds']:.2f} s ({rate['farm'] / 1e6:.0f} MB/s)",
            f"{d['baseline_seconds']:.2f} s (sha256sum + find -exec mv -t)",
            f"{d['ratio']:.2f}x", f"<= {d['target_ratio_max']:g}x", ok),
        Row("same, against both cores' sha256sum",
            f"{d['farm_seconds']:.2f} s ({rate['farm'] / 1e6:.0f} MB/s)",
            f"{d['baseline_p2_seconds']:.2f} s (xargs -P2 sha256sum + mv -t)",
            f"{d['ratio_to_p2']:.2f}x", "(shown)", True),
    ]
    if d.get("baseline_openssl_seconds"):
        rows.append(Row("same, against OpenSSL's SHA-256 (as hashlib's)",
                        f"{d['farm_seconds']:.2f} s",
                        f"{d['baseline_openssl_seconds']:.2f} s (openssl dgst -sha256 + mv -t)",
                        f"{d['farm_seconds'] / d['baseline_openssl_seconds']:.2f}x", "(shown)",
                        True))
    return rows


def _ui(d: dict[str, Any]) -> list[Row]:
    return [Row(f"sidebar draw(), release of {d['jobs']} jobs",
                f"{d['draw_ms']:.3f} ms",
                f"{d['baseline_ms']:.3f} ms ({d['baseline_jobs']} jobs)",
                f"{d['ratio']:.2f}x", f"< {d['target_ms']:g} ms", bool(d["ok"]))]


#: script, full arguments, quick arguments, reader
BENCHES: list[tuple[str, list[str], list[str], Callable[[dict[str, Any]], list[Row]]]] = [
    ("bench_submit.py", [], ["--jobs", "200"], _submit),
    ("bench_blendinfo.py", [], [], _blendinfo),
    ("bench_plan.py", [], ["--jobs", "200"], _plan),
    ("bench_harvest.py", [], ["--frames", "20000"], _mover("harvest")),
    ("bench_harvest.py", ["--real-size"], ["--real-size", "--frames", "100"], _harvest_real),
    ("bench_archive.py", [], ["--frames", "20000"], _mover("archive")),
    ("bench_ui.py", [], [], _ui),
]


def last_json(text: str) -> dict[str, Any]:
    """The last JSON object a benchmark printed (one line, or an indented block)."""
    for line in reversed(text.splitlines()):
        if line.startswith("{") and line.rstrip().endswith("}"):
            return dict(json.loads(line))
    start = text.rfind("\n{")
    return dict(json.loads(text[start + 1 if start >= 0 else 0:]))


def table(rows: list[Row]) -> str:
    head = ("figure", "farm", "baseline (same run)", "ratio", "target", "")
    cells = [head, *[(r.figure, r.value, r.baseline, r.ratio, r.target,
                      "ok" if r.ok else "MISSED") for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--only", action="append", help="run only these scripts (repeatable)")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    failed: list[str] = []
    for script, full, quick, read in BENCHES:
        if args.only and script not in args.only and script.removesuffix(".py") not in args.only:
            continue
        cmd = [PY, str(ROOT / "scripts" / script), "--json", *(quick if args.quick else full)]
        print(f"running {script} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        try:
            rows += read(last_json(proc.stdout))
        except (ValueError, KeyError) as exc:
            failed.append(f"{script} (exit {proc.returncode}): {exc}; {proc.stderr[-500:]}")
            continue
        print(f"  done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}, {_cpus()} CPUs")
    print(table(rows))
    for line in failed:
        print(f"FAILED: {line}")
    return 1 if failed or not all(r.ok for r in rows) else 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
