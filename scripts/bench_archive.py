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

``--shared 100,1000`` measures instead releases of N jobs sharing D bytes of dependencies
(``--deps-mb``, incompressible, in 4 maps) through hard links of one pool file each, every
job with its own small .blend (``--blend-kb``, incompressible): the archives' bytes beside
N x D (a copy per job) and the floor D + N x blend, farm's time against
``tar cf - | pigz -1`` and ``tar czf`` on the same release (GNU tar stores hard links once
too; the link members of each archive are counted and printed).

    python scripts/bench_archive.py --frames 20000
    python scripts/bench_archive.py --json --repeat 3 > archive.json
    python scripts/bench_archive.py --shared 100,1000
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


MAPS = 4


def make_shared_release(root: Path, jobs: int, deps: int, blend: int) -> Any:
    """A farm volume whose release has ``jobs`` jobs, each with its own .blend of ``blend``
    bytes and, in its .deps/, hard links of the same MAPS pool files (``deps`` bytes)."""
    import hashlib

    from farm_addon.core.fs.volume import Volume
    from farm_addon.core.release.record import RecordStore

    volume = Volume.init(root / "volume")
    with RecordStore(volume).transaction(RELEASE, create=True):
        pass
    pooled = []
    for _ in range(MAPS):
        data = os.urandom(deps // MAPS)
        sha = hashlib.sha256(data).hexdigest()
        path = volume.root / "pool" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        pooled.append(path)
    store = volume.store_dir(RELEASE)
    for i in range(jobs):
        (store / f"job{i:05d}.blend").parent.mkdir(parents=True, exist_ok=True)
        (store / f"job{i:05d}.blend").write_bytes(b"BLENDER-v300" + os.urandom(blend - 12))
        maps = store / f"job{i:05d}.deps" / "maps"
        maps.mkdir(parents=True)
        for k, path in enumerate(pooled):
            os.link(path, maps / f"map{k}.exr")  # not a compressed format: farm deflates it
    return volume


def _link_members(path: Path) -> int:
    import tarfile

    with tarfile.open(path, "r:gz") as tf:
        return sum(1 for m in tf if m.islnk())


def bench_shared(args: argparse.Namespace, pigz: str | None) -> dict[str, Any]:
    """The --shared cases: one release per N, each variant ``args.repeat`` times."""
    from farm_addon.core.archive.run import DEFAULT_LEVEL

    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    deps, blend = int(args.deps_mb * (1 << 20)), int(args.blend_kb * 1024)
    cases = []
    for jobs in (int(n) for n in args.shared.split(",")):
        work = Path(tempfile.mkdtemp(prefix="farm-bench-archive-", dir=args.dir))
        try:
            say(f"Generating {jobs:,} jobs sharing {deps:,} bytes in {work} ...")
            volume = make_shared_release(work, jobs, deps, blend)
            os.sync()
            root = str(volume.root)
            folder = f"releases/{RELEASE}"
            variants: dict[str, tuple[list[str], Path | None]] = {
                "farm archive": ([sys.executable, __file__, "--child", root],
                                 volume.archive_path(RELEASE))}
            if pigz:
                pz = work / "pigz.tar.gz"
                pipe = (f"tar cf - -C {shlex.quote(root)} {folder} | {shlex.quote(pigz)} "
                        f"-{DEFAULT_LEVEL} > {shlex.quote(str(pz))}")
                variants[f"tar cf - | pigz -{DEFAULT_LEVEL}"] = (["sh", "-c", pipe], pz)
            tz = work / "baseline.tar.gz"
            variants["tar czf"] = (["tar", "czf", str(tz), "-C", root, folder], tz)
            seconds: dict[str, list[float]] = {k: [] for k in variants}
            for r in range(max(1, args.repeat)):
                for name, (cmd, _) in variants.items():
                    say(f"  N={jobs} round {r + 1}: {name} ...")
                    os.sync()
                    s, _, out = run_child(cmd)
                    seconds[name].append(s)
                    if name == "farm archive":
                        assert json.loads(out)["checked"]
            rows = {}
            for name, (_, out_path) in variants.items():
                assert out_path is not None
                rows[name] = {"seconds": round(statistics.median(seconds[name]), 3),
                              "seconds_all": [round(x, 3) for x in seconds[name]],
                              "bytes": out_path.stat().st_size,
                              "link_members": _link_members(out_path)}
            cases.append({"jobs": jobs, "deps_bytes": deps, "blend_bytes": blend,
                          "n_times_d": jobs * deps, "floor": deps + jobs * blend,
                          "variants": rows})
        finally:
            if args.keep:
                say(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    return {"bench": "archive-shared", "level": DEFAULT_LEVEL, "maps": MAPS,
            "repeat": max(1, args.repeat), "pigz": pigz or "not installed", "cases": cases}


def print_shared(result: dict[str, Any]) -> None:
    print(f"archive of N jobs sharing D bytes of dependencies ({result['maps']} maps, hard "
          f"links of the volume's pool), gzip level {result['level']} unless said; medians "
          f"of {result['repeat']}; farm's time includes reading the archive back and "
          "checking it. GNU tar stores hard links once too (its link members are counted).")
    for case in result["cases"]:
        print(f"  N={case['jobs']:,}  D={case['deps_bytes']:,}  blend={case['blend_bytes']:,}"
              f"   N x D = {case['n_times_d']:,} bytes   floor D + N x blend = "
              f"{case['floor']:,} bytes")
        for name, row in case["variants"].items():
            print(f"    {name:24s} {row['seconds']:7.2f} s   {row['bytes']:>14,} bytes "
                  f"({row['bytes'] / case['floor']:.3f}x the floor, "
                  f"{row['bytes'] / case['n_times_d']:.4f}x N x D)   "
                  f"{row['link_members']:,} link members")
    if result["pigz"] == "not installed":
        print("  tar cf - | pigz: not measured, pigz is not installed (apt-get install -y pigz)")


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
    p.add_argument("--shared", metavar="N,N", default="",
                   help="measure releases of N jobs sharing dependencies instead (100,1000)")
    p.add_argument("--deps-mb", type=float, default=4.0,
                   help="--shared: D, the shared dependencies' size in MiB")
    p.add_argument("--blend-kb", type=float, default=32.0,
                   help="--shared: each job's own .blend, in KiB")
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
    if args.shared:
        shared = bench_shared(args, pigz)
        if args.json:
            print(json.dumps(shared, indent=2))
        else:
            print_shared(shared)
        return 0

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
