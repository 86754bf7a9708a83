#!/usr/bin/env python3
"""Benchmark: `farm harvest` versus moving the same files with the system's `mv`.

Generates a release of N small PNG frames (default 100,000) over a few jobs on a fresh farm
volume, and a byte-identical copy of them. The copy is moved with
``find SRC -name '*.png' -exec mv -t DEST {} +`` (many files per call), one call per job; the
release is harvested by farm (Manager check, every frame read, image-checked and SHA-256
hashed, named, journaled, renamed, manifest written). Each runs in its own child process, and
its wall time and peak memory (``wait4`` rusage) are reported with the ratio and the target
(at most 2x). Both run ``--rounds`` times (default 3) on the same files, put back between rounds
without timing; the ratio is of the medians, since one run on a busy 2-core machine varies by
10 % either way.

    python scripts/bench_harvest.py --frames 20000
    python scripts/bench_harvest.py --json > harvest.json

The Manager is a stub answering "completed" for every job: one request, not what is measured.

``--real-size`` measures 1920x1080 frames against ``sha256sum`` and ``find -exec mv -t`` on the
Manager emulator instead: see scripts/bench_harvest_real.py.

    python scripts/bench_harvest.py --real-size
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGET_RATIO = 2.0
RELEASE = "bench"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def small_png(width: int = 48, height: int = 27) -> bytes:
    """A unique, valid RGB PNG of about 2 KB (half noise, half flat, like a render)."""
    half = width * 3 // 2
    rows = b"".join(b"\x00" + os.urandom(half) + bytes(width * 3 - half) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 6)) + _chunk(b"IEND", b""))


def job_names(jobs: int) -> list[str]:
    return [f"prop-{i:02d}" for i in range(jobs)]


def split_frames(frames: int, jobs: int) -> list[int]:
    base, extra = divmod(frames, jobs)
    return [base + (1 if i < extra else 0) for i in range(jobs)]


def make_release(root: Path, frames: int, jobs: int, twin: Path | None = None,
                 dist: bool = False) -> Any:
    """A farm volume with a release of ``frames`` frames over ``jobs`` jobs, every job
    recorded as submitted. Frames go to out/<job>/ (or, with ``dist``, are written as an
    already harvested release with its manifest). ``twin`` gets a copy of out/ for baselines."""
    from farm_addon.core.fs.volume import Volume
    from farm_addon.core.release.record import JobRecord, RecordStore, Revision

    volume = Volume.init(root / "volume")
    store = RecordStore(volume)
    manifest: list[dict[str, Any]] = []
    with store.transaction(RELEASE, create=True) as rec:
        for name, count in zip(job_names(jobs), split_frames(frames, jobs), strict=True):
            blend = volume.stored_blend(RELEASE, name)
            blend.parent.mkdir(parents=True, exist_ok=True)
            blend.write_bytes(b"BLENDER-v300" + os.urandom(256 << 10))
            sha = hashlib.sha256(blend.read_bytes()).hexdigest()
            rec.add_job(JobRecord(
                name=name, source=f"/art/{name}.blend", source_sha256=sha,
                stored_blend=volume.relpath(blend), frames=f"1-{count}", scene="Scene",
                output_format="PNG", file_extension=".png",
                output_dir=f"releases/{RELEASE}/out/{name}",
                metadata={"object": name.split("-")[0], "material": name.split("-")[1]},
                revisions=[Revision(number=1, state="submitted", job_id=str(uuid.uuid4()),
                                    source_sha256=sha)]))
            out = volume.dist_dir(RELEASE) if dist else volume.job_out_dir(RELEASE, name)
            out.mkdir(parents=True, exist_ok=True)
            copy = None
            if twin is not None:
                copy = twin / name
                copy.mkdir(parents=True)
            for f in range(1, count + 1):
                data = small_png()
                fname = f"{name}_{f:06d}.png" if dist else f"{f:06d}.png"
                (out / fname).write_bytes(data)
                if copy is not None:
                    (copy / fname).write_bytes(data)
                if dist:
                    manifest.append({"name": fname, "size": len(data), "job": name,
                                     "sha256": hashlib.sha256(data).hexdigest(),
                                     "revision": 1, "frame": f, "source_sha256": sha})
    if dist:
        doc = {"schema": 1, "kind": "farm-harvest-manifest", "release": RELEASE,
               "files": manifest, "superseded": []}
        (volume.dist_dir(RELEASE) / "manifest.json").write_text(json.dumps(doc))
    return volume


class StubManager:
    """Answers like a Manager on which every job of the release has completed."""

    def __init__(self, record: Any) -> None:
        self.record = record

    def _job(self, job: Any) -> Any:
        from farm_addon.core.flamenco import Job

        return Job.model_construct(id=job.job_id, status="completed", name=job.name,
                                   metadata={"farm.release": self.record.name})

    def get_job(self, job_id: str) -> Any:
        return next(self._job(j) for j in self.record.jobs if j.job_id == job_id)

    def jobs(self, status: str | Iterable[str] | None = None, name: str | None = None,
             metadata: Mapping[str, str] | None = None) -> list[Any]:
        return [self._job(j) for j in self.record.jobs]


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def run_child(argv: list[str]) -> tuple[float, int, str]:
    """Run a command; (wall seconds, peak RSS in KiB, stdout).

    The peak comes from GNU time when installed (a small process, so the figure is the
    command's own), else from ``wait4`` (which may include this Python's size at fork)."""
    report = None
    if GNU_TIME:
        fd, report = tempfile.mkstemp(prefix="farm-bench-time-")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", report, *argv]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    rss = int(usage.ru_maxrss)
    if report is not None:
        with contextlib.suppress(ValueError, OSError, IndexError):
            rss = int(Path(report).read_text().split()[-1])
        os.unlink(report)
    if code != 0:
        raise SystemExit(f"{argv} failed with exit code {code}")
    return seconds, rss, out


def child_harvest(volume_root: str, manager: str | None = None, threads: int | None = None
                  ) -> int:
    """In the child: harvest (asking ``manager``, else the stub; with ``threads`` reading
    large frames, else farm's default) and print seconds and memory as JSON."""
    from farm_addon.core.fs.volume import Volume
    from farm_addon.core.harvest import checks
    from farm_addon.core.harvest.run import harvest_release
    from farm_addon.core.release.record import RecordStore
    from farm_addon.core.session import FarmSession
    from farm_addon.core.settings import Settings

    if threads is not None:
        checks._WORKERS = threads
    volume = Volume.open(volume_root)
    session = None
    if manager:
        session = FarmSession(Settings(manager_url=manager, volume=volume.root), volume=volume)
        client: Any = session.client
    else:
        client = StubManager(RecordStore(volume).load(RELEASE))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = harvest_release(volume, client, RELEASE)
    seconds = time.perf_counter() - start
    if session is not None:
        session.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "delivered": result.delivered,
                      "rehashed": result.rehashed, "held": len(result.held),
                      "rss_base_kib": base, "rss_peak_kib": peak}))
    return 0


