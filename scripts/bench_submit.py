"""Benchmark: submit then cancel many jobs, concurrently (bulk) and one by one.

Starts the Manager emulator in this process with a fixed latency added to every request (spec
validation off, so the emulator's own cost stays small), then for each mode on a fresh
emulator: submits ``--jobs`` jobs and cancels them. Prints jobs/s for both modes and their
ratio against the target (concurrent >= 5x sequential)::

    python scripts/bench_submit.py --jobs 200
    python scripts/bench_submit.py --json

The last line of the plain output is machine-readable::

    BENCH bench_submit jobs=1000 latency_ms=20 in_flight=8 sequential_jobs_per_s=... \
concurrent_jobs_per_s=... ratio=... target=5.0 ok=yes

Exit status: 0, or 1 when an item failed (or with ``--check``, when the ratio misses the target).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from farm_addon.core.flamenco import FlamencoClient, Job, SubmittedJob, failures  # noqa: E402
from tests.emulator import Emulator  # noqa: E402

REASON = "benchmark"


@dataclass
class ModeResult:
    mode: str
    jobs: int
    submit_s: float
    cancel_s: float
    failures: int

    @property
    def total_s(self) -> float:
        return self.submit_s + self.cancel_s

    @property
    def jobs_per_s(self) -> float:
        """Jobs submitted and cancelled per second."""
        return self.jobs / self.total_s if self.total_s else 0.0


def make_jobs(count: int, storage: Path) -> list[SubmittedJob]:
    return [
        SubmittedJob(
            name=f"bench_{i:05}",
            type="simple-blender-render",
            submitter_platform="linux",
            settings={
                "frames": "1-2",
                "chunk_size": 1,
                "render_output_root": f"{storage}/render",
                "add_path_components": 0,
                "render_output_path": f"{storage}/render/bench_{i:05}/######",
                "blendfile": f"{storage}/bench.blend",
                "fps": 24.0,
                "format": "PNG",
                "image_file_extension": ".png",
                "has_previews": False,
                "scene": "Scene",
            },
            metadata={"farm.release": "bench", "farm.job": str(i)},
        )
        for i in range(count)
    ]


def run_mode(mode: str, count: int, latency_s: float, in_flight: int) -> ModeResult:
    with tempfile.TemporaryDirectory(prefix="farm-bench-") as tmp:
        storage = Path(tmp)
        emu = Emulator(version="3.8.5", storage=storage, worker="none", validate=False)
        url = emu.start()
        try:
            emu.faults.add(kind="latency", seconds=latency_s)
            jobs = make_jobs(count, storage)
            with FlamencoClient(url, max_in_flight=in_flight) as client:
                client.handshake()
                client.job_types()
                if mode == "concurrent":
                    submit_s, cancel_s, failed = _concurrent(client, jobs)
                else:
                    submit_s, cancel_s, failed = _sequential(client, jobs)
            if emu.violations:
                raise SystemExit(f"emulator violations: {emu.violations[:3]}")
            if not failed and len(emu.jobs) != count:
                raise SystemExit(f"{mode}: expected {count} jobs, the emulator has {len(emu.jobs)}")
        finally:
            emu.stop()
    return ModeResult(mode, count, submit_s, cancel_s, failed)


def _sequential(client: FlamencoClient, jobs: list[SubmittedJob]) -> tuple[float, float, int]:
    start = time.perf_counter()
    made: list[Job] = [client.submit_job(job) for job in jobs]
    submitted = time.perf_counter()
    for job in made:
        client.cancel_job(job, REASON)
    return submitted - start, time.perf_counter() - submitted, 0


def _concurrent(client: FlamencoClient, jobs: list[SubmittedJob]) -> tuple[float, float, int]:
    start = time.perf_counter()
    results = client.submit_many(jobs)
    submitted = time.perf_counter()
    ids = [r.value.id for r in results if r.value is not None]
    cancelled = client.cancel_many(ids, REASON)
    return (
        submitted - start,
        time.perf_counter() - submitted,
        len(failures(results)) + len(failures(cancelled)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per mode (default 1000)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every request")
    parser.add_argument("--in-flight", type=int, default=8, help="concurrent requests (bulk)")
    parser.add_argument("--target", type=float, default=5.0, help="wanted speed-up")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 when below the target")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.in_flight < 1:
        parser.error("--jobs and --in-flight must be 1 or more")

    latency = args.latency_ms / 1000.0
    concurrent = run_mode("concurrent", args.jobs, latency, args.in_flight)
    sequential = run_mode("sequential", args.jobs, latency, args.in_flight)
    ratio = concurrent.jobs_per_s / sequential.jobs_per_s if sequential.jobs_per_s else 0.0
    ok = ratio >= args.target
    failed = concurrent.failures + sequential.failures
    summary = {
        "bench": "bench_submit",
        "jobs": args.jobs,
        "latency_ms": args.latency_ms,
        "in_flight": args.in_flight,
        "sequential_jobs_per_s": round(sequential.jobs_per_s, 2),
        "concurrent_jobs_per_s": round(concurrent.jobs_per_s, 2),
        "ratio": round(ratio, 2),
        "target": args.target,
        "ok": ok,
        "failures": failed,
        "modes": [
            {**asdict(m), "total_s": round(m.total_s, 3), "jobs_per_s": round(m.jobs_per_s, 2)}
            for m in (sequential, concurrent)
        ],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'mode':<11} {'jobs':>6} {'submit s':>9} {'cancel s':>9} {'jobs/s':>8}")
        for m in (sequential, concurrent):
            print(
                f"{m.mode:<11} {m.jobs:>6} {m.submit_s:>9.2f} {m.cancel_s:>9.2f} "
                f"{m.jobs_per_s:>8.1f}"
            )
        print(f"speed-up {ratio:.2f}x (target {args.target:g}x): {'ok' if ok else 'MISSED'}")
        fields = {k: v for k, v in summary.items() if k not in ("bench", "modes")}
        fields["ok"] = "yes" if ok else "no"
        print("BENCH bench_submit " + " ".join(f"{k}={v}" for k, v in fields.items()))
    if failed:
        return 1
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
