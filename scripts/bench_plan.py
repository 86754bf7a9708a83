"""Benchmark: planning a release of many generated .blend files against the emulator.

One small .blend (made once with tests/blendgen.py, cached under ``--cache``) is copied
``--jobs`` times into a folder; then ``plan_release`` plans that folder as one release on a
fresh farm volume served by the Flamenco Manager emulator running in this process (spec
validation off, so the emulator's own cost stays small): reading every file, checking every
job with the Manager, packing every file into ``store/`` and submitting every job. The
baseline, measured in the same run, is a plain copy of the same files into another folder::

    python scripts/bench_plan.py                # 1,000 files
    python scripts/bench_plan.py --jobs 200 --json

Target: under 60 s for 1,000 files on a 2-core machine. The last line of the plain output is
machine-readable (``BENCH bench_plan ...``).

Exit status: 0; 1 when a job was not submitted (or, with ``--check``, when the target is missed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from farm_addon.core.fs.volume import Volume  # noqa: E402
from farm_addon.core.progress import Progress  # noqa: E402
from farm_addon.core.release.plan import PlanRequest, plan_release  # noqa: E402
from farm_addon.core.session import FarmSession  # noqa: E402
from farm_addon.core.settings import Settings  # noqa: E402
from tests.blendgen import make_blends  # noqa: E402
from tests.emulator import Emulator  # noqa: E402

TARGET_S = 60.0


class PhaseTimer(Progress):
    """Seconds spent in each phase the core reports (Reading, Checking, Packing, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.phases: dict[str, float] = {}
        self._current: str | None = None
        self._since = time.perf_counter()

    def start(self, total: int, label: str = "") -> None:
        self._close()
        self._current, self._since = label, time.perf_counter()
        super().start(total, label)

    def _close(self) -> None:
        now = time.perf_counter()
        if self._current is not None:
            self.phases[self._current] = self.phases.get(self._current, 0.0) + now - self._since
        self._current, self._since = None, now

    def finish(self) -> dict[str, float]:
        self._close()
        return self.phases


def source_blend(cache: Path) -> Path:
    path = cache / "plan_source" / "plan_source.blend"
    if not path.is_file():
        made = make_blends(cache, [{"kind": "simple", "name": "plan_source", "frames": [1, 4, 1]}])
        path = made["plan_source"]
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="files to plan (default 1000)")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench",
                        help="where the source .blend is kept (default .cache/bench)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more")

    blend = source_blend(args.cache.absolute())
    with tempfile.TemporaryDirectory(prefix="farm-bench-plan-") as tmp_name:
        tmp = Path(tmp_name)
        sources = tmp / "sources"
        sources.mkdir()
        for i in range(args.jobs):
            shutil.copyfile(blend, sources / f"asset_{i:05d}.blend")
        size_mb = args.jobs * blend.stat().st_size / 1e6

        # Baseline: a plain copy of the same files (what packing does at the very least).
        copied = tmp / "copied"
        copied.mkdir()
        start = time.perf_counter()
        for path in sorted(sources.iterdir()):
            shutil.copy2(path, copied / path.name)
        copy_s = time.perf_counter() - start

        emu = Emulator(version="3.8.5", storage=tmp / "volume", worker="none", validate=False)
        emu.start()
        try:
            volume = Volume.init(emu.storage)
            settings = Settings(manager_url=emu.url, volume=volume.root, project="bench")
            timer = PhaseTimer()
            with FarmSession(settings, volume=volume) as session:
                start = time.perf_counter()
                result = plan_release(
                    session, PlanRequest(release="bench", sources=[str(sources)], cwd=tmp), timer)
                plan_s = time.perf_counter() - start
            phases = timer.finish()
            submitted = sum(1 for o in result.jobs if o.ok)
            on_manager = len(emu.jobs)
        finally:
            emu.stop()

    ok = plan_s < TARGET_S and submitted == args.jobs == on_manager
    summary = {
        "bench": "bench_plan",
        "jobs": args.jobs,
        "size_mb": round(size_mb, 1),
        "plan_s": round(plan_s, 2),
        "jobs_per_s": round(args.jobs / plan_s, 1) if plan_s else 0.0,
        "copy_s": round(copy_s, 3),
        "ratio_to_copy": round(plan_s / copy_s, 1) if copy_s else 0.0,
        "target_s": TARGET_S,
        "ok": ok,
        "submitted": submitted,
        "on_manager": on_manager,
        "phases_s": {k: round(v, 2) for k, v in phases.items()},
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"planned {args.jobs} files ({size_mb:.0f} MB) in {plan_s:.2f} s "
              f"({summary['jobs_per_s']} jobs/s); {submitted} submitted, {on_manager} on the "
              "Manager")
        for label, seconds in phases.items():
            print(f"  {label:<28} {seconds:>7.2f} s")
        print(f"baseline: plain copy of the same files {copy_s:.3f} s "
              f"(planning is {summary['ratio_to_copy']}x that)")
        print(f"target < {TARGET_S:g} s: {'ok' if ok else 'MISSED'}")
        fields = {k: v for k, v in summary.items() if k not in ("bench", "phases_s")}
        fields["ok"] = "yes" if ok else "no"
        print("BENCH bench_plan " + " ".join(f"{k}={v}" for k, v in fields.items()))
    if submitted != args.jobs:
        return 1
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