def mv_baseline(twin: Path, dest: Path, jobs: list[str]) -> tuple[float, int]:
    script = " && ".join(
        f"mkdir -p {dest / j} && find {twin / j} -name '*.png' -exec mv -t {dest / j} {{}} +"
        for j in jobs)
    seconds, rss, _ = run_child(["sh", "-c", script])
    return seconds, rss


def move_back(moved: Path, twin: Path, jobs: list[str]) -> None:
    """Undo the baseline's moves (untimed); the next round moves into a new folder (a folder
    that held 10,000 files takes new ones faster than a new one, which would flatter mv)."""
    for j in jobs:
        for name in os.listdir(moved / j):
            os.rename(moved / j / name, twin / j / name)
        (moved / j).rmdir()
    moved.rmdir()


def unharvest(volume: Any, record_bytes: bytes) -> None:
    """Undo a harvest (untimed): frames back to out/, no manifest, the record as it was."""
    dist = volume.dist_dir(RELEASE)
    doc = json.loads((dist / "manifest.json").read_bytes())
    for item in doc["files"]:
        os.rename(dist / item["name"], volume.root / item["source"])
    (dist / "manifest.json").unlink()
    dist.rmdir()  # each round delivers into a new folder, as a first harvest does
    volume.record_path(RELEASE).write_bytes(record_bytes)


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=None,
                   help="default 100,000 (300 with --real-size)")
    p.add_argument("--jobs", type=int, default=None, help="default 10 (3 with --real-size)")
    p.add_argument("--real-size", action="store_true",
                   help="1920x1080 frames of 6.2 MB against sha256sum + find -exec mv -t")
    p.add_argument("--rounds", type=int, default=3, help="runs of each (median; default 3)")
    p.add_argument("--dir", type=Path, default=None, help="where to generate (default: tmp)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--child", metavar="VOLUME", help=argparse.SUPPRESS)
    p.add_argument("--manager", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_harvest(args.child, args.manager, args.threads)
    if args.frames is None:
        args.frames = 300 if args.real_size else 100_000
    if args.jobs is None:
        args.jobs = 3 if args.real_size else 10

    work = Path(tempfile.mkdtemp(prefix="farm-bench-harvest-", dir=args.dir))
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    try:
        if args.real_size:
            from bench_harvest_real import real_size

            return real_size(args, work, say)
        say(f"Generating {args.frames:,} frames over {args.jobs} jobs in {work} ...")
        t = time.perf_counter()
        twin = work / "twin"
        volume = make_release(work, args.frames, args.jobs, twin=twin)
        os.sync()
        say(f"  generated in {time.perf_counter() - t:.1f} s")

        record_bytes = volume.record_path(RELEASE).read_bytes()
        jobs = job_names(args.jobs)
        mv_runs: list[float] = []
        ours_runs: list[float] = []
        mv_rss = ours_rss = 0
        child: dict[str, Any] = {}
        for rnd in range(1, args.rounds + 1):
            if rnd > 1:
                move_back(work / "twin-moved", twin, jobs)
                unharvest(volume, record_bytes)
            os.sync()
            say(f"round {rnd}/{args.rounds}: mv baseline ...")
            seconds, rss = mv_baseline(twin, work / "twin-moved", jobs)
            mv_runs.append(seconds)
            mv_rss = max(mv_rss, rss)
            moved = sum(len(os.listdir(work / "twin-moved" / j)) for j in jobs)
            assert moved == args.frames, moved
            say(f"round {rnd}/{args.rounds}: farm harvest ...")
            os.sync()  # start without mv's changes still being flushed
            seconds, rss, out = run_child([sys.executable, __file__, "--child",
                                           str(volume.root)])
            ours_runs.append(seconds)
            ours_rss = max(ours_rss, rss)
            child = json.loads(out)
            assert child["delivered"] == args.frames and not child["held"], child
            delivered = len(list(volume.dist_dir(RELEASE).glob("*.png")))
            assert delivered == args.frames, delivered
            say(f"  mv {mv_runs[-1]:.2f} s, farm {ours_runs[-1]:.2f} s "
                f"({ours_runs[-1] / mv_runs[-1]:.2f}x)")
        mv_s, ours_s = statistics.median(mv_runs), statistics.median(ours_runs)
        ratio = ours_s / mv_s
        result = {
            "bench": "harvest",
            "frames": args.frames,
            "jobs": args.jobs,
            "baseline": "find SRC -name '*.png' -exec mv -t DEST {} + (one call per job)",
            "rounds": args.rounds,
            "baseline_seconds": round(mv_s, 3),
            "baseline_runs": [round(x, 3) for x in mv_runs],
            "farm_runs": [round(x, 3) for x in ours_runs],
            "farm_rehashed": child["rehashed"],
            "baseline_peak_rss_kib": mv_rss,
            "farm_seconds": round(ours_s, 3),
            "farm_seconds_in_process": round(child["seconds"], 3),
            "farm_peak_rss_kib": ours_rss,
            "farm_rss_growth_kib": child["rss_peak_kib"] - child["rss_base_kib"],
            "ratio": round(ratio, 3),
            "target_ratio_max": TARGET_RATIO,
            "ok": ratio <= TARGET_RATIO,
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"harvest of {args.frames:,} frames ({args.jobs} jobs), checksums included; "
                  f"median of {args.rounds} runs")
            print(f"  mv (find -exec mv -t) {mv_s:8.2f} s   peak RSS {mv_rss / 1024:8.1f} MiB")
            print(f"  farm harvest          {ours_s:8.2f} s   peak RSS {ours_rss / 1024:8.1f} "
                  f"MiB (+{result['farm_rss_growth_kib'] / 1024:.1f} MiB over the interpreter)")
            print(f"  ratio {ratio:.2f}x (target at most {TARGET_RATIO:.0f}x): "
                  + ("OK" if result["ok"] else "MISSED"))
        return 0 if result["ok"] else 1
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
