#!/usr/bin/env python3
"""Benchmark: `farm harvest` of frames of a real size, against a careful person's script.

Run as ``python scripts/bench_harvest.py --real-size`` (its options apply): ``--frames``
(default 300) 1920x1080 RGB PNG frames of random pixels (stored without compression, so each
is 6.2 MB, as noise does not compress) over ``--jobs`` (default 3) jobs, submitted to the
Flamenco Manager emulator (3.8.5 API, in this process) and completed by its worker. The
baselines are what a careful person scripts: ``find SRC -name '*.png' -exec sha256sum {} + >
manifest`` then ``find SRC -name '*.png' -exec mv -t DEST {} +`` per job; the same with
``xargs -0 -P2 sha256sum`` (both cores); and with ``openssl dgst -sha256 -r`` (OpenSSL's
SHA-256, the one Python's hashlib uses: GNU sha256sum's own can be several times slower, so
farm does not win by the hasher). All on the same file system, the files in the page cache for
every run (written just before; the machine's memory holds them), median of ``--rounds``;
seconds, the ratios and bytes per second.

Farm runs twice a round, in turn first: with its pool of threads reading large frames, and with
none (``--threads 0``), so the pool's gain is measured in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_harvest import (
    RELEASE,
    TARGET_RATIO,
    _chunk,
    _cpus,
    job_names,
    move_back,
    run_child,
    split_frames,
    unharvest,
)

SCRIPT = Path(__file__).resolve().with_name("bench_harvest.py")


def big_png(width: int = 1920, height: int = 1080) -> bytes:
    """A valid RGB PNG of random pixels, stored (zlib level 0): 6.2 MB at 1920x1080."""
    rows = os.urandom(height * (width * 3 + 1))
    line = width * 3 + 1
    rows = b"".join(b"\x00" + rows[i * line + 1:(i + 1) * line] for i in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 0)) + _chunk(b"IEND", b""))


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
                seconds, _rss, out = run_child([sys.executable, str(SCRIPT), "--child",
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
