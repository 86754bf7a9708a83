#!/usr/bin/env python3
"""Benchmark: `farm archive` versus GNU `tar czf` of the same folders.

Generates a harvested release of N small PNG frames (default 100,000) on a fresh farm volume:
``releases/<release>/`` (record, packed blends) and ``dist/<release>/`` (frames and their
manifest). Then, each in its own child process, GNU ``tar czf`` archives the two folders, and
``farm archive`` writes its archive, reads it back and checks every member against the
files and the manifest before renaming it into place. Wall time and peak memory of each are
reported with the ratio and the target (farm no slower than tar).

    python scripts/bench_archive.py --frames 20000
    python scripts/bench_archive.py --json --repeat 3 > archive.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_harvest import RELEASE, make_release, run_child

TARGET_RATIO = 1.0


def child_archive(volume_root: str) -> int:
    """In the child: archive and print seconds and memory as JSON."""
    from farm_addon.core.archive.run import archive_release
    from farm_addon.core.fs.volume import Volume

    volume = Volume.open(volume_root)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = archive_release(volume, RELEASE, force=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "checked": result.checked, "members": result.members,
                      "manifest_files": result.manifest_files, "bytes_out": result.bytes_out,
                      "rss_base_kib": base, "rss_peak_kib": peak}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--jobs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3,
                   help="run each side this many times, alternating; report the medians")
    p.add_argument("--dir", type=Path, default=None, help="where to generate (default: tmp)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--child", metavar="VOLUME", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_archive(args.child)
    if not shutil.which("tar"):
        raise SystemExit("GNU tar is needed for the baseline.")

    work = Path(tempfile.mkdtemp(prefix="farm-bench-archive-", dir=args.dir))
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    try:
        say(f"Generating a harvested release of {args.frames:,} frames in {work} ...")
        t = time.perf_counter()
        volume = make_release(work, args.frames, args.jobs, dist=True)
        os.sync()
        say(f"  generated in {time.perf_counter() - t:.1f} s")
        tar_out = work / "baseline.tar.gz"
        tar_cmd = ["tar", "czf", str(tar_out), "-C", str(volume.root),
                   f"releases/{RELEASE}", f"dist/{RELEASE}"]
        tar_s: list[float] = []
        tar_rss: list[int] = []
        ours_s: list[float] = []
        ours_rss: list[int] = []
        child: dict[str, Any] = {}
        for r in range(max(1, args.repeat)):
            say(f"round {r + 1}: tar czf ...")
            os.sync()  # each side starts without the other's writes still being flushed
            s, rss, _ = run_child(tar_cmd)
            tar_s.append(s)
            tar_rss.append(rss)
            say(f"round {r + 1}: farm archive ...")
            os.sync()
            s, rss, out = run_child([sys.executable, __file__, "--child", str(volume.root)])
            child = json.loads(out)
            assert child["checked"], child
            ours_s.append(s)
            ours_rss.append(rss)
        tar_med, ours_med = statistics.median(tar_s), statistics.median(ours_s)
        ratio = ours_med / tar_med
        result = {
            "bench": "archive",
            "frames": args.frames,
            "members": child["members"],
            "baseline": "tar czf (gzip -6) of releases/<release> and dist/<release>",
            "baseline_seconds": round(tar_med, 3),
            "baseline_seconds_all": [round(x, 3) for x in tar_s],
            "baseline_peak_rss_kib": max(tar_rss),
            "baseline_bytes": tar_out.stat().st_size,
            "farm_seconds": round(ours_med, 3),
            "farm_seconds_all": [round(x, 3) for x in ours_s],
            "farm_seconds_in_process": round(float(child["seconds"]), 3),
            "farm_peak_rss_kib": max(ours_rss),
            "farm_rss_growth_kib": int(child["rss_peak_kib"]) - int(child["rss_base_kib"]),
            "farm_bytes": child["bytes_out"],
            "farm_checked_manifest_files": child["manifest_files"],
            "ratio": round(ratio, 3),
            "target_ratio_max": TARGET_RATIO,
            "ok": ratio <= TARGET_RATIO,
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"archive of {args.frames:,} frames ({result['members']:,} members); farm's "
                  "time includes reading the archive back and checking it")
            print(f"  tar czf       {tar_med:8.2f} s   peak RSS {max(tar_rss) / 1024:8.1f} MiB   "
                  f"{result['baseline_bytes'] / 1e6:8.1f} MB")
            print(f"  farm archive  {ours_med:8.2f} s   peak RSS {max(ours_rss) / 1024:8.1f} MiB   "
                  f"{int(child['bytes_out']) / 1e6:8.1f} MB "
                  f"(+{result['farm_rss_growth_kib'] / 1024:.1f} MiB over the interpreter)")
            print(f"  ratio {ratio:.2f}x (target at most {TARGET_RATIO:.0f}x, no slower than tar): "
                  + ("OK" if result["ok"] else "MISSED"))
        return 0 if result["ok"] else 1
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
