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

``--real-size`` measures frames of a real size instead: ``--frames`` (default 300) 1920x1080
RGB PNG frames of random pixels (stored without compression, so each is 6.2 MB, as noise
does not compress) over ``--jobs`` (default 3) jobs, submitted to the Flamenco Manager emulator
(3.8.5 API, in this process) and completed by its worker. The baselines are what a careful
person scripts: ``find SRC -name '*.png' -exec sha256sum {} + > manifest`` then the same
``find -exec mv -t``; the same with ``xargs -0 -P2 sha256sum`` (both cores); and with
``openssl dgst -sha256 -r`` (OpenSSL's SHA-256, the one Python's hashlib uses: GNU
sha256sum's own can be several times slower, so farm does not win by the hasher). All on the
same file system, the files in the page cache for every run (written just before; the machine's
memory holds them), median of ``--rounds``; seconds, the ratio and bytes per second.

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
from collections.abc import Callable, Iterable, Mapping
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


def big_png(width: int = 1920, height: int = 1080) -> bytes:
    """A valid RGB PNG of random pixels, stored (zlib level 0): 6.2 MB at 1920x1080."""
    rows = os.urandom(height * (width * 3 + 1))
    line = width * 3 + 1
    rows = b"".join(b"\x00" + rows[i * line + 1:(i + 1) * line] for i in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 0)) + _chunk(b"IEND", b""))


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


def make_real_release(root: Path, frames: int, jobs: int, twin: Path) -> tuple[Any, Any]:
    """A farm volume whose release's jobs the Manager emulator (started here, returned with
    the volume) has completed; each frame then rewritten as a 1920x1080 one, ``twin`` getting
    a copy."""
    from farm_addon.core.fs.volume import Volume
    from farm_addon.core.release.record import JobRecord, RecordStore
    from farm_addon.core.release.submit import submit_pending
    from farm_addon.core.session import FarmSession
    from farm_addon.core.settings import Settings
    from tests.emulator import Emulator

    volume = Volume.init(root / "volume")
    emu = Emulator(version="3.8.5", storage=volume.root, worker="instant")
    emu.start()
    store = RecordStore(volume)
    with FarmSession(Settings(manager_url=emu.url, volume=volume.root),
                     volume=volume) as session, store.transaction(RELEASE, create=True) as rec:
        for name, count in zip(job_names(jobs), split_frames(frames, jobs), strict=True):
            blend = volume.stored_blend(RELEASE, name)
            blend.parent.mkdir(parents=True, exist_ok=True)
            blend.write_bytes(b"BLENDER-v300" + os.urandom(256 << 10))
            rec.add_job(JobRecord(
                name=name, source=f"/art/{name}.blend",
                source_sha256=hashlib.sha256(blend.read_bytes()).hexdigest(),
                stored_blend=volume.relpath(blend), frames=f"1-{count}", scene="Scene",
                output_format="PNG", file_extension=".png",
                output_dir=f"releases/{RELEASE}/out/{name}",
                metadata={"object": name.split("-")[0], "material": name.split("-")[1]}))
        if not all(o.ok for o in submit_pending(session, store, rec)):
            raise SystemExit("submitting to the emulator failed")
    emu.run_worker()
    for name, count in zip(job_names(jobs), split_frames(frames, jobs), strict=True):
        out = volume.job_out_dir(RELEASE, name)
        (twin / name).mkdir(parents=True)
        for f in range(1, count + 1):
            data = big_png()
            if not (out / f"{f:06d}.png").is_file():
                raise SystemExit(f"the emulator's worker did not render {name} frame {f}")
            (out / f"{f:06d}.png").write_bytes(data)
            (twin / name / f"{f:06d}.png").write_bytes(data)
    return volume, emu


#: The manifest commands of the careful person's script (``{png}``: find SRC -name '*.png').
SUMS = {
    "sha256sum": "{png} -exec sha256sum {{}} + > {manifest}",
    "xargs -P2 sha256sum": "{png} -print0 | xargs -0 -P2 -n 16 sha256sum > {manifest}",
    "openssl dgst": "{png} -exec openssl dgst -sha256 -r {{}} + > {manifest}",
}


def sums_baseline(twin: Path, dest: Path, jobs: list[str], manifest: Path, kind: str) -> float:
    """The careful person's script: a checksum manifest, then find -exec mv -t per job."""
    sums = SUMS[kind].format(png=f"find {twin} -name '*.png'", manifest=manifest)
    moves = " && ".join(
        f"mkdir -p {dest / j} && find {twin / j} -name '*.png' -exec mv -t {dest / j} {{}} +"
        for j in jobs)
    seconds, _rss, _ = run_child(["sh", "-c", f"{sums} && {moves}"])
    return seconds


