#!/usr/bin/env python3
"""Benchmark: `farm archive` versus GNU tar (``tar czf`` and ``tar cf - | pigz``) and tarfile.

Generates a harvested release of N small PNG frames (default 100,000) on a fresh farm volume:
``releases/<release>/`` (record, packed blends) and ``dist/<release>/`` (frames and their
manifest). Then, each in its own child process, round after round (the medians are
reported, with each variant's archive size):

- ``farm archive``: writes its archive, reads it back and checks every member against the
  files and the manifest before renaming it into place (its write and check phases are
  timed apart in the child);
- the same writing done by :mod:`tarfile` over ``gzip.GzipFile`` at farm's level (farm's
  listing, every file read once and hashed; no check): what decides whether farm's
  hand-written block-parallel gzip writer earns its lines, against farm's write phase;
- ``tar cf - | pigz -<level>`` at farm's level (when pigz is installed);
- GNU ``tar czf`` (gzip -6).

The target: farm, check included, no slower than ``tar czf``.

    python scripts/bench_archive.py --frames 20000
    python scripts/bench_archive.py --json --repeat 3 > archive.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
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
TARFILE = "tarfile writer (write only)"


def child_archive(volume_root: str) -> int:
    """In the child: archive and print seconds (in all and by phase) and memory as JSON."""
    from farm_addon.core.archive.run import archive_release
    from farm_addon.core.fs.volume import Volume
    from farm_addon.core.progress import Progress

    class Phases(Progress):
        def __init__(self) -> None:
            super().__init__()
            self.starts: list[float] = []

        def start(self, total: int, label: str = "") -> None:
            self.starts.append(time.perf_counter())
            super().start(total, label)

    volume = Volume.open(volume_root)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    phases = Phases()
    start = time.perf_counter()
    result = archive_release(volume, RELEASE, force=True, progress=phases)
    end = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    write_s = phases.starts[1] - phases.starts[0] if len(phases.starts) >= 2 else 0.0
    check_s = end - phases.starts[1] if len(phases.starts) >= 2 else 0.0
    print(json.dumps({"seconds": end - start, "write_seconds": write_s,
                      "check_seconds": check_s, "checked": result.checked,
                      "members": result.members, "manifest_files": result.manifest_files,
                      "bytes_out": result.bytes_out, "rss_base_kib": base,
                      "rss_peak_kib": peak}))
    return 0


def child_tarfile(volume_root: str, out: str, level: int) -> int:
    """In the child: farm's writing done with :mod:`tarfile` over :class:`gzip.GzipFile`
    instead: the same members (farm's own listing), each file read once and hashed, at farm's
    level. Writing only, no check: compare it with farm's write phase."""
    import gzip
    import hashlib
    import io
    import tarfile

    from farm_addon.core.archive.collect import collect
    from farm_addon.core.archive.write import _owner
    from farm_addon.core.fs.volume import Volume

    volume = Volume.open(volume_root)
    entries = collect(volume, RELEASE, [])  # farm's write phase starts after its listing too
    start = time.perf_counter()
    digests: dict[str, bytes] = {}
    with open(out, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level) as gz, \
            tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.mtime = e.kind, e.st.st_mtime_ns // 1_000_000_000
            info.mode = 0o777 if e.kind == tarfile.SYMTYPE else e.st.st_mode & 0o7777
            info.uid, info.gid = e.st.st_uid, e.st.st_gid
            info.uname, info.gname = _owner("u", e.st.st_uid), _owner("g", e.st.st_gid)
            info.linkname = e.linkname
            if e.kind == tarfile.REGTYPE:
                with open(e.path, "rb") as src:
                    data = src.read()  # the frames are small; farm streams big files
                digests[e.name] = hashlib.sha256(data).digest()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    print(json.dumps({"seconds": time.perf_counter() - start, "members": len(digests)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--jobs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3,
                   help="run each variant this many times, alternating; report the medians")
    p.add_argument("--dir", type=Path, default=None, help="where to generate (default: tmp)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--child", metavar="VOLUME", help=argparse.SUPPRESS)
    p.add_argument("--tarfile-out", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from farm_addon.core.archive.run import DEFAULT_LEVEL

    if args.child and args.tarfile_out:
        return child_tarfile(args.child, args.tarfile_out, DEFAULT_LEVEL)
    if args.child:
        return child_archive(args.child)
    if not shutil.which("tar"):
        raise SystemExit("GNU tar is needed for the baseline.")
    pigz = shutil.which("pigz")

    work = Path(tempfile.mkdtemp(prefix="farm-bench-archive-", dir=args.dir))
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    try:
        say(f"Generating a harvested release of {args.frames:,} frames in {work} ...")
        t = time.perf_counter()
        volume = make_release(work, args.frames, args.jobs, dist=True)
        os.sync()
        say(f"  generated in {time.perf_counter() - t:.1f} s")
        root = str(volume.root)
        folders = [f"releases/{RELEASE}", f"dist/{RELEASE}"]
        me = [sys.executable, __file__, "--child", root]
        variants: dict[str, tuple[list[str], Path | None]] = {
            "farm archive": (me, None),
        }
        tf_out = work / "tarfile.tar.gz"
        variants[TARFILE] = ([*me, "--tarfile-out", str(tf_out)], tf_out)
        if pigz:
            pz_out = work / "pigz.tar.gz"
            pipe = (f"tar cf - -C {shlex.quote(root)} {' '.join(folders)} | "
                    f"{shlex.quote(pigz)} -{DEFAULT_LEVEL} > {shlex.quote(str(pz_out))}")
            variants[f"tar cf - | pigz -{DEFAULT_LEVEL}"] = (["sh", "-c", pipe], pz_out)
        tar_out = work / "baseline.tar.gz"
        variants["tar czf"] = (["tar", "czf", str(tar_out), "-C", root, *folders], tar_out)

        seconds: dict[str, list[float]] = {k: [] for k in variants}
        rss: dict[str, list[int]] = {k: [] for k in variants}
        inner: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
        for r in range(max(1, args.repeat)):
            for name, (cmd, _) in variants.items():
                say(f"round {r + 1}: {name} ...")
                os.sync()  # each starts without the others' writes still being flushed
                s, peak, out = run_child(cmd)
                seconds[name].append(s)
                rss[name].append(peak)
                if name == "farm archive":
                    child = json.loads(out)
                    assert child["checked"], child
                    inner[name].append(child)
                elif name == TARFILE:
                    inner[name].append(json.loads(out))

        rows: dict[str, dict[str, Any]] = {}
        for name, (_, out_path) in variants.items():
            row: dict[str, Any] = {
                "seconds": round(statistics.median(seconds[name]), 3),
                "seconds_all": [round(x, 3) for x in seconds[name]],
                "peak_rss_kib": max(rss[name]),
            }
            if name == TARFILE:
                row["bytes"] = tf_out.stat().st_size
                row["in_process_write_seconds"] = round(
                    statistics.median(float(c["seconds"]) for c in inner[name]), 3)
            elif inner[name]:
                last = inner[name][-1]
                row["bytes"] = int(last["bytes_out"])
                for key in ("seconds", "write_seconds", "check_seconds"):
                    row[f"in_process_{key}"] = round(
                        statistics.median(float(c[key]) for c in inner[name]), 3)
                row["rss_growth_kib"] = int(last["rss_peak_kib"]) - int(last["rss_base_kib"])
                row["members"] = int(last["members"])
                row["checked_manifest_files"] = int(last["manifest_files"])
            elif out_path is not None:
                row["bytes"] = out_path.stat().st_size
            rows[name] = row
        farm, tar = rows["farm archive"], rows["tar czf"]
        ratio = farm["seconds"] / tar["seconds"]
        writer_gain = (rows[TARFILE]["in_process_write_seconds"]
                       / max(farm["in_process_write_seconds"], 1e-9))
        result = {
            "bench": "archive",
            "frames": args.frames,
            "members": farm["members"],
            "level": DEFAULT_LEVEL,
            "pigz": pigz or "not installed",
            "variants": rows,
            "ratio_farm_to_tar_czf": round(ratio, 3),
            "farm_writer_speedup_over_tarfile": round(writer_gain, 3),
            "target_ratio_max": TARGET_RATIO,
            "ok": ratio <= TARGET_RATIO,
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"archive of {args.frames:,} frames ({farm['members']:,} members), gzip level "
                  f"{DEFAULT_LEVEL} unless said; medians of {max(1, args.repeat)}; farm's time "
                  "includes reading the archive back and checking it")
            for name, row in rows.items():
                extra = ""
                if "in_process_check_seconds" in row:
                    extra = (f"   (in the process: write {row['in_process_write_seconds']:.2f} s,"
                             f" check {row['in_process_check_seconds']:.2f} s)")
                elif "in_process_write_seconds" in row:
                    extra = f"   (in the process: write {row['in_process_write_seconds']:.2f} s)"
                print(f"  {name:30s} {row['seconds']:8.2f} s   peak RSS "
                      f"{row['peak_rss_kib'] / 1024:7.1f} MiB   {row['bytes']:>12,} bytes{extra}")
            if not pigz:
                print("  tar cf - | pigz: not measured, pigz is not installed "
                      "(apt-get install -y pigz)")
            print(f"  farm's writer against tarfile's, write phase: {writer_gain:.2f}x as fast")
            print(f"  ratio farm / tar czf {ratio:.2f}x (target at most {TARGET_RATIO:.0f}x): "
                  + ("OK" if result["ok"] else "MISSED"))
        return 0 if result["ok"] else 1
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