def real_size(args: argparse.Namespace, work: Path, say: Callable[..., None]) -> int:
    """The ``--real-size`` run (see the module)."""
    from farm_addon.core.harvest import checks

    say(f"Generating {args.frames} frames of 1920x1080 over {args.jobs} jobs in {work} ...")
    t = time.perf_counter()
    twin = work / "twin"
    volume, emu = make_real_release(work, args.frames, args.jobs, twin)
    try:
        os.sync()
        total = sum(p.stat().st_size for p in twin.rglob("*.png"))
        say(f"  generated {total / 1e9:.2f} GB in {time.perf_counter() - t:.1f} s")
        record_bytes = volume.record_path(RELEASE).read_bytes()
        jobs = job_names(args.jobs)
        kinds = [k for k in SUMS if k != "openssl dgst" or shutil.which("openssl")]
        runs: dict[str, list[float]] = {k: [] for k in kinds}
        runs.update({"farm, one thread": [], "farm": []})
        inside: dict[str, list[float]] = {"farm, one thread": [], "farm": []}
        moved_to = work / "twin-moved"
        harvested = False
        for rnd in range(1, args.rounds + 1):
            for kind in kinds:
                os.sync()
                say(f"round {rnd}/{args.rounds}: {kind} + find -exec mv -t ...")
                manifest = work / "frames.sha256"
                runs[kind].append(sums_baseline(twin, moved_to, jobs, manifest, kind))
                lines = manifest.read_text().splitlines()
                assert len(lines) == args.frames and all(len(x.split()[0]) == 64
                                                         for x in lines), lines[:3]
                moved = sum(len(os.listdir(moved_to / j)) for j in jobs)
                assert moved == args.frames, moved
                manifest.unlink()
                move_back(moved_to, twin, jobs)
            farms = [("farm, one thread", ["--threads", "0"]), ("farm", [])]
            for kind, threads in farms[::1 if rnd % 2 else -1]:  # each first in turn
                if harvested:
                    unharvest(volume, record_bytes)
                os.sync()
                say(f"round {rnd}/{args.rounds}: {kind} harvest ...")
                seconds, _rss, out = run_child([sys.executable, __file__, "--child",
                                                str(volume.root), "--manager", emu.url,
                                                *threads])
                runs[kind].append(seconds)
                harvested = True
                child = json.loads(out)
                inside[kind].append(child["seconds"])
                assert child["delivered"] == args.frames and not child["held"], child
                assert child["rehashed"] == 0, child
            say("  " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()))
        if emu.violations:
            raise SystemExit(f"emulator violations: {emu.violations[:3]}")
    finally:
        emu.stop()
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratio = med["farm"] / med["sha256sum"]
    ratio_p2 = med["farm"] / med["xargs -P2 sha256sum"]
    result = {
        "bench": "harvest-real-size",
        "manager": "Flamenco Manager emulator (tests/emulator), API 3.8.5",
        "frames": args.frames, "jobs": args.jobs, "frame_size": "1920x1080 RGB PNG",
        "bytes": total, "cpus": _cpus(), "rounds": args.rounds,
        "baseline": "find SRC -name '*.png' -exec sha256sum {} + > manifest; "
                    "find SRC -name '*.png' -exec mv -t DEST {} + (per job)",
        "baseline_seconds": round(med["sha256sum"], 3),
        "baseline_p2": "the same with find -print0 | xargs -0 -P2 -n 16 sha256sum",
        "baseline_p2_seconds": round(med["xargs -P2 sha256sum"], 3),
        "baseline_openssl": "the same with find -exec openssl dgst -sha256 -r {} + "
                            "(OpenSSL's SHA-256, as Python's hashlib uses)",
        "baseline_openssl_seconds": (round(med["openssl dgst"], 3) if "openssl dgst" in med
                                     else None),
        "farm_seconds": round(med["farm"], 3),
        "farm_threads": checks._WORKERS,  # read and hash frames over 64 KiB
        "farm_one_thread_seconds": round(med["farm, one thread"], 3),
        # the harvest call alone, without the interpreter's start and imports
        "farm_seconds_in_process": round(statistics.median(inside["farm"]), 3),
        "farm_one_thread_seconds_in_process": round(
            statistics.median(inside["farm, one thread"]), 3),
        "runs": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "bytes_per_s": {k: round(total / v) for k, v in med.items()},
        "ratio": round(ratio, 3), "ratio_to_p2": round(ratio_p2, 3),
        "target_ratio_max": TARGET_RATIO, "ok": ratio <= TARGET_RATIO,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"harvest of {args.frames} frames of 1920x1080 ({total / 1e9:.2f} GB, "
              f"{args.jobs} jobs) on the {result['manager']}, checksums included; "
              f"median of {args.rounds} runs, {_cpus()} CPUs, files in the page cache")
        for k, label in (("sha256sum", "sha256sum + find -exec mv -t"),
                         ("xargs -P2 sha256sum", "xargs -P2 sha256sum + mv -t"),
                         ("openssl dgst", "openssl dgst -sha256 + mv -t"),
                         ("farm, one thread", "farm harvest, one thread"),
                         ("farm", f"farm harvest, {checks._WORKERS} threads")):
            if k not in med:
                print(f"  {label:30} (openssl is not installed)")
                continue
            own = (f"   (the harvest call alone {statistics.median(inside[k]):.2f} s)"
                   if k in inside else "")
            print(f"  {label:30} {med[k]:8.2f} s   {total / med[k] / 1e6:8.0f} MB/s{own}")
        to_openssl = (f", {med['farm'] / med['openssl dgst']:.2f}x to openssl dgst"
                      if "openssl dgst" in med else "")
        print(f"  ratio {ratio:.2f}x to sha256sum, {ratio_p2:.2f}x to xargs -P2{to_openssl}; "
              f"the pool {med['farm'] / med['farm, one thread']:.2f}x the time of one thread "
              f"(target at most {TARGET_RATIO:.0f}x sha256sum): "
              + ("OK" if result["ok"] else "MISSED"))
    return 0 if result["ok"] else 1


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
